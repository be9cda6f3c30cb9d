"""xAI wire protocol: gRPC `xai_api.Chat` (GetCompletion, GetCompletionChunk) on the servicer the xai-sdk ships."""

import asyncio
import json
import signal
import time
import uuid

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from xai_sdk.proto import chat_pb2, chat_pb2_grpc, sample_pb2, usage_pb2

from sim.engine import Defaults, decide
from sim.exchange import Exchange, Failure, Hang, Message, Reply, Role, SchemaCheck, ToolSpec

ROLES: dict[int, Role] = {
    chat_pb2.ROLE_SYSTEM: "system",
    chat_pb2.ROLE_DEVELOPER: "system",
    chat_pb2.ROLE_USER: "user",
    chat_pb2.ROLE_ASSISTANT: "assistant",
    chat_pb2.ROLE_TOOL: "tool",
    chat_pb2.ROLE_FUNCTION: "tool",
}
STATUS_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.ABORTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


class WireError(ValueError):
    """The request is not what the xAI API accepts: INVALID_ARGUMENT."""


def _message(message: chat_pb2.Message) -> Message:
    role = ROLES.get(message.role)
    if role is None:
        raise WireError(f"message role {chat_pb2.MessageRole.Name(message.role)} is not supported")
    text = "\n".join(content.text for content in message.content if content.text)
    return Message(role, text, tool_results=1 if role == "tool" else 0)


def _schema(raw: str, what: str) -> object:
    try:
        return json.loads(raw) if raw else {"type": "object", "properties": {}}
    except ValueError as exc:
        raise WireError(f"{what} is not valid JSON: {exc}") from None


def completion_request(request: chat_pb2.GetCompletionsRequest) -> Exchange:
    if not request.messages:
        raise WireError("messages must not be empty")
    exchange = Exchange("xai", request.model, [_message(m) for m in request.messages])
    if request.HasField("parallel_tool_calls"):
        exchange.parallel_tool_calls = request.parallel_tool_calls
    for tool in request.tools:
        if tool.HasField("function"):
            exchange.tools.append(
                ToolSpec(tool.function.name, _schema(tool.function.parameters, "function parameters"))
            )
    if request.HasField("tool_choice"):
        if request.tool_choice.HasField("function_name"):
            exchange.forced_tool = request.tool_choice.function_name
        elif request.tool_choice.mode == chat_pb2.TOOL_MODE_NONE:
            exchange.tool_choice = "none"
        elif request.tool_choice.mode == chat_pb2.TOOL_MODE_REQUIRED:
            exchange.tool_choice = "required"
    fmt = request.response_format
    if request.HasField("response_format") and fmt.format_type in (
        chat_pb2.FORMAT_TYPE_JSON_OBJECT,
        chat_pb2.FORMAT_TYPE_JSON_SCHEMA,
    ):
        exchange.structured = True
        if fmt.format_type == chat_pb2.FORMAT_TYPE_JSON_SCHEMA:
            exchange.output_schema = _schema(fmt.schema, "response_format.schema")
            exchange.checks.append(SchemaCheck("xai", exchange.output_schema, "response_format.schema"))
    return exchange


def _message_fields(reply: Reply) -> dict[str, object]:
    """xAI has no refusal field or finish reason: a refusal is plain assistant content."""
    calls = [
        chat_pb2.ToolCall(
            id=f"call_{c.id}",
            type=chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL,
            status=chat_pb2.TOOL_CALL_STATUS_COMPLETED,
            function=chat_pb2.FunctionCall(name=c.name, arguments=c.arguments),
        )
        for c in reply.tool_calls
    ]
    content = reply.refusal if reply.refusal is not None else reply.text or ""
    return {"role": chat_pb2.ROLE_ASSISTANT, "content": content, "tool_calls": calls}


def _common(reply: Reply, exchange: Exchange) -> dict[str, object]:
    created = Timestamp()
    created.FromSeconds(int(time.time()))
    usage = usage_pb2.SamplingUsage(
        prompt_tokens=reply.input_tokens,
        prompt_text_tokens=reply.input_tokens,
        completion_tokens=reply.output_tokens,
        total_tokens=reply.total_tokens,
    )
    return {
        "id": str(uuid.uuid4()),
        "model": exchange.model,
        "created": created,
        "usage": usage,
        "system_fingerprint": "fp_sim",
    }


def _finish(reply: Reply) -> int:
    return sample_pb2.REASON_TOOL_CALLS if reply.tool_calls else sample_pb2.REASON_STOP


def completion_reply(reply: Reply, exchange: Exchange) -> chat_pb2.GetChatCompletionResponse:
    output = chat_pb2.CompletionOutput(
        index=0, finish_reason=_finish(reply), message=chat_pb2.CompletionMessage(**_message_fields(reply))
    )
    return chat_pb2.GetChatCompletionResponse(outputs=[output], **_common(reply, exchange))


def completion_chunk(reply: Reply, exchange: Exchange) -> chat_pb2.GetChatCompletionChunk:
    output = chat_pb2.CompletionOutputChunk(
        index=0, finish_reason=_finish(reply), delta=chat_pb2.Delta(**_message_fields(reply))
    )
    return chat_pb2.GetChatCompletionChunk(outputs=[output], **_common(reply, exchange))


class ChatSimulator(chat_pb2_grpc.ChatServicer):
    def __init__(self, defaults: Defaults, stopping: asyncio.Event) -> None:
        self.defaults = defaults
        self.stopping = stopping  # set on SIGTERM: hanging calls give up at once, so the stop is prompt

    async def _reply(
        self, request: chat_pb2.GetCompletionsRequest, context: grpc.aio.ServicerContext
    ) -> tuple[Reply, Exchange]:
        try:
            exchange = completion_request(request)
        except WireError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        plan = decide(exchange, self.defaults)
        if plan.latency_ms:
            await asyncio.sleep(plan.latency_ms / 1000)
        if isinstance(plan.outcome, Hang):
            await self.stopping.wait()  # or, first, the client's deadline cancels the call
            await context.abort(grpc.StatusCode.UNAVAILABLE, "The simulator is shutting down.")
        if isinstance(plan.outcome, Failure):
            failure = plan.outcome
            code = STATUS_CODES.get(
                failure.status,
                grpc.StatusCode.UNAVAILABLE if failure.status >= 500 else grpc.StatusCode.FAILED_PRECONDITION,
            )
            trailers = (("retry-after", f"{failure.retry_after:g}"),) if failure.retry_after is not None else ()
            await context.abort(code, failure.message, trailing_metadata=trailers)
        assert isinstance(plan.outcome, Reply)
        return plan.outcome, exchange

    async def GetCompletion(self, request, context):
        return completion_reply(*await self._reply(request, context))

    async def GetCompletionChunk(self, request, context):
        yield completion_chunk(*await self._reply(request, context))


async def _serve(host: str, port: int, defaults: Defaults) -> None:
    server = grpc.aio.server()
    stopping = asyncio.Event()
    chat_pb2_grpc.add_ChatServicer_to_server(ChatSimulator(defaults, stopping), server)
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await server.stop(grace=0.5)


def serve(host: str, port: int, defaults: Defaults) -> None:
    asyncio.run(_serve(host, port, defaults))
