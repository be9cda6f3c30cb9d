"""The lead workflow's contracts: tool inputs and outputs, and the agents' structured outputs."""

from pydantic import BaseModel, Field


class CompanyQuery(BaseModel):
    domain: str = Field(description="the lead's company web domain, e.g. acme.com")


class CompanyProfile(BaseModel):
    name: str
    domain: str
    industry: str
    employees: int


class CompanyQueryV2(BaseModel):
    domain: str = Field(description="the lead's company web domain, e.g. acme.com")
    include_funding: bool = Field(description="also report the total funding raised")


class CompanyProfileV2(BaseModel):
    """Version 2 renames employees to headcount and adds funding: a changed contract."""

    name: str
    domain: str
    industry: str
    headcount: int
    funding_usd: int | None


class LeadFacts(BaseModel):
    email: str = Field(description="the lead's email address")
    employees: int = Field(description="the company's head count")
    industry: str


class LeadScore(BaseModel):
    score: int = Field(description="0 (cold) to 100 (hot)")
    tier: str = Field(description="hot | warm | cold")


class DraftRequest(BaseModel):
    lead_name: str
    company: str
    tier: str


class EmailDraft(BaseModel):
    subject: str
    body: str


class ApprovalRequest(BaseModel):
    lead_email: str
    subject: str
    body: str


class ApprovalTicket(BaseModel):
    approval_id: str
    queue: str


class LeadReply(BaseModel):
    """What the lead agent hands to a human: the score, the draft, and where it waits for approval."""

    company: str
    score: int
    tier: str
    email_subject: str
    email_body: str
    approval_id: str


class CompanyBrief(BaseModel):
    company: str
    industry: str
    headcount: int
    summary: str
