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
from services.router.provider import Exchange, ModelReply, ModelRequest, Provider, ProviderError
from services.router.providers import base


def _turn(m: common_pb2.Message) -> dict[str, Any]:
    """One message as one turn; the API itself merges the consecutive user turns of a batch of tool results."""
    if m.role == "tool":
        result = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
        return {"role": "user", "content": [result]}
    blocks = [{"type": "text", "text": m.content}] if m.content else []
    uses = [
        {"type": "tool_use", "id": c.call_id, "name": c.name, "input": json.loads(c.arguments_json)}
        for c in m.tool_calls
    ]
    return {"role": m.role, "content": blocks + uses}


class AnthropicProvider(Provider):
    name = "anthropic"

    def connect(self, api_key: str, sim_addr: str | None) -> Any:
        http_client = DefaultAsyncHttpxClient(event_hooks=base.WIRE_HOOKS)
        base_url = f"http://{sim_addr}" if sim_addr else None
        return AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0, http_client=http_client)

    async def call(self, request: ModelRequest, schema: dict[str, Any] | None, exchange: Exchange) -> ModelReply:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        message = await self.client.messages.create(
            model=request.model,
            messages=[_turn(m) for m in request.messages if m.role != "system"],
            max_tokens=request.max_output_tokens,
            timeout=request.timeout_s,
            **base.given(
                system=system,
                tools=[base.declaration(t, "input_schema") for t in request.tools],
                tool_choice=request.tools and {"type": request.tool_choice},
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
