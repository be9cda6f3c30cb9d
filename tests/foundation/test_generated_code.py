"""The generated protobuf code in the repo is what scripts/gen_protos.sh makes from the .proto files now."""

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "protos" / "agentmesh" / "v1"


def test_generated_protobuf_code_is_not_stale(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}
    subprocess.run(["bash", "scripts/gen_protos.sh", str(tmp_path)], cwd=ROOT, env=env, check=True)
    fresh = tmp_path / "agentmesh" / "v1"
    names = sorted(p.name for p in fresh.iterdir() if p.name.endswith(("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")))
    assert names, "gen_protos.sh generated nothing"
    committed = sorted(p.name for p in GENERATED.iterdir() if p.name.endswith(("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")))
    assert committed == names, "generated files differ from the .proto files: run scripts/gen_protos.sh"
    _, mismatch, errors = filecmp.cmpfiles(GENERATED, fresh, names, shallow=False)
    assert not mismatch and not errors, f"stale generated code {mismatch + errors}: run scripts/gen_protos.sh"
