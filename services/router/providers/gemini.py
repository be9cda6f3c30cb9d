"""Gemini through the official google-genai SDK: generateContent on API v1beta, JSON mode with response_json_schema.

response_json_schema (not response_schema): the dialect-normalized schema goes on the wire exactly as
the normalizer produced it, while the SDK rewrites a response_schema into its OpenAPI subset first.
The SDK gets its own httpx2 client so that the recording hooks see the bytes (this also keeps it off
aiohttp, whose path retries connection errors by itself).
"""

import json
from typing import Any

import httpx2
from google import genai
from google.genai import types

from agentmesh.v1 import common_pb2
from services.router.provider import Exchange, ModelReply, ModelRequest, Provider, ProviderError
from services.router.providers import base

REFUSALS = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION"}


def _content(m: common_pb2.Message) -> dict[str, Any]:
    if m.role == "tool":  # a function_response must be an object: anything else goes under "output"
        output = json.loads(m.content or "null")
        response = output if isinstance(output, dict) else {"output": output}
        result = {"id": m.tool_call_id, "name": m.name, "response": response}
        return {"role": "user", "parts": [{"function_response": result}]}
    parts: list[dict[str, Any]] = [{"text": m.content}] if m.content else []
    calls = [
        {"function_call": {"id": c.call_id, "name": c.name, "args": json.loads(c.arguments_json)}} for c in m.tool_calls
    ]
    return {"role": "model" if m.role == "assistant" else "user", "parts": parts + calls}


class GeminiProvider(Provider):
    name = "gemini"

    def connect(self, api_key: str, sim_addr: str | None) -> Any:
        self.http = httpx2.AsyncClient(event_hooks=base.WIRE_HOOKS)
        base_url = f"http://{sim_addr}" if sim_addr else None
        options = types.HttpOptions(base_url=base_url, api_version="v1beta", httpx_async_client=self.http)
        return genai.Client(api_key=api_key, http_options=options)

    async def call(self, request: ModelRequest, schema: dict[str, Any] | None, exchange: Exchange) -> ModelReply:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        declarations = [base.declaration(t, "parameters_json_schema") for t in request.tools]
        config = base.given(
            system_instruction=system,
            tools=[{"function_declarations": declarations}] if declarations else None,
            tool_config=declarations and {"function_calling_config": {"mode": request.tool_choice.upper()}},
            response_mime_type="application/json" if schema else None,
            response_json_schema=schema,
            temperature=request.temperature,
            seed=request.seed,
            max_output_tokens=request.max_output_tokens,
            http_options={"timeout": int(request.timeout_s * 1000)},
        )
        contents = [_content(m) for m in request.messages if m.role != "system"]
        response = await self.client.aio.models.generate_content(model=request.model, contents=contents, config=config)
        candidate = response.candidates[0] if response.candidates else None
        finish = candidate.finish_reason.value if candidate and candidate.finish_reason else ""
        blocked = response.prompt_feedback and response.prompt_feedback.block_reason
        if blocked or finish in REFUSALS or candidate is None:
            raise ProviderError("refused", f"blocked: {blocked or finish or 'no candidate'}")
        calls = [base.tool_call(c.id, c.name, c.args) for c in response.function_calls or []]
        u = response.usage_metadata or types.GenerateContentResponseUsageMetadata()
        tokens = (u.prompt_token_count, u.candidates_token_count, u.cached_content_token_count)
        return base.reply(response.text or "", calls, finish, *tokens)

    async def aclose(self) -> None:
        await self.http.aclose()  # the SDK leaves a client it was given open
