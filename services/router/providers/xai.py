"""xAI Grok through the official xai-sdk (gRPC xai_api.Chat), response_format with a JSON schema.

The wire bodies are the GetCompletionsRequest and GetChatCompletionResponse protos as proto JSON; a failed
call's "response body" is its gRPC status. The SDK takes one timeout per client, so the per-attempt
timeout is an asyncio deadline around the call (DEADLINE_EXCEEDED from the server maps to timeout too).
"""

import asyncio
import json
from typing import Any

import grpc.aio
from google.protobuf import json_format
from xai_sdk import AsyncClient
from xai_sdk.chat import tool
from xai_sdk.proto import chat_pb2

from agentmesh.v1 import common_pb2
from services.router.provider import Exchange, ModelReply, ModelRequest, Provider
from services.router.providers import base

KINDS = {"RESOURCE_EXHAUSTED": "rate_limited", "DEADLINE_EXCEEDED": "timeout", "UNAUTHENTICATED": "auth"}
KINDS |= {"PERMISSION_DENIED": "auth"} | dict.fromkeys(("UNAVAILABLE", "INTERNAL", "UNKNOWN"), "unavailable")


def _message(m: common_pb2.Message) -> chat_pb2.Message:
    calls = [{"id": c.call_id, "function": {"name": c.name, "arguments": c.arguments_json}} for c in m.tool_calls]
    role, content = chat_pb2.MessageRole.Value(f"ROLE_{m.role.upper()}"), [{"text": m.content}] if m.content else []
    return chat_pb2.Message(**base.given(role=role, content=content, tool_calls=calls, tool_call_id=m.tool_call_id))


class XAIProvider(Provider):
    name = "xai"

    def connect(self, api_key: str, sim_addr: str | None) -> Any:
        channel = {"channel_options": [("grpc.enable_retries", 0)], "use_insecure_channel": sim_addr is not None}
        return AsyncClient(api_key=api_key, api_host=sim_addr or "api.x.ai", **channel)

    async def call(self, request: ModelRequest, schema: dict[str, Any] | None, exchange: Exchange) -> ModelReply:
        json_schema = schema and {"format_type": "FORMAT_TYPE_JSON_SCHEMA", "schema": json.dumps(schema)}
        chat = self.client.chat.create(
            model=request.model,
            messages=[_message(m) for m in request.messages],
            tools=[tool(**base.declaration(t, "parameters")) for t in request.tools],
            tool_choice=request.tool_choice if request.tools else None,
            response_format=chat_pb2.ResponseFormat(**json_schema) if json_schema else None,
            temperature=request.temperature,
            seed=request.seed,
            max_tokens=request.max_output_tokens,
        )
        chat.proto.n = 1  # as sample() sends it
        exchange.request_body = json_format.MessageToJson(chat.proto, indent=None)
        async with asyncio.timeout(request.timeout_s):
            response = await chat.sample()
        exchange.response_body = json_format.MessageToJson(response.proto, indent=None)
        calls = [base.tool_call(c.id, c.function.name, c.function.arguments) for c in response.tool_calls]
        usage = response.usage
        tokens = (usage.prompt_tokens, usage.completion_tokens, usage.cached_prompt_text_tokens)
        return base.reply(response.content, calls, response.finish_reason, *tokens)

    def error_kind(self, exc: Exception, exchange: Exchange) -> str:
        if not isinstance(exc, grpc.aio.AioRpcError):
            return "timeout" if isinstance(exc, TimeoutError) else "bad_request"
        exchange.response_body = json.dumps({"code": exc.code().name, "details": exc.details()})
        exchange.retry_after_s = base.retry_after(dict(exc.trailing_metadata() or ()).get("retry-after"))
        return KINDS.get(exc.code().name, "bad_request")
