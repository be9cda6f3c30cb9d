"""`python -m sim` as a process: command-line defaults, and SIGTERM stops it promptly even mid-request."""

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import openai
import pytest
from xai_sdk.proto import chat_pb2, chat_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
LEAD = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": False,
}
LEAD_FORMAT = {"type": "json_schema", "json_schema": {"name": "Lead", "schema": LEAD, "strict": True}}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def simulator(provider: str, *flags: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sim", provider, "--port", str(port), *flags], cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while True:  # poll readiness with a deadline
            assert proc.poll() is None, f"simulator exited {proc.returncode}"
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "simulator did not listen"
            time.sleep(0.05)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_command_line_rates_are_defaults_that_directives_override() -> None:
    with simulator("openai", "--malformed-rate", "1", "--latency-ms", "50") as (_proc, port):
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sim", max_retries=0, timeout=5)

        def content(text: str) -> str:
            messages = [{"role": "user", "content": text}]
            reply = client.chat.completions.create(model="m", messages=messages, response_format=LEAD_FORMAT)  # type: ignore[arg-type]
            return reply.choices[0].message.content or ""

        started = time.monotonic()
        with pytest.raises(ValueError):
            json.loads(content("a lead"))
        assert time.monotonic() - started >= 0.05
        assert json.loads(content("#sim malformed_rate=0 latency_ms=0")) == {"name": "name"}


def test_bad_command_line_rate_is_refused() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "sim", "openai", "--port", "1", "--invalid-rate", "2"], cwd=ROOT, capture_output=True
    )
    assert run.returncode == 2 and b"--invalid-rate must be between 0 and 1" in run.stderr


def test_sigterm_stops_an_http_simulator_promptly_even_with_a_hanging_request() -> None:
    with simulator("openai") as (proc, port), socket.create_connection(("127.0.0.1", port)) as sock:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "#sim hang"}]})
        head = "POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\n"
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode())
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=2)
        answer = sock.recv(64)  # 503 if the request was already hanging, a closed socket if it was not read yet
        assert answer == b"" or answer.startswith(b"HTTP/1.1 503")


def test_sigterm_stops_the_grpc_simulator_with_a_hanging_call() -> None:
    with simulator("xai") as (proc, port), grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = chat_pb2.GetCompletionsRequest(
            model="grok",
            messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=[chat_pb2.Content(text="#sim hang")])],
        )
        call = chat_pb2_grpc.ChatStub(channel).GetCompletion.future(request, timeout=10)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=2) == 0
        with pytest.raises(grpc.RpcError):
            call.result()
