"""`handoff flows|stats|policy|trace`: ask a running lab or deployment.

The controller and each classifier serve P4 Handoff's own gRPC API
(controller/proto/handoff.proto); in a lab on Unix sockets in its run
directory, in a deployment wherever their `--listen`/`--rpc` say. Which
ones to ask is said the same way on every command (controller.lab.address);
with one lab up, nothing needs to be said. Tables fit the terminal
(controller.lab.views), `--json` prints one document, `--watch SECONDS`
repeats.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from rich.console import Console, RenderableType

from controller.lab import views
from controller.lab.address import AddressError, Services, address_parent, lab_services, resolve
from controller.proto import handoff_pb2 as pb
from controller.proto import handoff_pb2_grpc as pb_grpc

InspectError = AddressError  # the name older callers use
Where = Services | Path  # a lab's run directory will do


def _services(where: Where) -> Services:
    return where if isinstance(where, Services) else lab_services(where)


def _call(what: str, function: Any, request: object) -> Any:
    try:
        return function(request, timeout=5.0)
    except grpc.RpcError as error:
        raise AddressError(f"{what}: {error.code().name}: {error.details()}") from None


# ---------------------------------------------------------------- the calls


def list_flows(where: Where, include_ended: bool = False) -> pb.ListFlowsResponse:
    services = _services(where)
    with services.channel(services.controller_target(), "controller") as channel:
        stub = pb_grpc.ControllerStub(channel)  # type: ignore[no-untyped-call]
        request = pb.ListFlowsRequest(include_ended=include_ended, counters=True)
        response: pb.ListFlowsResponse = _call("controller", stub.ListFlows, request)
    return response


def trace_flows(where: Where, request: pb.TraceRequest) -> pb.ListFlowsResponse:
    services = _services(where)
    with services.channel(services.controller_target(), "controller") as channel:
        stub = pb_grpc.ControllerStub(channel)  # type: ignore[no-untyped-call]
        response: pb.ListFlowsResponse = _call("controller", stub.TraceFlows, request)
    return response


def controller_stats(where: Where) -> pb.StatsResponse:
    services = _services(where)
    with services.channel(services.controller_target(), "controller") as channel:
        stub = pb_grpc.ControllerStub(channel)  # type: ignore[no-untyped-call]
        response: pb.StatsResponse = _call("controller", stub.Stats, pb.StatsRequest())
    return response


def _each_classifier(
    where: Where, name: str | None, call: Callable[[str, pb_grpc.ClassifierStub], Any]
) -> list[Any]:
    services = _services(where)
    answers = []
    for classifier, target in sorted(services.classifier_targets(name).items()):
        with services.channel(target, f"classifier {classifier}") as channel:
            stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
            answers.append(call(classifier, stub))
    return answers


def classifier_stats(where: Where, name: str | None = None) -> list[pb.StatsResponse]:
    return _each_classifier(
        where, name, lambda n, stub: _call(f"classifier {n}", stub.Stats, pb.StatsRequest())
    )


def classifier_policies(
    where: Where, name: str | None = None, reload: bool = False
) -> list[tuple[str, pb.PolicyResponse]]:
    def ask(classifier: str, stub: pb_grpc.ClassifierStub) -> tuple[str, pb.PolicyResponse]:
        if reload:
            return classifier, _call(f"classifier {classifier}", stub.ReloadPolicy,
                                     pb.ReloadPolicyRequest())  # fmt: skip
        return classifier, _call(f"classifier {classifier}", stub.GetPolicy,
                                 pb.GetPolicyRequest())  # fmt: skip

    return _each_classifier(where, name, ask)


def recent_handoffs(
    where: Where, request: pb.TraceRequest, name: str | None = None
) -> list[pb.RecentHandoffsResponse]:
    return _each_classifier(
        where, name,
        lambda n, stub: _call(f"classifier {n}", stub.RecentHandoffs, request),
    )  # fmt: skip


# ---------------------------------------------------------------- trace


def trace_request(text: str) -> pb.TraceRequest:
    """`CLIENT:PORT` (`[CLIENT]:PORT` for IPv6), `CLIENT` (every connection of
    that address) or a flow id (`0x00010002` or decimal)."""
    if text.lower().startswith("0x") or text.isdigit():
        try:
            value = int(text, 0) if text.lower().startswith("0x") else int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a flow id") from None
        if not 0 < value < 1 << 32:
            raise argparse.ArgumentTypeError(f"flow id {text!r} is not in 1..0xffffffff")
        return pb.TraceRequest(flow_id=value)
    if text.startswith("["):  # [IPv6]:PORT or [IPv6]
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
        bad_port = rest != "" and not rest.startswith(":")
    elif text.count(":") > 1:  # a bare IPv6 address
        host, port, bad_port = text, "", False
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            host, port = text, ""
        bad_port = False
    try:
        if bad_port:
            raise ValueError(text)
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not CLIENT:PORT (an IPv4 address and a port, or [IPv6]:PORT), "
            "CLIENT or a flow id"
        ) from None
    if port and (not port.isdigit() or not 0 < int(port) <= 0xFFFF):
        raise argparse.ArgumentTypeError(f"{text!r}: port {port!r} is not in 1..65535")
    return pb.TraceRequest(client_ip=address, client_port=int(port) if port else 0)


def trace(where: Where, request: pb.TraceRequest, limit: int = 0) -> list[views.Story]:
    """Every connection matching `request` that the controller or a classifier
    still knows, newest first, each with its agent's health."""
    services = _services(where)
    asked = pb.TraceRequest()
    asked.CopyFrom(request)
    asked.limit = limit
    records = [r for answer in recent_handoffs(services, asked) for r in answer.handoffs]
    flows = list(trace_flows(services, asked).flows)
    stories = views.join_stories(records, flows)
    live: dict[str, bool] = {}
    for _, policy in classifier_policies(services):
        for pool in policy.pools:
            for backend in pool.backends:
                live[backend.name] = live.get(backend.name, False) or backend.live
    for story in stories:
        backend = (story.flow.backend_name if story.flow is not None else "") or (
            story.record.backend_name if story.record is not None else "")
        story.agent_live = live.get(backend) if backend else None
    return stories[:limit] if limit else stories


