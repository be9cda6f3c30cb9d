"""OpenAI through the official SDK: chat completions, json_schema response_format for structured output.

strict: true unless the schema has a free-form object, which strict mode cannot carry (schema.is_strict);
Pydantic validation and repair in the router stand behind the non-strict case.
"""

from typing import Any

from openai import AsyncOpenAI, DefaultAsyncHttpxClient

from agentmesh.v1 import common_pb2
from services.router.provider import Exchange, ModelReply, ModelRequest, Provider, ProviderError
from services.router.providers import base
from services.router.schema import is_strict


def _message(m: common_pb2.Message) -> dict[str, Any]:
    calls = [
        {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
        for c in m.tool_calls
    ]
    return base.given(role=m.role, content=m.content, tool_calls=calls, tool_call_id=m.tool_call_id)


class OpenAIProvider(Provider):
    name = "openai"

    def connect(self, api_key: str, sim_addr: str | None) -> Any:
        http_client = DefaultAsyncHttpxClient(event_hooks=base.WIRE_HOOKS)
        base_url = f"http://{sim_addr}/v1" if sim_addr else None
        return AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, http_client=http_client)

    async def call(self, request: ModelRequest, schema: dict[str, Any] | None, exchange: Exchange) -> ModelReply:
        strict = request.output_schema is not None and is_strict(self.name, request.output_schema)
        json_schema = {"name": request.output_name, "schema": schema, "strict": strict}
        tools = [{"type": "function", "function": base.declaration(t, "parameters")} for t in request.tools]
        completion = await self.client.chat.completions.create(
            model=request.model,
            messages=[_message(m) for m in request.messages],
            max_completion_tokens=request.max_output_tokens,
            timeout=request.timeout_s,
            **base.given(
                tools=tools,
                tool_choice=tools and request.tool_choice,
                response_format=schema and {"type": "json_schema", "json_schema": json_schema},
                temperature=request.temperature,
                seed=request.seed,
            ),
        )
        choice, usage = completion.choices[0], completion.usage
        if choice.message.refusal:
            raise ProviderError("refused", choice.message.refusal)
        calls = [base.tool_call(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []]
        cached = (usage and usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens) or 0
        tokens = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
        return base.reply(choice.message.content or "", calls, choice.finish_reason, *tokens, cached)
