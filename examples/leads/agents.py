"""The lead workflow's agents: new lead -> enrich -> score -> draft reply -> approval queue."""

from examples.leads.models import CompanyBrief, LeadReply
from services.scheduler.agent import Agent

lead_agent = Agent(
    name="lead_agent",
    instructions=(
        "You handle a new inbound sales lead. Look up the lead's company, score the lead, draft a short reply, "
        "and put the draft in the approval queue. Then answer with the score, the draft and the approval id."
    ),
    tools=("lookup_company@1.2.0", "score_lead@1.0.0", "draft_email@1.0.0", "enqueue_for_approval@1.0.0"),
    output=LeadReply,
    task_class="tool_heavy",
    max_tool_rounds=4,
    max_output_tokens=800,
    temperature=0.0,
    seed=7,
)

research_agent = Agent(
    name="research_agent",
    instructions="Write a short brief on the lead's company for the account executive.",
    tools=("lookup_company@2.0.0",),
    output=CompanyBrief,
    task_class="fast_cheap",
    max_tool_rounds=2,
    max_output_tokens=400,
)

AGENTS = [lead_agent, research_agent]
