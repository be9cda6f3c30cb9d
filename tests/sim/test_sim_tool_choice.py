"""Tool choice `none` in every simulator, through each official SDK: the tools stay declared, no tool is called.

This is what a repair needs: the repair prompt is a user text message, so it starts tool round 0 again, and
a model still free to use tools calls them instead of answering (the default reply for round 0 with tools
offered). With tool choice none the simulator answers with the structured reply of that attempt instead.
"""

import json
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types
from xai_sdk import Client as XAIClient
from xai_sdk.chat import tool, tool_result, user
from xai_sdk.proto import chat_pb2

LEAD = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["name", "score"],
    "additionalProperties": False,
}
LOOKUP = {"type": "object", "properties": {"domain": {"type": "string"}}, "required": ["domain"]}
REPAIR = "Your previous reply is not valid JSON. Answer again with only the corrected JSON value."

# A conversation: a user text message (which carries the directive), one finished tool round, then maybe more
# user text messages (repair prompts). A vendor's ask(texts, tool_choice) -> (names of tools called, text).
Ask = Callable[[list[str], str], tuple[list[str], str]]


def ask_openai(addr: str) -> Ask:
    client = openai.OpenAI(base_url=f"http://{addr}/v1", api_key="sim", max_retries=0, timeout=10)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": LOOKUP}}]
    response_format = {"type": "json_schema", "json_schema": {"name": "lead", "schema": LEAD, "strict": True}}

    def ask(texts: list[str], tool_choice: str) -> tuple[list[str], str]:
        called = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
        messages: list[Any] = [
            {"role": "user", "content": texts[0]},
            {"role": "assistant", "tool_calls": [called]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"employees": 40}'},
            *({"role": "user", "content": text} for text in texts[1:]),
        ]
        completion = client.chat.completions.create(
            model="gpt-4o", messages=messages, tools=tools, tool_choice=tool_choice, response_format=response_format
        )
        message = completion.choices[0].message
        return [c.function.name for c in message.tool_calls or []], message.content or ""

    return ask


def ask_anthropic(addr: str) -> Ask:
    client = anthropic.Anthropic(base_url=f"http://{addr}", api_key="sim", max_retries=0, timeout=10)

    def ask(texts: list[str], tool_choice: str) -> tuple[list[str], str]:
        messages: list[Any] = [
            {"role": "user", "content": texts[0]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "40"}]},
            *({"role": "user", "content": text} for text in texts[1:]),
        ]
        message = client.messages.create(
            model="claude-sonnet-5-5",
            max_tokens=256,
            messages=messages,
            tools=[{"name": "lookup", "input_schema": LOOKUP}],
            tool_choice={"type": tool_choice},  # type: ignore[arg-type,misc]
            output_config={"format": {"type": "json_schema", "schema": LEAD}},
        )
        names = [b.name for b in message.content if b.type == "tool_use"]
        return names, "".join(b.text for b in message.content if b.type == "text")

    return ask


def ask_gemini(addr: str) -> Ask:
    client = genai.Client(api_key="sim", http_options=types.HttpOptions(base_url=f"http://{addr}", timeout=10_000))
    lookup = types.FunctionDeclaration(name="lookup", parameters_json_schema=LOOKUP)

    def ask(texts: list[str], tool_choice: str) -> tuple[list[str], str]:
        contents: list[Any] = [
            types.Content(role="user", parts=[types.Part(text=texts[0])]),
            types.Content(role="model", parts=[types.Part.from_function_call(name="lookup", args={})]),
            types.Content(role="user", parts=[types.Part.from_function_response(name="lookup", response={"n": 40})]),
            *(types.Content(role="user", parts=[types.Part(text=text)]) for text in texts[1:]),
        ]
        config = types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[lookup])],
            tool_config=types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(mode=tool_choice.upper())  # type: ignore[arg-type]
            ),
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            response_mime_type="application/json",
            response_json_schema=LEAD,
        )
        response = client.models.generate_content(model="gemini-2.5-flash", contents=contents, config=config)
        return [c.name or "" for c in response.function_calls or []], response.text or ""

    return ask


def ask_xai(addr: str) -> Ask:
    client = XAIClient(
        api_key="sim",
        api_host=addr,
        use_insecure_channel=True,
        timeout=10,
        channel_options=[("grpc.enable_retries", 0)],
    )
    response_format = chat_pb2.ResponseFormat(format_type=chat_pb2.FORMAT_TYPE_JSON_SCHEMA, schema=json.dumps(LEAD))

    def ask(texts: list[str], tool_choice: str) -> tuple[list[str], str]:
        chat = client.chat.create(
            model="grok-4",
            tools=[tool("lookup", "Find a company.", LOOKUP)],
            tool_choice=tool_choice,  # type: ignore[arg-type]
            response_format=response_format,
        )
        called = chat_pb2.ToolCall(id="call_1", function=chat_pb2.FunctionCall(name="lookup", arguments="{}"))
        chat.append(user(texts[0]))
        chat.append(chat_pb2.Message(role=chat_pb2.ROLE_ASSISTANT, tool_calls=[called]))
        chat.append(tool_result('{"employees": 40}', "call_1"))
        for text in texts[1:]:
            chat.append(user(text))
        response = chat.sample()
        return [c.function.name for c in response.tool_calls], response.content

    return ask


VENDORS = {"openai": ask_openai, "anthropic": ask_anthropic, "gemini": ask_gemini, "xai": ask_xai}


@pytest.fixture(scope="module", params=list(VENDORS))
def ask(request: pytest.FixtureRequest, sims: dict[str, str]) -> Ask:
    return VENDORS[request.param](sims[request.param])


def test_tool_choice_none_answers_even_when_the_script_asks_for_tools(ask: Ask) -> None:
    assert ask(["#sim tools=lookup;lookup\nQualify ACME."], "auto")[0] == ["lookup"]  # round 1 of the script
    names, text = ask(["#sim tools=lookup;lookup\nQualify ACME."], "none")
    assert names == [] and json.loads(text).keys() == LEAD["properties"].keys()


def test_a_repair_with_tool_choice_none_gets_the_repaired_reply(ask: Ask) -> None:
    first = ask(["#sim malformed=1\nQualify ACME."], "auto")
    assert first[0] == [] and not is_json(first[1])  # attempt 1, after the tool round: malformed
    names, text = ask(["#sim malformed=1\nQualify ACME.", REPAIR], "none")
    assert names == [] and json.loads(text).keys() == LEAD["properties"].keys()  # attempt 2: repaired


def test_a_repair_with_tools_allowed_starts_a_tool_round_again(ask: Ask) -> None:
    """Why the router repairs with tool choice none: the repair prompt is a new user text message."""
    assert ask(["#sim malformed=1\nQualify ACME.", REPAIR], "auto")[0] == ["lookup"]


def is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
