"""The lead workflow's tools: deterministic and offline, so runs replay and tests repeat.

`lookup_company` is registered in two versions at once: 1.2.0 for the lead agent, 2.0.0 (a changed
contract) for the research agent. `enqueue_for_approval` has a side effect, recorded once per call id
even when a call is delivered twice.
"""

import hashlib
import json

from examples.leads.models import (
    ApprovalRequest,
    ApprovalTicket,
    CompanyProfile,
    CompanyProfileV2,
    CompanyQuery,
    CompanyQueryV2,
    DraftRequest,
    EmailDraft,
    LeadFacts,
    LeadScore,
)
from services.toolworker.registry import ToolContext, tool

INDUSTRIES = ("software", "logistics", "healthcare", "retail", "manufacturing", "finance")


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


@tool("lookup_company", "1.2.0")
async def lookup_company(query: CompanyQuery, ctx: ToolContext) -> CompanyProfile:
    """Firmographics of a company by its web domain."""
    domain = query.domain.strip().lower() or "unknown.example"
    seed = _digest(domain)
    name = domain.split(".")[0].replace("-", " ").title()
    return CompanyProfile(
        name=name, domain=domain, industry=INDUSTRIES[seed % len(INDUSTRIES)], employees=10 + seed % 5000
    )


@tool("lookup_company", "2.0.0")
async def lookup_company_v2(query: CompanyQueryV2, ctx: ToolContext) -> CompanyProfileV2:
    """Firmographics of a company by its web domain, with funding when asked."""
    v1 = await lookup_company.fn(CompanyQuery(domain=query.domain), ctx)
    funding = (_digest("funding:" + v1.domain) % 200) * 1_000_000 if query.include_funding else None
    return CompanyProfileV2(
        name=v1.name, domain=v1.domain, industry=v1.industry, headcount=v1.employees, funding_usd=funding
    )


@tool("score_lead", "1.0.0")
async def score_lead(facts: LeadFacts, ctx: ToolContext) -> LeadScore:
    """Scores a lead from its firmographics: bigger companies in software and finance score higher."""
    score = min(100, max(0, facts.employees // 50 + (30 if facts.industry in ("software", "finance") else 10)))
    return LeadScore(score=score, tier="hot" if score >= 70 else "warm" if score >= 40 else "cold")


@tool("draft_email", "1.0.0")
async def draft_email(request: DraftRequest, ctx: ToolContext) -> EmailDraft:
    """Drafts a first reply to a lead, in the tone its tier calls for."""
    opener = {"hot": "Thanks for reaching out - let's talk this week.", "warm": "Thanks for your interest."}
    body = f"Hi {request.lead_name},\n\n{opener.get(request.tier, 'Thanks for getting in touch.')}\n\n- The team"
    return EmailDraft(subject=f"{request.company} x agentmesh", body=body)


@tool("enqueue_for_approval", "1.0.0")
async def enqueue_for_approval(request: ApprovalRequest, ctx: ToolContext) -> ApprovalTicket:
    """Puts a drafted email in the human approval queue (once per call, however often it is delivered)."""
    queue = f"{ctx.redis_prefix}leads:approvals"
    approval_id = f"apr-{_digest(ctx.call_id):016x}"
    await ctx.redis.hsetnx(queue, ctx.call_id, json.dumps({"approval_id": approval_id, **request.model_dump()}))
    return ApprovalTicket(approval_id=approval_id, queue="leads:approvals")


TOOLS = [lookup_company, lookup_company_v2, score_lead, draft_email, enqueue_for_approval]
