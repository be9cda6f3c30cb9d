"""Anthropic through the official SDK: the Messages API, native output_config json_schema for structured output.

Native structured output rather than a forced tool: the answer arrives as an ordinary text block, and a
forced output tool would stop the model from calling the agent's real tools in the same request.
The Messages API of this SDK takes neither temperature nor seed, so neither is sent. Cache reads and writes count as
input tokens too, so that input_tokens means all input, as with the other vendors.
"""

import json
from typing import Any

from anthropic import AsyncAnthropic, DefaultAsyncHttpxClient

from agentmesh.v1 import common_pb2
from services.router.provider import ModelReply, ModelRequest, ProviderError
from services.router.providers import base


def _turns(messages: list[common_pb2.Message]) -> list[dict[str, Any]]:
    """The conversation without system text; the results of one batch of tool calls form one user turn."""
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            result = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
            if turns and turns[-1]["content"][-1:] and turns[-1]["content"][-1].get("type") == "tool_result":
                turns[-1]["content"].append(result)
            else:
                turns.append({"role": "user", "content": [result]})
        elif m.role != "system":
            blocks = [{"type": "text", "text": m.content}] if m.content else []
            blocks += [
                {"type": "tool_use", "id": c.call_id, "name": c.name, "input": json.loads(c.arguments_json or "{}")}
                for c in m.tool_calls
            ]
            turns.append({"role": m.role, "content": blocks})
    return turns


class AnthropicProvider(base.WireProvider):
    name = "anthropic"

    def __init__(self, api_key: str, sim_addr: str | None = None) -> None:
        super().__init__(simulated=sim_addr is not None)
        http_client = DefaultAsyncHttpxClient(event_hooks=base.WIRE_HOOKS)
        base_url = f"http://{sim_addr}" if sim_addr else None
        self.client = AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0, http_client=http_client)

    async def call(self, request: ModelRequest, schema: dict[str, Any] | None, exchange: base.Exchange) -> ModelReply:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        message = await self.client.messages.create(
            model=request.model,
            messages=_turns(request.messages),
            max_tokens=request.max_output_tokens,
            timeout=request.timeout_s,
            **base.given(
                system=system or None,
                tools=[base.declaration(t, "input_schema") for t in request.tools] or None,
                output_config=schema and {"format": {"type": "json_schema", "schema": schema}},
            ),
        )
        text = "".join(block.text for block in message.content if block.type == "text")
        if message.stop_reason == "refusal":
            raise ProviderError("refused", text or "stop_reason: refusal")
        calls = [base.tool_call(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
        usage = message.usage
        cached, written = usage.cache_read_input_tokens or 0, usage.cache_creation_input_tokens or 0
        tokens_in = usage.input_tokens + cached + written
        return base.reply(text, calls, message.stop_reason or "", tokens_in, usage.output_tokens, cached)
