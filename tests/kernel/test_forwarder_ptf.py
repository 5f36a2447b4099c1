"""The PTF suite (ptf_tests/forwarder/) as part of `make test`: the forwarder
on a real switch process over veths, programmed through P4Runtime. Needs root
for the network namespace; the bmv2 run needs p4c and simple_switch_grpc."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from needs import skip_reason
from paths import ROOT

RUNNER = ROOT / "ptf_tests" / "run_ptf.py"

needs_kernel = pytest.mark.skipif(
    skip_reason("ip", "ethtool") is not None, reason=skip_reason("ip", "ethtool") or ""
)


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


@needs_kernel
@pytest.mark.timeout(900)
def test_ptf_suite_passes_on_p4sim() -> None:
    run_suite("p4sim")


@needs_kernel
@pytest.mark.skipif(
    skip_reason(target="bmv2") is not None, reason=skip_reason(target="bmv2") or ""
)
@pytest.mark.timeout(900)
def test_ptf_suite_passes_on_bmv2() -> None:
    run_suite("bmv2")
