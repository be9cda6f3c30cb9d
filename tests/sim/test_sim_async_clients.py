"""The async clients of the four SDKs (what the router uses) against the simulators: one answer, one error each."""

import anthropic
import grpc
import openai
import pytest
from google import genai
from google.genai import errors, types
from xai_sdk import AsyncClient
from xai_sdk.chat import user


async def test_async_openai(sims: dict[str, str]) -> None:
    client = openai.AsyncOpenAI(base_url=f"http://{sims['openai']}/v1", api_key="sim", max_retries=0)
    reply = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    with pytest.raises(openai.RateLimitError):
        await client.responses.create(model="gpt-4o", input="#sim status=429")
    await client.close()


async def test_async_anthropic(sims: dict[str, str]) -> None:
    client = anthropic.AsyncAnthropic(base_url=f"http://{sims['anthropic']}", api_key="sim", max_retries=0)
    reply = await client.messages.create(
        model="claude-sim-1", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.content[0].text
    with pytest.raises(anthropic.OverloadedError):
        await client.messages.create(
            model="claude-sim-1", max_tokens=10, messages=[{"role": "user", "content": "#sim status=529"}]
        )
    await client.close()


async def test_async_gemini(sims: dict[str, str]) -> None:
    client = genai.Client(api_key="sim", http_options=types.HttpOptions(base_url=f"http://{sims['gemini']}"))
    reply = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert reply.text
    with pytest.raises(errors.ServerError):
        await client.aio.models.generate_content(model="gemini-2.5-flash", contents="#sim status=503")


async def test_async_xai(sims: dict[str, str]) -> None:
    client = AsyncClient(
        api_key="sim", api_host=sims["xai"], use_insecure_channel=True, channel_options=[("grpc.enable_retries", 0)]
    )
    reply = await client.chat.create(model="grok-4", messages=[user("hi")]).sample()
    assert reply.content
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.chat.create(model="grok-4", messages=[user("#sim status=429")]).sample()
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
