"""The seed workflow as agents and tools: the default `AGENTMESH_AGENTS_MODULE`."""

from examples.leads.agents import AGENTS
from examples.leads.tools import TOOLS

__all__ = ["AGENTS", "TOOLS"]
