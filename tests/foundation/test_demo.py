"""`agentmesh demo` end to end: the mesh on free ports, every sample lead through gateway, scheduler, router,
simulators, tool workers and run log, then a clean stop."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Isolation

ROOT = Path(__file__).resolve().parents[2]


def test_demo_handles_every_sample_lead_and_stops_cleanly(isolation: "Isolation") -> None:
    env = {**os.environ, **isolation.env}
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "XAI_API_KEY"):
        env[key] = ""
    with tempfile.TemporaryDirectory(prefix="agentmesh-demo-") as data_dir:
        argv = [sys.executable, "-m", "cli.main", "demo", "--data-dir", data_dir]
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 of 3 leads handled" in done.stdout
    assert done.stdout.count("tool enqueue_for_approval@1.0.0") == 3
    assert done.stdout.rstrip().endswith("agentmesh stopped")
