"""`handoff flows|stats|policy|trace|lab status|shell` without a lab: what a
user reads at 80 and 200 columns and through a pipe (nothing needed is ever
cut), the JSON documents, and the addressing flags every command shares."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from rich.console import Console

from controller import cli
from controller.lab import cli as lab_cli
from controller.lab import query, shell, views
from controller.lab.address import AddressError, find_run_dir, resolve
from controller.proto import handoff_pb2 as pb

CLIENT = "10.0.1.10"


def render(renderable: object, width: int) -> str:
    console = Console(width=width, record=True)
    console.print(renderable)
    text = console.export_text()
    assert all(len(line) <= width for line in text.splitlines()), text
    assert "…" not in text
    return text


def flow(port: int, state: str = "installed", on_switch: bool = True) -> pb.Flow:
    return pb.Flow(
        ref=pb.FlowRef(forwarder="10.0.0.1", backend="10.0.2.11", flow_id=0x00010000 + port),
        connection=pb.Connection(client_ip=CLIENT, client_port=port, vip="10.0.0.100",
                                 vip_port=80),
        backend_name="b1", classifier="k1", state=state, created_at=100.0, on_switch=on_switch,
        packets=12, bytes=3_400_000,
    )  # fmt: skip


FLOWS = pb.ListFlowsResponse(flows=[flow(40000), flow(40001, "quarantine"),
                                    flow(40002, on_switch=False)])  # fmt: skip


@pytest.mark.parametrize("width", [80, 200])
def test_flows_show_client_flow_id_state_and_classifier_in_full(width: int) -> None:
    text = render(views.flows_table(FLOWS, now=112.5, width=width), width)
    for cell in ("10.0.1.10:40000", "0x00019c40", "installed", "quarantine", "installed (lost)",
                 "k1", "b1", "10.0.0.100:80"):  # fmt: skip
        assert cell in text
    if width == 200:
        assert "12.5s" in text and "3400000" in text and "left out" not in text
    else:
        assert "left out to fit 80 columns" in text


def test_too_narrow_for_the_columns_lists_every_cell_instead() -> None:
    text = render(views.flows_table(FLOWS, now=112.5, width=40), 40)
    assert "10.0.1.10:40001" in text and "0x00019c41" in text and "3400000" in text


def test_stats_keep_counter_names_and_put_latencies_in_their_own_table() -> None:
    long = ('p4handoff_classifier_agent_heartbeats_total'
            '{backend="backend-with-a-long-name",result="timeout"}')
    stats = pb.StatsResponse(
        role="classifier", name="k1",
        counters={long: 3, 'p4handoff_classifier_step_seconds_count{step="read"}': 9},
        latencies=[pb.Latency(step="decision_to_handover", count=3, mean_s=0.001, p50_s=0.0004,
                              p99_s=0.002, max_s=0.003)],
    )  # fmt: skip
    text = render(views.Group(*views.stats_tables(stats, 80)), 80)
    assert "agent_heartbeats_total{backend=backend-with-a-long-name,result=timeout}" in text
    assert "step_seconds_count" not in text  # histogram internals: the latency table says it
    assert "decision_to_handover" in text and "0.40" in text and "2.00" in text
    controller = pb.StatsResponse(role="controller", name="c", primary=True)
    assert "controller c (primary)" in render(views.stats_table(controller), 80)


def test_policy_and_lab_status_fit_80_columns() -> None:
    policy = pb.PolicyResponse(source="topologies/policies/basic.yaml", on_no_match="http-503",
                               pools=[pb.Pool(name="api", algorithm="weighted_round_robin",
                                              backends=[pb.PoolBackend(name="b1", weight=2,
                                                                       live=False)])])  # fmt: skip
    text = render(views.policy_table(policy, "k1", 80), 80)
    assert "k1: policy" in text and "NO" in text and "b1" in text
    rows = [views.ProcessRow("classifier-k1", "ph-basic-k1", 4242, True,
                             "/work/main/run/basic/logs/classifier-k1.log")]  # fmt: skip
    text = render(views.lab_status_table("basic", "/work/main/run/basic", rows, ["ns"], 80), 80)
    assert "classifier-k1" in text and "logs/classifier-k1.log" in text and "running" in text


def test_a_pipe_has_no_width_limit() -> None:
    console = views.make_console()  # pytest's stdout is not a terminal
    assert console.width == views.UNLIMITED
    assert views.make_console(width=80).width == 80


def test_json_documents_are_plain_and_complete() -> None:
    document = json.loads(json.dumps(views.flows_json(FLOWS, 112.5)))
    assert document["count"] == 3
    first = document["flows"][0]
    assert first["client"] == "10.0.1.10:40000" and first["flow_id"] == 0x00019C40
    assert first["flow_id_hex"] == "0x00019c40" and first["packets"] == 12
    assert first["age_s"] == 12.5 and first["ended_at"] is None
    stats = views.stats_json(pb.StatsResponse(role="controller", name="c", counters={"x": 1},
                                              latencies=[pb.Latency(step="handoff", count=2)]))
    assert stats["counters"] == {"x": 1} and stats["latencies"]["handoff"]["count"] == 2


def record(port: int, flow_id: int | None, outcome: str = "handed_off") -> pb.HandoffRecord:
    return pb.HandoffRecord(
        connection=pb.Connection(client_ip=CLIENT, client_port=port, vip="10.0.0.100",
                                 vip_port=80),
        classifier="k1", accepted_at=99.9, finished_at=100.1, request="GET / (Host: x)",
        rule_index=3, rule="{path_prefix: /, pool: api}", pool="api", backend_name="b1",
        flow=None if flow_id is None else pb.FlowRef(forwarder="10.0.0.1", backend="10.0.2.11",
                                                     flow_id=flow_id),
        phases=[pb.Phase(step="allocate", seconds=0.0017), pb.Phase(step="commit", seconds=0.002)],
        outcome=outcome, agent="10.0.2.11:7100",
    )  # fmt: skip


def test_trace_joins_the_classifier_record_and_the_controller_flow() -> None:
    ended = flow(40001, "quarantine")
    ended.end_reason, ended.ended_at = "fin", 130.0
    stories = views.join_stories(
        [record(40000, 0x00019C40), record(40001, 0x00019C41), record(40003, None, "no_match")],
        [flow(40000), ended, flow(40009)],
    )
    assert len(stories) == 4
    by_port = {s.connection.client_port: s for s in stories}
    assert by_port[40000].flow is not None and by_port[40000].ending() == "live"
    assert by_port[40001].ending().startswith("fin at ")
    assert by_port[40003].flow is None and by_port[40003].ending().startswith("no_match")
    assert by_port[40009].record is None  # the classifier forgot it; the controller did not
    by_port[40000].agent_live = True
    for width in (80, 200):
        text = render(views.Group(*views.trace_tables([by_port[40000]], width)), width)
        for cell in ("10.0.1.10:40000 -> 10.0.0.100:80", "rules[3] {path_prefix: /, pool: api}",
                     "pool api -> back-end b1", "0x00019c40", "1.70 ms", "12 packets",
                     "b1 at 10.0.2.11:7100, answering heartbeats", "handed_off"):  # fmt: skip
            assert cell in text, cell
    document = json.loads(json.dumps(views.trace_json("x", stories, 200.0)))
    first = next(c for c in document["connections"] if c["client_port"] == 40000)
    assert first["flow_id"] == 0x00019C40 and first["classifier"]["rule_index"] == 3
    assert first["classifier"]["phases_s"] == {"allocate": 0.0017, "commit": 0.002}
    assert first["flow"]["on_switch"] is True and first["agent_live"] is True


@pytest.mark.parametrize("text, expected", [
    ("10.0.1.10:40000", {"client_ip": CLIENT, "client_port": 40000}),
    ("10.0.1.10", {"client_ip": CLIENT}),
    ("[2001:db8:1::10]:40000", {"client_ip": "2001:db8:1::10", "client_port": 40000}),
    ("[2001:0db8:1::10]", {"client_ip": "2001:db8:1::10"}),
    ("2001:db8:1::10", {"client_ip": "2001:db8:1::10"}),
    ("0x00010002", {"flow_id": 0x00010002}),
    ("65538", {"flow_id": 65538}),
])  # fmt: skip
def test_trace_takes_a_connection_or_a_flow_id(text: str, expected: dict[str, object]) -> None:
    assert query.trace_request(text) == pb.TraceRequest(**expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["10.0.1.10:0", "10.0.1.10:http", "client:80", "0x1ffffffff", "2001:db8::g"]
)
def test_a_bad_trace_target_is_named(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text)[1:-1].split(":")[0]):
        query.trace_request(text)


ADDRESSING = ["--run-root", "/r", "--controller", "10.0.9.10:50051",
              "--classifier", "k1=10.0.3.10:50052", "--switch", "10.0.9.1:9559",
              "--tls-ca", "ca.crt", "--tls-cert", "me.crt", "--tls-key", "me.key"]  # fmt: skip


@pytest.mark.parametrize("command", [["flows"], ["stats"], ["policy", "show"],
                                     ["trace", "10.0.1.10:1"]])  # fmt: skip
def test_every_command_takes_the_same_addressing_flags(command: list[str]) -> None:
    args = query.parser().parse_args([*command, *ADDRESSING])
    assert (args.controller, args.classifiers, args.switch) == (
        "10.0.9.10:50051", [("k1", "10.0.3.10:50052")], "10.0.9.1:9559")
    assert args.tls_ca == Path("ca.crt") and args.run_root == Path("/r")
    for other in (lab_cli._parser().parse_args(["status", *ADDRESSING]),
                  shell.parser().parse_args(ADDRESSING)):  # fmt: skip
        assert vars(other).items() >= {k: v for k, v in vars(args).items()
                                       if k in ("controller", "classifiers", "switch", "tls_ca",
                                                "tls_cert", "tls_key", "run_root")}.items()


def test_addresses_without_a_lab_name_a_deployment() -> None:
    args = query.parser().parse_args(["flows", "--controller", "ctl.example:50051",
                                      "--classifier", "k1=unix:/tmp/k1.sock"])  # fmt: skip
    services = resolve(args)
    assert services.run_dir is None and services.controller == "ctl.example:50051"
    assert services.classifiers == {"k1": "unix:/tmp/k1.sock"} and services.tls is None
    with pytest.raises(SystemExit):
        query.parser().parse_args(["flows", "--controller", "nohost"])
    half = query.parser().parse_args(["flows", "--controller", "h:1", "--tls-ca", "ca.crt"])
    with pytest.raises(AddressError, match="--tls-cert and --tls-key missing"):
        resolve(half)


def make_lab(root: Path, name: str, tls: bool = False) -> Path:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "lab.json").write_text(json.dumps({"lab": {"tls": tls, "prefix": "px"}}))
    (run_dir / "classifier-k1.sock").touch()
    (run_dir / "classifier-k2.sock").touch()
    return run_dir


def test_a_lab_is_found_by_run_root_and_gives_its_sockets_and_certificates(
    tmp_path: Path,
) -> None:
    run_dir = make_lab(tmp_path, "basic", tls=True)
    services = resolve(query.parser().parse_args(["stats", "--run-root", str(tmp_path)]))
    assert services.run_dir == run_dir
    assert services.controller == f"unix:{run_dir}/controller.sock"
    assert sorted(services.classifiers) == ["k1", "k2"]
    assert services.switch_tls is not None and services.switch_tls.cert.name == "controller.crt"
    assert services.tls is None  # Unix sockets: no TLS on the API
    with pytest.raises(AddressError, match=r"no classifier named 'k9'.*known: k1, k2"):
        services.classifier_targets("k9")
    make_lab(tmp_path, "large")
    with pytest.raises(AddressError, match="several labs are up"):
        find_run_dir(tmp_path)
    assert find_run_dir(tmp_path, run_dir=run_dir) == run_dir
    with pytest.raises(AddressError, match="no lab is up"):
        find_run_dir(tmp_path / "empty")
    with pytest.raises(AddressError, match="not a lab run directory"):
        find_run_dir(tmp_path, run_dir=tmp_path)


def test_cli_reports_an_unreachable_controller(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lab.json").write_text("{}")
    assert cli.main(["flows", "--run-dir", str(tmp_path)]) == 1
    assert "controller.sock does not exist" in capsys.readouterr().err
    assert cli.main(["trace", "10.0.1.10:40000", "--run-dir", str(tmp_path)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_cli_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert cli.main(["bogus"]) == 2
    assert cli.main(["--help"]) == 0
    assert "trace" in capsys.readouterr().out


def test_shell_joins_a_tls_lab_with_its_controller_certificate(tmp_path: Path) -> None:
    run_dir = make_lab(tmp_path, "basic", tls=True)
    (run_dir / "p4runtime.sock").touch()
    tls = run_dir / "tls"
    tls.mkdir()
    for name in ("ca.crt", "controller.crt", "controller.key"):
        (tls / name).touch()
    python = tmp_path / "python"
    python.touch()
    argv = shell.command(["--run-dir", str(run_dir), "--python", str(python)])
    assert argv[argv.index("--grpc-addr") + 1] == f"unix:{(run_dir / 'p4runtime.sock').resolve()}"
    assert argv[argv.index("--cacert") + 1] == str((tls / "ca.crt").resolve())
    assert "--ssl" in argv and argv[argv.index("--cert") + 1].endswith("controller.crt")
    # gRPC would check the certificate against the socket's path: `localhost` instead
    assert argv[1] == "-c" and "('grpc.ssl_target_name_override', 'localhost')" in argv[2]
    plain = shell.shell_argv(python, "10.0.9.1:9559", 0)
    assert "--ssl" not in plain and plain[plain.index("--grpc-addr") + 1] == "10.0.9.1:9559"


def test_flow_summary_counts_live_and_ended_flows_per_backend() -> None:
    flows = [
        pb.Flow(backend_name="b1", state="installed", packets=5, bytes=500),
        pb.Flow(backend_name="b1", state="quarantine", packets=1, bytes=60),
        pb.Flow(backend_name="b2", state="installed", packets=2, bytes=120),
    ]
    text = render(views.flows_summary_table(pb.ListFlowsResponse(flows=flows), 80), 80)
    assert "3 flows by back-end" in text
    rows = {cells[0]: cells[1:] for line in text.splitlines()
            if (cells := line.split()) and cells[0] in ("b1", "b2")}  # fmt: skip
    assert rows == {"b1": ["1", "1", "6", "560"], "b2": ["1", "0", "2", "120"]}
