"""`handoff flows|stats|policy`: what a user reads, and what a missing lab says."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from controller import cli
from controller.lab.query import (
    InspectError,
    find_run_dir,
    flows_summary_table,
    flows_table,
    stats_table,
)
from controller.proto import handoff_pb2 as pb


def render(table: object) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def test_flow_rows_show_backend_flow_id_age_and_counters() -> None:
    flow = pb.Flow(
        ref=pb.FlowRef(forwarder="10.0.0.1", backend="10.0.2.11", flow_id=0x00010002),
        connection=pb.Connection(client_ip="10.0.1.10", client_port=40000, vip="10.0.0.100",
                                 vip_port=80),
        backend_name="b1", classifier="k1", state="installed", created_at=100.0,
        on_switch=True, packets=12, bytes=3400,
    )
    text = render(flows_table(pb.ListFlowsResponse(flows=[flow]), now=112.5))
    for cell in ("10.0.1.10:40000", "10.0.0.100:80", "b1", "0x00010002", "installed",
                 "12.5s", "3400", "k1"):
        assert cell in text


def test_an_installed_flow_missing_from_the_switch_is_flagged() -> None:
    flow = pb.Flow(state="installed", on_switch=False, created_at=1.0)
    assert "installed (lost)" in render(flows_table(pb.ListFlowsResponse(flows=[flow]), 2.0))


def test_stats_show_latency_percentiles_in_milliseconds() -> None:
    stats = pb.StatsResponse(role="controller", name="c1", primary=True,
                             counters={"flows_installed": 3},
                             latencies=[pb.Latency(step="handoff", count=3, p50_s=0.0004,
                                                   p99_s=0.002, max_s=0.003)])
    text = render(stats_table(stats))
    assert "controller c1 (primary)" in text
    assert "p50 0.40 ms" in text and "p99 2.00 ms" in text and "flows_installed" in text


def test_run_dir_must_be_a_lab(tmp_path: Path) -> None:
    with pytest.raises(InspectError, match="not a lab run directory"):
        find_run_dir(str(tmp_path))
    (tmp_path / "lab.json").write_text("{}")
    assert find_run_dir(str(tmp_path)) == tmp_path


def test_cli_reports_an_unreachable_controller(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lab.json").write_text("{}")
    assert cli.main(["flows", "--run-dir", str(tmp_path)]) == 1
    assert "controller.sock does not exist" in capsys.readouterr().err


def test_cli_usage() -> None:
    assert cli.main([]) == 2
    assert cli.main(["bogus"]) == 2


def test_flow_summary_counts_live_and_ended_flows_per_backend() -> None:
    flows = [
        pb.Flow(backend_name="b1", state="installed", packets=5, bytes=500),
        pb.Flow(backend_name="b1", state="quarantine", packets=1, bytes=60),
        pb.Flow(backend_name="b2", state="installed", packets=2, bytes=120),
    ]
    text = render(flows_summary_table(pb.ListFlowsResponse(flows=flows)))
    assert "3 flows by back-end" in text
    rows = {cells[0]: cells[1:] for line in text.splitlines()
            if (cells := [c.strip() for c in line.strip("│ ").split("│")])[0] in ("b1", "b2")}
    assert rows == {"b1": ["1", "1", "6", "560"], "b2": ["1", "0", "2", "120"]}
