"""`handoff flows`, `handoff stats`, `handoff policy`: ask a running lab.

The controller and each classifier serve P4 Handoff's own gRPC API on Unix
sockets in the lab's run directory; these commands find them there and print
what they answer as tables. With one lab running nothing needs to be named.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
from rich.console import Console
from rich.table import Table

from controller.proto import handoff_pb2 as pb
from controller.proto import handoff_pb2_grpc as pb_grpc

RUN_ROOT = Path("run")
CONTROLLER_SOCKET = "controller.sock"
CLASSIFIER_SOCKETS = "classifier-*.sock"


class InspectError(Exception):
    """The lab or one of its services cannot be reached."""


def find_run_dir(given: str | None) -> Path:
    if given:
        run_dir = Path(given)
        if not (run_dir / "lab.json").exists():
            raise InspectError(f"{run_dir} is not a lab run directory (no lab.json)")
        return run_dir
    labs = sorted(p.parent for p in RUN_ROOT.glob("*/lab.json"))
    if not labs:
        raise InspectError("no lab is running (no run/*/lab.json); start one with `handoff lab up`")
    if len(labs) > 1:
        names = ", ".join(str(p) for p in labs)
        raise InspectError(f"several labs are running ({names}): name one with --run-dir")
    return labs[0]


def _channel(socket: Path) -> grpc.Channel:
    if not socket.exists():
        raise InspectError(f"{socket} does not exist: is that service running?")
    return grpc.insecure_channel(f"unix:{socket.resolve()}")


def _call(what: str, function: object, request: object) -> object:
    try:
        return function(request, timeout=5.0)  # type: ignore[operator]
    except grpc.RpcError as error:
        raise InspectError(f"{what}: {error.code().name}: {error.details()}") from None


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def flows_table(response: pb.ListFlowsResponse, now: float) -> Table:
    table = Table(title=f"{len(response.flows)} flows")
    for column in ("client", "VIP", "back-end", "flow id", "state", "age",
                   "packets", "bytes", "classifier"):
        table.add_column(column, justify="right" if column in ("packets", "bytes") else "left")
    for flow in response.flows:
        c = flow.connection
        end = flow.ended_at or now
        backend = flow.backend_name or flow.ref.backend
        state = flow.state if flow.on_switch or flow.state != "installed" else "installed (lost)"
        table.add_row(
            f"{c.client_ip}:{c.client_port}", f"{c.vip}:{c.vip_port}", backend,
            f"{flow.ref.flow_id:#010x}", state, _age(end - flow.created_at),
            str(flow.packets), str(flow.bytes), flow.classifier,
        )
    return table


def flows_summary_table(response: pb.ListFlowsResponse) -> Table:
    """One row per back-end: live and ended flows, and switch counters."""
    rows: dict[str, list[int]] = {}
    for flow in response.flows:
        row = rows.setdefault(flow.backend_name or flow.ref.backend, [0, 0, 0, 0])
        row[0 if flow.state != "quarantine" else 1] += 1
        row[2] += flow.packets
        row[3] += flow.bytes
    table = Table(title=f"{len(response.flows)} flows by back-end")
    for column in ("back-end", "live", "ended", "packets", "bytes"):
        table.add_column(column, justify="left" if column == "back-end" else "right")
    for backend in sorted(rows):
        table.add_row(backend, *(str(v) for v in rows[backend]))
    return table


def stats_table(response: pb.StatsResponse) -> Table:
    title = f"{response.role} {response.name}"
    if response.role == "controller":
        title += " (primary)" if response.primary else " (backup)"
    table = Table(title=title)
    table.add_column("counter")
    table.add_column("value", justify="right")
    prefix = f"p4handoff_{response.role}_"
    for name in sorted(response.counters):
        if name.split("{")[0].endswith(("_created", "_count", "_sum", "_bucket")):
            continue  # histogram internals: the latency rows below say it better
        table.add_row(name.removeprefix(prefix), f"{response.counters[name]:g}")
    for latency in response.latencies:
        table.add_row(
            f"{latency.step} latency (n={latency.count})",
            f"p50 {latency.p50_s * 1e3:.2f} ms  p99 {latency.p99_s * 1e3:.2f} ms  "
            f"max {latency.max_s * 1e3:.2f} ms",
        )
    return table


def policy_table(response: pb.PolicyResponse) -> Table:
    table = Table(title=f"policy {response.source} (no match: {response.on_no_match})")
    for column in ("pool", "algorithm", "back-end", "weight", "live", "active"):
        table.add_column(column)
    for pool in response.pools:
        for backend in pool.backends:
            table.add_row(pool.name, pool.algorithm, backend.name, str(backend.weight),
                          "yes" if backend.live else "NO", str(backend.active))
    return table


def _classifier_sockets(run_dir: Path, name: str | None) -> list[Path]:
    sockets = sorted(run_dir.glob(CLASSIFIER_SOCKETS))
    if name is not None:
        sockets = [s for s in sockets if s.name == f"classifier-{name}.sock"]
        if not sockets:
            raise InspectError(f"no classifier named {name!r} in {run_dir}")
    return sockets


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="handoff", description="ask a running lab")
    commands = parser.add_subparsers(dest="command", required=True)
    flows = commands.add_parser("flows", help="handed-off connections with switch counters")
    flows.add_argument("--all", action="store_true", help="also flows in quarantine")
    flows.add_argument("--watch", type=float, metavar="SECONDS", help="refresh every SECONDS")
    commands.add_parser("stats", help="controller and classifier counters and latencies")
    policy = commands.add_parser("policy", help="show or reload a classifier's policy")
    policy.add_argument("action", choices=("show", "reload"))
    policy.add_argument("--classifier", help="classifier name (default: all)")
    for sub in commands.choices.values():
        sub.add_argument("--run-dir", help="the lab's run directory (default: the one running)")
    args = parser.parse_args(argv)
    console = Console()
    try:
        run_dir = find_run_dir(args.run_dir)
        if args.command == "flows":
            _flows(console, run_dir, args.all, args.watch)
        elif args.command == "stats":
            _stats(console, run_dir)
        else:
            _policy(console, run_dir, args.action, args.classifier)
    except InspectError as error:
        print(f"handoff {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def list_flows(run_dir: Path, include_ended: bool = False) -> pb.ListFlowsResponse:
    with _channel(run_dir / CONTROLLER_SOCKET) as channel:
        stub = pb_grpc.ControllerStub(channel)  # type: ignore[no-untyped-call]
        request = pb.ListFlowsRequest(include_ended=include_ended, counters=True)
        response = _call("controller", stub.ListFlows, request)
    assert isinstance(response, pb.ListFlowsResponse)
    return response


def controller_stats(run_dir: Path) -> pb.StatsResponse:
    with _channel(run_dir / CONTROLLER_SOCKET) as channel:
        stub = pb_grpc.ControllerStub(channel)  # type: ignore[no-untyped-call]
        response = _call("controller", stub.Stats, pb.StatsRequest())
    assert isinstance(response, pb.StatsResponse)
    return response


def classifier_stats(run_dir: Path, name: str | None = None) -> list[pb.StatsResponse]:
    answers = []
    for socket in _classifier_sockets(run_dir, name):
        with _channel(socket) as channel:
            stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
            response = _call(socket.stem, stub.Stats, pb.StatsRequest())
        assert isinstance(response, pb.StatsResponse)
        answers.append(response)
    return answers


def _flows(console: Console, run_dir: Path, include_ended: bool, watch: float | None) -> None:
    while True:
        console.print(flows_table(list_flows(run_dir, include_ended), time.time()))
        if watch is None:
            return
        time.sleep(watch)


def _stats(console: Console, run_dir: Path) -> None:
    console.print(stats_table(controller_stats(run_dir)))
    for answer in classifier_stats(run_dir):
        console.print(stats_table(answer))


def _policy(console: Console, run_dir: Path, action: str, name: str | None) -> None:
    for socket in _classifier_sockets(run_dir, name):
        with _channel(socket) as channel:
            stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
            if action == "show":
                response = _call(socket.stem, stub.GetPolicy, pb.GetPolicyRequest())
            else:
                response = _call(socket.stem, stub.ReloadPolicy, pb.ReloadPolicyRequest())
            assert isinstance(response, pb.PolicyResponse)
            console.print(policy_table(response))
            if action == "reload":
                console.print(f"{socket.stem}: policy reloaded from {response.source}")
