"""The soak, bounded (tests/system/soak.py): on the large topology (three
clients, two classifiers, four back-ends), SOAK_CONNECTIONS handed-off
connections (300 here; `make soak` runs 10,000 and keeps the report in
bench/results/soak.json) with sizes from 0 B to 20 MB, keep-alive and close,
checked byte for byte both ways, while links turn lossy, an agent, the
controller (and in `make soak` the switch) are restarted and the policy is
reloaded.
Afterwards nothing leaked and the processes' memory did not run away.
p4sim only unless SOAK_TARGETS names bmv2 too. Needs root."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import bring_up
from faults_support import FaultLab
from soak import SOAK_POLICY, save, soak

from controller.lab.session import BASIC_TOPOLOGY

LARGE_TOPOLOGY = BASIC_TOPOLOGY.with_name("large.yaml")
CONNECTIONS = int(os.environ.get("SOAK_CONNECTIONS", "300"))
WORKERS = int(os.environ.get("SOAK_WORKERS", "4"))  # per client host
REPORT = os.environ.get("SOAK_REPORT", "")
# The controller's entry idle timeout: what ends a connection whose FIN digest
# came while no controller was primary (the restart fault).
IDLE_TIMEOUT_S = float(os.environ.get("SOAK_IDLE_TIMEOUT_S", "20"))
# The switch restart under load still costs a few connections (a hang, early
# closes: not fixed yet), so only `make soak` includes it.
SWITCH_RESTART = os.environ.get("SOAK_SWITCH_RESTART", "0") == "1"
TARGETS = os.environ.get("SOAK_TARGETS", "p4sim").split(",")
FAULT_TOOLS = ("ip", "tc", "nft", "ethtool", "ss")

pytestmark = pytest.mark.timeout(int(os.environ.get("SOAK_TIMEOUT_S", "900")))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, target: str) -> Iterator[FaultLab]:
    if target not in TARGETS:
        pytest.skip(f"the soak runs on {TARGETS} (SOAK_TARGETS)")
    yield from bring_up(tmp_path_factory, target, tag="s", tools=FAULT_TOOLS,
                        topology=LARGE_TOPOLOGY, policy=SOAK_POLICY, session=FaultLab)  # fmt: skip


def test_soak_loses_no_byte_leaks_nothing_and_keeps_memory_flat(lab: FaultLab) -> None:
    lab.restart_controller("--idle-timeout", f"{IDLE_TIMEOUT_S:g}")
    lab.wait_whole()
    # One 20 MB transfer per 2,500 connections, at least one in any run.
    huge_every = min(2500, CONNECTIONS)
    report = soak(lab, CONNECTIONS, WORKERS, huge_every, idle_timeout_s=IDLE_TIMEOUT_S,
                  switch_restart=SWITCH_RESTART)  # fmt: skip
    print(json.dumps(report, indent=2))
    if REPORT:
        save(report, Path(REPORT))
    outcomes = report["outcomes"]
    assert isinstance(outcomes, dict)
    assert report["connections"] == CONNECTIONS, report
    # Every byte right both ways; no hang; a clean 503 is allowed for a
    # connection whose handoff met an outage. A RST or an early close only on
    # a connection in flight while agent-b4 died (a socket it had restored and
    # not yet handed over dies with it: the back-end's part is killed) or
    # while the switch restarted: a connection accepted just before the switch
    # died whose request died with it is closed (FIN) by its classifier when
    # the policy's first-bytes deadline (2 s) passes before the client's
    # retransmission gets through (make soak: three such closes, all 2.0 s
    # after the kill; a 300-connection run once hung there, not explained).
    failures = report["failures"]
    faults = report["faults"]
    assert isinstance(failures, list) and isinstance(faults, list)
    assert outcomes.get("wrong_bytes", 0) == 0 and outcomes.get("timeout", 0) == 0, failures
    windows = [f["in_flight"] for f in faults
               if f["fault"].startswith(("agent-b4", "switch"))]  # fmt: skip
    explained = [
        f for f in failures
        if f["kind"] in ("reset", "closed") and any(a <= f["connection"] < b for a, b in windows)
    ]  # fmt: skip
    assert explained == failures, (failures, faults)
    assert len(failures) <= 2 * WORKERS * 3, failures
    assert outcomes.get("refused", 0) <= CONNECTIONS // 50, outcomes
    assert report["leaks"]["none"], report["leaks"]  # type: ignore[index]
    assert report["processes_alive"] and not report["client_errors"], report
    rss = report["rss_kib"]
    assert isinstance(rss, dict)
    grown = {
        name: v for name, v in rss.items()
        if v["before"] and v["after"] and v["after"] > v["before"] * 1.5 + 32 * 1024
    }  # fmt: skip
    assert not grown, grown
