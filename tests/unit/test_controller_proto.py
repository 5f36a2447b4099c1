"""The committed gRPC modules are exactly what `make proto` generates from
controller/proto/handoff.proto, so nobody edits generated code by hand and a
changed .proto cannot be committed without its stubs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from paths import ROOT

PROTO = "controller/proto/handoff.proto"
GENERATED = ("handoff_pb2.py", "handoff_pb2.pyi", "handoff_pb2_grpc.py")


def test_regenerated_stubs_are_identical_to_the_committed_ones(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", ".", f"--python_out={tmp_path}",
         f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}", PROTO],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name in GENERATED:
        fresh = (tmp_path / "controller" / "proto" / name).read_bytes()
        committed = (ROOT / "controller" / "proto" / name).read_bytes()
        assert fresh == committed, f"controller/proto/{name} is stale: run `make proto`"