def describe(request: pb.TraceRequest) -> str:
    if request.flow_id:
        return f"flow {views.flow_id(request.flow_id)}"
    if request.client_port:
        return f"connection {views.endpoint(request.client_ip, request.client_port)}"
    return f"connections of {request.client_ip}"


# ---------------------------------------------------------------- the command


def parser() -> argparse.ArgumentParser:
    parent = address_parent()
    output = argparse.ArgumentParser(add_help=False)
    shown = output.add_argument_group("output")
    shown.add_argument("--json", action="store_true", help="one JSON document instead of tables")
    shown.add_argument("--watch", type=_seconds, metavar="SECONDS",
                       help="print again every SECONDS until Ctrl-C (with --json: one "
                            "document per line)")  # fmt: skip
    top = argparse.ArgumentParser(prog="handoff", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = top.add_subparsers(dest="command", required=True)
    flows = commands.add_parser("flows", parents=[parent, output],
                                help="handed-off connections with switch counters")  # fmt: skip
    flows.add_argument("--all", action="store_true", help="also flows in quarantine")
    flows.add_argument("--by-backend", action="store_true", help="one row per back-end")
    commands.add_parser("stats", parents=[parent, output],
                        help="controller and classifier counters and latencies")  # fmt: skip
    policy = commands.add_parser("policy", parents=[parent, output],
                                 help="show or reload the classifiers' policy")  # fmt: skip
    policy.add_argument("action", choices=("show", "reload"))
    policy.add_argument("--name", help="only this classifier (default: all)")
    trace_cmd = commands.add_parser(
        "trace", parents=[parent, output], help="one connection's story",
        description="One connection's story: the classifier's decision and rule, the flow id, "
        "the handoff's steps, the switch entry and its counters, the agent, how it ended.",
    )  # fmt: skip
    trace_cmd.add_argument("connection", type=trace_request, metavar="CLIENT:PORT|FLOW_ID",
                           help="e.g. 10.0.1.10:40000, 10.0.1.10 (all its connections) "
                                "or 0x00010002")  # fmt: skip
    trace_cmd.add_argument("--limit", type=int, default=0,
                           help="at most this many connections, newest first")  # fmt: skip
    return top


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--watch {text}: must be more than 0 seconds")
    return value


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    console = views.make_console()
    try:
        services = resolve(args)
        view = _view(args, services)
        repeat(console, view, args.json, args.watch)
    except AddressError as error:
        print(f"handoff {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


View = Callable[[int], tuple[list[RenderableType], dict[str, Any]]]


def repeat(console: Console, view: View, as_json: bool, watch: float | None) -> None:
    """Print the view once, or every `watch` seconds (clearing a terminal)."""
    while True:
        tables, document = view(console.width)
        if as_json:
            text = json.dumps(document, indent=None if watch else 2, sort_keys=False)
            print(text, flush=True)
        else:
            if watch is not None and console.is_terminal:
                console.clear()
            for table in tables:
                console.print(table)
            if watch is not None and not console.is_terminal:
                print(flush=True)
        if watch is None:
            return
        time.sleep(watch)


def _view(args: argparse.Namespace, services: Services) -> View:
    if args.command == "flows":
        return lambda width: _flows(services, args.all, args.by_backend, width)
    if args.command == "stats":
        return lambda width: _stats(services, width)
    if args.command == "policy":
        reload = args.action == "reload"
        if reload and args.watch:
            raise AddressError("policy reload does not --watch")
        services.classifier_targets(args.name)  # an unknown name fails before any call
        return lambda width: _policy(services, args.name, reload, width)
    return lambda width: _trace(services, args.connection, args.limit, width)


def _flows(
    services: Services, include_ended: bool, by_backend: bool, width: int
) -> tuple[list[RenderableType], dict[str, Any]]:
    response = list_flows(services, include_ended)
    now = time.time()
    table = (views.flows_summary_table(response, width) if by_backend
             else views.flows_table(response, now, width))  # fmt: skip
    return [table], views.flows_json(response, now)


def _stats(services: Services, width: int) -> tuple[list[RenderableType], dict[str, Any]]:
    controller = controller_stats(services)
    classifiers = classifier_stats(services)
    tables: list[RenderableType] = []
    for answer in (controller, *classifiers):
        tables += views.stats_tables(answer, width)
    document = {"controller": views.stats_json(controller),
                "classifiers": [views.stats_json(a) for a in classifiers]}  # fmt: skip
    return tables, document


def _policy(
    services: Services, name: str | None, reload: bool, width: int
) -> tuple[list[RenderableType], dict[str, Any]]:
    answers = classifier_policies(services, name, reload)
    tables: list[RenderableType] = []
    for classifier, policy in answers:
        tables.append(views.policy_table(policy, classifier, width))
        if reload:
            tables.append(views.note(f"{classifier}: policy reloaded from {policy.source}"))
    document = {"reloaded": reload,
                "classifiers": [views.policy_json(p, c) for c, p in answers]}  # fmt: skip
    return tables, document


def _trace(
    services: Services, request: pb.TraceRequest, limit: int, width: int
) -> tuple[list[RenderableType], dict[str, Any]]:
    stories = trace(services, request, limit)
    if not stories:
        classifiers = ", ".join(sorted(services.classifiers)) or "no classifier"
        raise AddressError(
            f"no {describe(request)} is known to the controller or to {classifiers} "
            "(they remember the most recent connections only)"
        )
    now = time.time()
    tables: list[RenderableType] = list(views.trace_tables(stories, width))
    return tables, views.trace_json(describe(request), stories, now)
