"""`agentmesh schema MODULE:MODEL --provider P` prints exactly what the adapter sends, or the refusal."""

import json
import subprocess
import sys
from pathlib import Path

import corpus

from services.router.schema import to_wire_schema

HERE = Path(corpus.__file__).parent


def agentmesh(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli.main", *args]
    env = {"PYTHONPATH": str(HERE.parents[1])}
    return subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_schema_prints_the_wire_schema_the_adapter_sends() -> None:
    done = agentmesh("schema", "corpus:Order", "--provider", "gemini")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == to_wire_schema("gemini", corpus.Order.model_json_schema())
    assert "generationConfig.responseJsonSchema" in done.stderr


def test_schema_says_when_openai_cannot_decode_strictly() -> None:
    done = agentmesh("schema", "corpus:Event", "--provider", "openai")
    assert done.returncode == 0 and "NOT strict" in done.stderr


def test_schema_explains_a_refusal_and_exits_1() -> None:
    done = agentmesh("schema", "corpus:Chain", "--provider", "xai")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("agentmesh schema: output_type: Chain is recursive,")
