"""The agents module of the run log tests' mesh (AGENTMESH_AGENTS_MODULE=mesh_agents): the lead workflow's
agents and tools, plus `brief_agent`, which has no tools, so its schema failures and repairs are measured
apart from tool rounds."""

from examples.leads import AGENTS as LEAD_AGENTS
from examples.leads import TOOLS
from examples.leads.models import CompanyBrief
from services.scheduler.agent import Agent

brief_agent = Agent(
    name="brief_agent",
    instructions="Write a short brief on the company the user names, for an account executive.",
    output=CompanyBrief,
    task_class="fast_cheap",
    max_output_tokens=300,
)

AGENTS = [*LEAD_AGENTS, brief_agent]
__all__ = ["AGENTS", "TOOLS"]
