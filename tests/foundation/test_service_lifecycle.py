"""Every service starts on a free port, answers the gRPC health check, and exits 0 on SIGTERM."""

import asyncio

import pytest

from cli.health import health_status

SERVICES = ["router", "scheduler", "toolworker", "runlog"]


@pytest.mark.parametrize("name", SERVICES)
def test_service_serves_health_and_stops_cleanly_on_sigterm(name: str, start_service) -> None:
    proc = start_service(f"services.{name}")
    assert asyncio.run(health_status(proc.addr)) == "SERVING"
    assert proc.stop() == 0
