"""`agentmesh eval` runs a dataset through an agent on the four simulated providers in parallel; the rates it
reports come from the logged attempts and match the failures the simulators were told to inject."""

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from conftest import LocalMesh
from runlog_helpers import MODELS

from agentmesh.v1 import runlog_pb2, runlog_pb2_grpc
from cli.eval import Case, Outcome, load_dataset, percentile, summarize

ROOT = Path(__file__).resolve().parents[2]
CASES = 20
# Simulator directives per case (scoped to one provider): what each model is told to get wrong.
FAULTS = {
    0: "#sim@anthropic invalid=1",  # anthropic: 4 cases need one repair
    1: "#sim@anthropic invalid=1",
    2: "#sim@anthropic malformed=1",
    3: "#sim@anthropic invalid=1",
    4: "#sim@gemini invalid=3",  # gemini: 2 cases stay invalid after two repairs
    5: "#sim@gemini invalid=3",
    6: "#sim@xai malformed=1",  # xai: 1 case needs one repair
}
EXPECTED = {  # share of cases: (valid on the first attempt, valid after repair, failures)
    MODELS[0]: (1.00, 1.00, 0),
    MODELS[1]: (0.80, 1.00, 0),
    MODELS[2]: (0.90, 0.90, 2),
    MODELS[3]: (0.95, 1.00, 0),
}


def write_dataset(path: Path) -> Path:
    """Even cases expect the company the simulators answer with ("company"), odd ones another: 50% accuracy."""
    lines = []
    for index in range(CASES):
        text = f"{FAULTS.get(index, '')}\nBrief me on company-{index}.example".lstrip()
        lines.append(json.dumps({"input": text, "expected": {"company": "company" if index % 2 == 0 else "Globex"}}))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def eval_report(mesh: LocalMesh, tmp_path_factory) -> tuple[dict, str, LocalMesh]:
    mesh.require()
    folder = tmp_path_factory.mktemp("eval")
    dataset, out = write_dataset(folder / "cases.jsonl"), folder / "report.json"
    env = {
        **os.environ,
        **mesh.env,
        "AGENTMESH_SCHEDULER_ADDR": mesh.addr("scheduler"),
        "AGENTMESH_RUNLOG_ADDR": mesh.addr("runlog"),
    }
    argv = ["eval", "--agent", "brief_agent", "--dataset", str(dataset), "--models", ",".join(MODELS)]
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *argv, "--json", str(out), "--customer", "eval-test", "--concurrency", "8"],
        env=env, capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stdout, mesh


def test_eval_prints_one_table_row_per_model(eval_report) -> None:
    _, stdout, _ = eval_report
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("MODEL"))
    for column in ["MODEL", "VALID 1ST", "VALID AFTER REPAIR", "FAILED", "ACCURACY", "P50 MS", "P95 MS", "COST $"]:
        assert column in lines[header]
    assert [line.split()[0] for line in lines[header + 1 : header + 5]] == list(MODELS)


def test_eval_rates_match_the_failures_the_simulators_injected(eval_report) -> None:
    report, _, _ = eval_report
    by_model = {line["model"]: line for line in report["models"]}
    for model, (first, after_repair, failures) in EXPECTED.items():
        line = by_model[model]
        assert line["cases"] == CASES
        observed = (line["first_attempt_valid_rate"], line["valid_after_repair_rate"], line["failures"])
        assert observed == pytest.approx((first, after_repair, failures)), model
    assert by_model[MODELS[2]]["failure_kinds"] == {"schema_invalid": 2}
    assert by_model[MODELS[1]]["repairs"] == 4 and by_model[MODELS[3]]["repairs"] == 1


def test_eval_reports_accuracy_latency_and_cost(eval_report) -> None:
    report, _, _ = eval_report
    by_model = {line["model"]: line for line in report["models"]}
    assert by_model[MODELS[0]]["expected_field_accuracy"] == pytest.approx(0.5)
    assert by_model[MODELS[2]]["expected_field_accuracy"] == pytest.approx(9 / 20), "a failed case misses its fields"
    for line in report["models"]:
        assert 0 < line["p50_ms"] <= line["p95_ms"]
        assert line["total_cost_usd"] > 0


async def test_every_eval_call_is_a_logged_run(eval_report) -> None:
    report, _, mesh = eval_report
    async with grpc.aio.insecure_channel(mesh.addr("runlog")) as channel:
        listed = await runlog_pb2_grpc.RunLogStub(channel).ListRuns(
            runlog_pb2.ListRunsRequest(customer="eval-test", agent="brief_agent", limit=500)
        )
    logged = {run.run_id for run in listed.runs}
    assert {run_id for line in report["models"] for run_id in line["run_ids"]} <= logged
    assert len(logged) >= CASES * len(MODELS)


def test_dataset_lines_are_cases_and_bad_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text('{"input": {"domain": "acme.com"}, "expected": {"company": "Acme"}}\n\n{"question": "hi"}\n')
    assert load_dataset(path) == [
        Case(0, '{"domain": "acme.com"}', {"company": "Acme"}),
        Case(1, '{"question": "hi"}', {}),
    ]
    path.write_text('{"input": "ok"}\nnot json\n')
    with pytest.raises(Exception, match=r"cases.jsonl:2: not JSON"):
        load_dataset(path)


def test_summary_counts_schema_failures_from_the_logged_attempts() -> None:
    invalid = {"number": 1, "purpose": "initial", "error": {"kind": "schema_invalid"}, "cost_usd": 0.5}
    repaired = {"number": 2, "purpose": "repair", "cost_usd": 0.25}
    outcomes = [
        Outcome("m", Case(0, "{}", {"a": 1}), "r0", "succeeded", output={"a": 1}, latency_ms=10, attempts=[repaired]),
        Outcome("m", Case(1, "{}", {"a": 1}), "r1", "succeeded", output={"a": 2}, latency_ms=30,
                attempts=[invalid, repaired]),
        Outcome("m", Case(2, "{}", {}), "r2", "failed", error_kind="timeout", latency_ms=20),
    ]  # fmt: skip
    line = summarize("m", outcomes)
    assert (line["first_attempt_valid_rate"], line["valid_after_repair_rate"], line["failures"]) == (1 / 3, 2 / 3, 1)
    assert line["failure_kinds"] == {"timeout": 1} and line["expected_field_accuracy"] == 0.5
    assert (line["p50_ms"], line["p95_ms"], line["total_cost_usd"]) == (20, 30, 1.0)
    assert percentile([], 0.5) == 0.0
