"""The PTF suite (ptf_tests/forwarder/) as part of `make test`: the forwarder
on a real switch process over veths, programmed through P4Runtime. Needs root
for the network namespace; the bmv2 run needs p4c and simple_switch_grpc."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parent.parent / "ptf_tests" / "run_ptf.py"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="PTF over veths needs root (network namespace and veth pairs)"
)
needs_iproute2 = pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) missing")


def run_suite(target: str) -> None:
    result = subprocess.run(
        [sys.executable, str(RUNNER), "--target", target],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, (
        f"PTF on {target} failed (exit {result.returncode}):\n"
        f"{result.stdout[-8000:]}\n{result.stderr[-8000:]}"
    )
    ran = re.search(r"^Ran (\d+) tests?", result.stderr + result.stdout, re.MULTILINE)
    assert ran is not None and int(ran.group(1)) > 0, "PTF ran no test"


@needs_root
@needs_iproute2
@pytest.mark.timeout(900)
def test_ptf_suite_passes_on_p4sim() -> None:
    run_suite("p4sim")


@needs_root
@needs_iproute2
@pytest.mark.skipif(
    shutil.which("p4c") is None or shutil.which("simple_switch_grpc") is None,
    reason="bmv2 run needs p4c and simple_switch_grpc on PATH (not installed here)",
)
@pytest.mark.timeout(900)
def test_ptf_suite_passes_on_bmv2() -> None:
    run_suite("bmv2")
