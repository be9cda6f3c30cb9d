"""The gateway as a real process: API keys -> customers, bodies validated by field, gRPC failures as HTTP + JSON.

The scheduler behind it here is a small real gRPC server in the test process that fails on demand
(agent `fail-<kind>` answers with that MeshError kind), so every status mapping crosses a real gRPC hop.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import httpx
import pytest

from agentmesh.v1 import runlog_pb2, scheduler_pb2, scheduler_pb2_grpc
from services.common.errors import MeshError

if TYPE_CHECKING:
    from conftest import Isolation

ROOT = Path(__file__).resolve().parents[2]
TURNS = "/v1/agents/{agent}/turns"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ScriptedScheduler(scheduler_pb2_grpc.SchedulerServicer):
    """Echoes the request back in the reply; agent `fail-<kind>` fails with that kind instead."""

    def RunTurn(
        self, request: scheduler_pb2.RunTurnRequest, context: grpc.ServicerContext
    ) -> scheduler_pb2.RunTurnReply:
        if request.agent.startswith("fail-"):
            kind = request.agent.removeprefix("fail-")
            context.abort_with_status(MeshError(kind, f"{kind} on purpose", hint="scripted").to_status())
        echo = {"customer": request.customer, "input": json.loads(request.input_json), "model": request.model}
        echo["prefer"] = list(request.prefer)
        return scheduler_pb2.RunTurnReply(
            run_id=request.run_id, session_id=request.session_id or "s-new", output_json=json.dumps(echo),
            status="succeeded",
        )  # fmt: skip

    def GetRun(self, request: runlog_pb2.GetRunRequest, context: grpc.ServicerContext) -> runlog_pb2.Run:
        if request.run_id != "r-acme":
            context.abort_with_status(MeshError("not_found", f"no run {request.run_id}").to_status())
        return runlog_pb2.Run(run_id="r-acme", header=runlog_pb2.RunHeader(agent="a", customer="acme"), status="ok")


@pytest.fixture(scope="module")
def scheduler_addr() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    scheduler_pb2_grpc.add_SchedulerServicer_to_server(ScriptedScheduler(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(0)


def start_gateway(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    full_env = {**os.environ, **env, "AGENTMESH_GATEWAY_ADDR": f"127.0.0.1:{port}"}
    proc = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=ROOT, env=full_env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "gateway exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.05)  # polling a readiness condition with a deadline
    proc.kill()
    raise TimeoutError("gateway did not answer /healthz")


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    return proc.wait(20)


@pytest.fixture(scope="module")
def gateway(isolation: "Isolation", scheduler_addr: str) -> Iterator[str]:
    proc, url = start_gateway({**isolation.env, "AGENTMESH_SCHEDULER_ADDR": scheduler_addr})
    yield url
    assert stop(proc) == 0


def agentmesh(isolation: "Isolation", *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **isolation.env}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def api_key(isolation: "Isolation") -> str:
    created = agentmesh(isolation, "keys", "create", "acme")
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def key_header(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_turn_without_api_key_is_401_with_a_typed_error_body(gateway: str) -> None:
    reply = httpx.post(gateway + TURNS.format(agent="echo"), json={"input": "hi"})
    assert reply.status_code == 401
    assert reply.json()["error"]["kind"] == "auth"


def test_unknown_api_key_is_401(gateway: str) -> None:
    reply = httpx.post(gateway + TURNS.format(agent="echo"), json={"input": "hi"}, headers={"X-API-Key": "am_nope"})
    assert reply.status_code == 401


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_a_key_authenticates_as_its_customer_by_either_header(gateway: str, api_key: str, header: str) -> None:
    value = f"Bearer {api_key}" if header == "Authorization" else api_key
    body = {"input": {"lead": "Ada"}, "model": "openai:gpt-4o", "prefer": ["anthropic"]}
    reply = httpx.post(gateway + TURNS.format(agent="echo"), json=body, headers={header: value})
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert json.loads(data["output_json"]) == {
        "customer": "acme", "input": {"lead": "Ada"}, "model": "openai:gpt-4o", "prefer": ["anthropic"],
    }  # fmt: skip
    assert data["status"] == "succeeded" and data["run_id"]


def test_revoked_key_no_longer_authenticates(gateway: str, isolation: "Isolation") -> None:
    key = agentmesh(isolation, "keys", "create", "temp").stdout.strip()
    headers = {"X-API-Key": key}
    assert httpx.post(gateway + TURNS.format(agent="echo"), json={"input": "x"}, headers=headers).status_code == 200
    revoked = agentmesh(isolation, "keys", "revoke", key)
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    assert httpx.post(gateway + TURNS.format(agent="echo"), json={"input": "x"}, headers=headers).status_code == 401


def test_missing_input_is_400_naming_the_field(gateway: str, api_key: str) -> None:
    reply = httpx.post(gateway + TURNS.format(agent="echo"), json={"session_id": "s1"}, headers={"X-API-Key": api_key})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["kind"] == "bad_request" and error["field"] == "input"
    assert error["message"].startswith("input:")


def test_unknown_body_field_is_400_naming_it(gateway: str, api_key: str) -> None:
    body = {"input": "x", "sesion_id": "typo"}
    reply = httpx.post(gateway + TURNS.format(agent="echo"), json=body, headers={"X-API-Key": api_key})
    assert reply.status_code == 400
    assert reply.json()["error"]["field"] == "sesion_id"


def test_malformed_callback_url_is_400_naming_the_field(gateway: str, api_key: str) -> None:
    body = {"input": "x", "callback_url": "not a url"}
    reply = httpx.post(gateway + TURNS.format(agent="echo"), json=body, headers={"X-API-Key": api_key})
    assert reply.status_code == 400
    assert reply.json()["error"]["field"] == "callback_url"


@pytest.mark.parametrize(
    ("kind", "status"),
    [("bad_request", 400), ("auth", 401), ("not_found", 404), ("conflict", 409), ("rate_limited", 429),
     ("budget_exhausted", 429), ("schema_invalid", 422), ("refused", 422), ("unimplemented", 501),
     ("unavailable", 503), ("timeout", 504), ("internal", 500)],
)  # fmt: skip
def test_scheduler_errors_map_to_http_status_and_json_body(gateway: str, api_key: str, kind: str, status: int) -> None:
    reply = httpx.post(
        gateway + TURNS.format(agent=f"fail-{kind}"), json={"input": "x"}, headers={"X-API-Key": api_key}
    )
    assert reply.status_code == status
    assert reply.json() == {"error": {"kind": kind, "message": f"{kind} on purpose", "hint": "scripted"}}


def test_run_is_visible_to_its_customer_only(gateway: str, api_key: str, isolation: "Isolation") -> None:
    mine = httpx.get(f"{gateway}/v1/runs/r-acme", headers={"X-API-Key": api_key})
    assert mine.status_code == 200 and mine.json()["header"]["customer"] == "acme"
    other = agentmesh(isolation, "keys", "create", "globex").stdout.strip()
    assert httpx.get(f"{gateway}/v1/runs/r-acme", headers={"X-API-Key": other}).status_code == 404
    assert httpx.get(f"{gateway}/v1/runs/r-none", headers={"X-API-Key": api_key}).status_code == 404


def test_callback_mode_answers_202_and_posts_the_reply_to_the_callback_url(gateway: str, api_key: str) -> None:
    received: list[dict[str, object]] = []
    arrived = threading.Event()

    class Callback(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            arrived.set()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Callback)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/resume"
        body = {"input": {"lead": "Grace"}, "callback_url": url}
        reply = httpx.post(gateway + TURNS.format(agent="echo"), json=body, headers={"X-API-Key": api_key})
        assert reply.status_code == 202
        run_id = reply.json()["run_id"]
        assert arrived.wait(20), "no callback arrived"
        assert received[0]["run_id"] == run_id
        assert json.loads(received[0]["output_json"])["input"] == {"lead": "Grace"}
        failing = httpx.post(
            gateway + TURNS.format(agent="fail-rate_limited"), json=body, headers={"X-API-Key": api_key}
        )
        assert failing.status_code == 202
        arrived.clear()
        assert arrived.wait(20), "no callback arrived for the failed turn"
        assert received[1]["error"]["kind"] == "rate_limited"
    finally:
        server.shutdown()


def test_metrics_count_requests_by_route_and_status(gateway: str) -> None:
    httpx.post(gateway + TURNS.format(agent="echo"), json={"input": "x"})
    metrics = httpx.get(f"{gateway}/metrics").text
    assert 'http_requests_total{handler="/v1/agents/{agent}/turns",method="POST",status="401"}' in metrics


def test_unreachable_scheduler_is_503(isolation: "Isolation", api_key: str) -> None:
    proc, url = start_gateway({**isolation.env, "AGENTMESH_SCHEDULER_ADDR": f"127.0.0.1:{free_port()}"})
    try:
        reply = httpx.post(url + TURNS.format(agent="echo"), json={"input": "x"}, headers={"X-API-Key": api_key})
        assert reply.status_code == 503
        assert reply.json()["error"]["kind"] == "unavailable"
    finally:
        assert stop(proc) == 0


def test_unreachable_redis_stops_the_gateway_with_one_line_naming_the_setting(isolation: "Isolation") -> None:
    env = {**os.environ, **isolation.env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    done = subprocess.run(
        [sys.executable, "-m", "gateway"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0
    assert done.stderr.strip().startswith("gateway: REDIS_URL: cannot connect")
    assert len(done.stderr.strip().splitlines()) == 1
