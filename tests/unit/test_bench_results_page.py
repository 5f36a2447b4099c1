"""bench/run_all.py's plan (per-target runs) and the p4sim / bmv2 section of
the results page, on made-up results: no benchmark runs here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from results_page import target_comparison
from run_all import Job


def test_lab_benchmarks_run_once_per_target_the_rest_once(tmp_path: Path) -> None:
    names = ("forwarder_veth_pps", "handoff", "newconn")
    jobs = Job.plan([ROOT / "bench" / f"{name}.py" for name in names], tmp_path)
    assert [(j.name, j.out_dir, j.extra) for j in jobs] == [
        ("forwarder_veth_pps", tmp_path, ()),
        ("handoff", tmp_path, ()),
        ("handoff-bmv2", tmp_path / "bmv2", ("--target", "bmv2")),
        ("newconn", tmp_path, ()),
        ("newconn-bmv2", tmp_path / "bmv2", ("--target", "bmv2")),
    ]
    assert jobs[2].log_dir == jobs[4].log_dir == tmp_path  # logs where the ignore rule expects


def _write(root: Path, relative: str, data: dict[str, Any]) -> str:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return relative


def _outcome(name: str, result: str, status: str = "ok") -> dict[str, Any]:
    return {"name": name, "status": status, "seconds": 1.0, "command": [], "results": [result],
            "plots": []}  # fmt: skip


def _level(concurrency: int, rate: float, p50: float) -> dict[str, Any]:
    return {"concurrency": concurrency, "handoffs_per_s": rate, "latency_ms": {"p50": p50}}


def _close(path: str, clients: int, rate: float) -> dict[str, Any]:
    return {"path": path, "mode": "close", "clients": clients, "requests_per_s": rate}


def test_comparison_table_from_the_runs_results(tmp_path: Path) -> None:
    veth = _write(tmp_path, "r/forwarder_veth_pps.json", {"p4sim_over_bmv2": [{
        "entries": 10_000, "traffic": "handed_off",
        "p4sim loss_free_pps": 30_000.0, "bmv2 loss_free_pps": 15_000.0,
        "p4sim per_cpu_s": 40_000.0, "bmv2 per_cpu_s": 20_000.0,
    }]})  # fmt: skip
    writes = _write(tmp_path, "r/p4runtime_writes.json", {
        "p4sim": {"single_per_s": 1_000.0, "batched_per_s": 50_000.0},
        "bmv2": {"single_per_s": 4_000.0, "batched_per_s": 200_000.0},
    })  # fmt: skip
    handoff = _write(tmp_path, "r/handoff.json",
                     {"round_trip_ms": {"p50": 0.1}, "levels": [_level(1, 90.0, 8.0)]})
    bmv2 = _write(tmp_path, "r/bmv2/handoff.json",
                  {"round_trip_ms": {"p50": 0.2}, "levels": [_level(1, 60.0, 10.0)]})
    keepalive = {"path": "handoff", "mode": "keepalive", "clients": 8, "requests_per_s": 1e4}
    newconn = _write(tmp_path, "r/newconn.json", {"runs": [
        _close("haproxy", 8, 1_000.0), _close("handoff", 8, 250.0), keepalive]})
    newconn_bmv2 = _write(tmp_path, "r/bmv2/newconn.json", {"runs": [
        _close("haproxy", 8, 800.0), _close("handoff", 8, 400.0)]})
    summary = {"benchmarks": [
        _outcome("forwarder_veth_pps", veth), _outcome("p4runtime_writes", writes),
        _outcome("handoff", handoff), _outcome("handoff-bmv2", bmv2),
        _outcome("newconn", newconn), _outcome("newconn-bmv2", newconn_bmv2),
    ]}  # fmt: skip
    page = "\n".join(target_comparison(summary, tmp_path))
    assert "--disable-logging-macros --disable-elogger CXXFLAGS=-O2" in page
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in
            page.splitlines() if line.startswith("| ") and "---" not in line}  # fmt: skip
    assert rows["forwarder on veths, 10,000 encap_map entries, handed off: loss-free packets/s"
                ] == ["30,000", "15,000", "2.00 |"]  # fmt: skip
    assert rows["P4Runtime inserts/s, batches of 1,000"] == ["50,000", "200,000", "0.25 |"]
    assert rows["lab: handoffs/s, 1 at a time"] == ["90.00", "60.00", "1.50 |"]
    assert rows["lab: decision to handover p50 ms, 1 at a time"] == ["8.00", "10.00", "0.80 |"]
    assert rows["lab: new connections/s through the handoff, 8 clients"] == [
        "250.00", "400.00", "0.62 |"]
    assert rows["lab: new connections/s through HAProxy, 8 clients"] == [
        "1,000", "800.00", "1.25 |"]
    assert rows["lab: handoff / HAProxy new connections/s, 8 clients"] == ["0.25", "0.5", "0.50 |"]


def test_without_bmv2_the_section_says_so(tmp_path: Path) -> None:
    writes = _write(tmp_path, "r/p4runtime_writes.json",
                    {"p4sim": {"single_per_s": 1.0, "batched_per_s": 2.0}})
    summary = {"benchmarks": [
        _outcome("p4runtime_writes", writes),
        _outcome("handoff-bmv2", "r/bmv2/handoff.json", "skipped: p4c or simple_switch_grpc "
                 "not on PATH"),
    ]}  # fmt: skip
    page = "\n".join(target_comparison(summary, tmp_path))
    assert "No bmv2 figures in this run" in page
