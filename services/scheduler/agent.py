"""An agent, declared in Python: instructions, pinned tool versions, an output model, routing and limits."""

import hashlib
import importlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from services.common.errors import StartupError


@dataclass(frozen=True)
class Agent:
    name: str
    instructions: str
    output: type[BaseModel]  # the turn ends with a validated instance of it
    tools: tuple[str, ...] = ()  # "name@version": the agent pins the contracts it was written against
    task_class: str = ""  # the router's policy key
    max_tool_rounds: int = 3
    max_output_tokens: int = 1024
    temperature: float = 0.0
    seed: int | None = 0

    @property
    def parameters(self) -> dict[str, Any]:
        """What the agent pins in each of its model requests."""
        output_type = f"{self.output.__module__}:{self.output.__qualname__}"
        pinned = {"task_class": self.task_class, "output_type": output_type, "temperature": self.temperature}
        return pinned | {"seed": self.seed, "max_output_tokens": self.max_output_tokens}

    def definition_hash(self) -> str:
        """Changes whenever anything that shapes the agent's requests changes."""
        fields = {**self.__dict__, **self.parameters, "output": self.output.model_json_schema()}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def load_agents(module: str) -> dict[str, Agent]:
    """The agents a module declares in its AGENTS list, by name."""
    try:
        return {agent.name: agent for agent in importlib.import_module(module).AGENTS}
    except (ImportError, AttributeError) as exc:
        raise StartupError("AGENTMESH_AGENTS_MODULE", f"no AGENTS in {module}: {exc}") from None
