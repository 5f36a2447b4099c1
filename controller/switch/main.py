"""`handoff controller`: the P4Runtime primary of the forwarder and the flow table's owner.

The process holds one P4Runtime session with the switch and follows
primacy: while primary, its `Controller` (controller.switch.core) is active
and the gRPC service of controller/proto/handoff.proto is served
(controller.switch.service); otherwise
it waits as a backup, stream open, serving nothing, until the switch
promotes it (when the primary's session ends). A session the switch drops
is replaced by a new one, and activation reconciles the switch again, so a
restarted switch is rebuilt too.

With several switches (a `switches:` topology) the process holds one
session per switch and follows primacy on each on its own: the entry
switch's `Controller` as above, and a `TransitSwitch` (controller.switch.
transit) for each other switch, each in its own thread. A transit switch
that restarts is rebuilt by its own thread while the entry switch and the
service carry on; a backup controller takes over switch by switch.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import queue
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, start_http_server

from controller.config.topology import Topology, TopologyError, load_topology
from controller.handoff.cliargs import agent_override, host_port
from controller.handoff.keys import KeyFileError, load_keys
from controller.handoff.tls import add_tls_arguments, tls_files
from controller.p4rt import P4RuntimeClient, P4RuntimeError, load_p4info
from controller.switch.agent_release import AgentReleaser
from controller.switch.core import Controller, Settings
from controller.switch.flowstore import FlowStore, FlowStoreError
from controller.switch.pipeline import Pipeline, PipelineError, build_pipeline
from controller.switch.service import ServiceHost
from controller.switch.tables import host_names
from controller.switch.transit import TransitSwitch

log = logging.getLogger("p4handoff.controller")

DEFAULT_AGENT_PORT = 7100


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="handoff controller",
        description="Run the P4Runtime controller of a P4 Handoff forwarder.",
    )
    p.add_argument("--topology", required=True, help="topology YAML file")
    p.add_argument("--run-dir", default=".", help="directory for the socket, database, pipeline")
    p.add_argument(
        "--switch",
        action="append",
        default=[],
        help="P4Runtime address (default unix:RUN_DIR/p4runtime.sock); with several "
        "switches NAME=ADDRESS, once for each (default unix:RUN_DIR/p4runtime-NAME.sock)",
    )
    p.add_argument("--device-id", type=int, default=0)
    p.add_argument("--election-id", type=int, default=10, help="higher wins primacy (default 10)")
    p.add_argument("--name", default="", help="name in logs and stats (default controller-ID)")
    p.add_argument("--target", choices=("p4sim", "bmv2"), help="default: the topology's")
    p.add_argument("--p4info", help="P4Info file (text or binary); with --device-config")
    p.add_argument("--device-config", help="device config file instead of compiling the program")
    p.add_argument(
        "--listen",
        help="service address (default unix:RUN_DIR/controller.sock); "
        "on TCP with --tls-* it serves mutual TLS",
    )
    p.add_argument("--db", help="flow table (default RUN_DIR/flows.sqlite)")
    p.add_argument("--keys", required=True, help="agent key file (for release notices)")
    p.add_argument("--agent-port", type=int, default=DEFAULT_AGENT_PORT)
    p.add_argument(
        "--agent",
        action="append",
        type=agent_override,
        default=[],
        help="NAME=HOST:PORT of a back-end's agent (default its address:--agent-port)",
    )
    p.add_argument("--idle-timeout", type=float, default=120.0, help="seconds (default 120)")
    p.add_argument(
        "--end-grace",
        type=float,
        default=2.0,
        help="seconds an entry must stay quiet after FIN/RST; once both sides sent"
        " their FIN, seconds it stays (default 2)",
    )
    p.add_argument("--quarantine", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--pending-timeout", type=float, default=30.0, help="seconds (default 30)")
    p.add_argument("--max-batch", type=int, default=1024, help="updates per Write (default 1024)")
    p.add_argument("--metrics", type=host_port, help="HOST:PORT for Prometheus metrics")
    add_tls_arguments(p, "P4Runtime to the switch, release notices to agents and a TCP --listen")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def load_pipeline(
    args: argparse.Namespace, topology: Topology, run_dir: Path, switch: str | None = None
) -> Pipeline:
    """The pipeline of `switch` (default the entry switch), for its target."""
    if args.p4info or args.device_config:
        if not (args.p4info and args.device_config):
            raise SystemExit("handoff controller: --p4info and --device-config go together")
        return Pipeline(load_p4info(args.p4info), Path(args.device_config).read_bytes())
    spec = topology.switch_named(switch) if switch else topology.switch
    target = args.target or spec.target
    return build_pipeline(spec.program, target, run_dir / "pipeline" / target)


def switch_addresses(args: argparse.Namespace, topology: Topology, run_dir: Path) -> dict[str, str]:
    """Each switch's P4Runtime address by name: `--switch` or the run directory's socket."""
    given: dict[str, str] = {}
    for value in args.switch:
        if topology.multi_switch:
            name, sep, address = value.partition("=")
            if not sep or name not in {s.name for s in topology.all_switches}:
                raise SystemExit(
                    f"handoff controller: --switch {value!r}: expected NAME=ADDRESS with NAME "
                    f"one of {', '.join(s.name for s in topology.all_switches)}"
                )
            given[name] = address
        else:
            given[topology.switch.name] = value
    return {
        s.name: given.get(s.name) or f"unix:{run_dir / topology.p4runtime_socket(s.name)}"
        for s in topology.all_switches
    }


def run(args: argparse.Namespace, stop: threading.Event) -> None:
    """Connect, take part in arbitration and serve while primary, until `stop`."""
    topology = load_topology(args.topology)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    keys = load_keys(args.keys)
    tls = tls_files(args)
    credentials = None if tls is None else tls.channel_credentials()
    pipeline = load_pipeline(args, topology, run_dir)
    registry = CollectorRegistry()
    overrides = dict(args.agent)
    names = host_names(topology)

    def agent_address(backend: str) -> tuple[str, int]:
        """A back-end's agent, by either of its addresses: it listens on the
        host's IPv4 address (a flow's back-end address is IPv6 for IPv6
        connections)."""
        name = names.get(backend, "")
        found: tuple[str, int] | None = overrides.get(name)
        if found is not None:
            return found
        if name:
            return (str(topology.host(name).interface.ip), args.agent_port)
        return (backend, args.agent_port)

    releaser = AgentReleaser(
        keys, agent_address, registry, retry_for_s=args.quarantine,
        ssl_context=None if tls is None else tls.client_context(),
    )  # fmt: skip
    store = FlowStore(args.db or run_dir / "flows.sqlite", quarantine_s=args.quarantine)
    primacy: queue.Queue[bool] = queue.Queue()
    addresses = switch_addresses(args, topology, run_dir)
    address = addresses[topology.switch.name]

    def session_of(address: str, primacy: queue.Queue[bool]) -> Callable[[], P4RuntimeClient]:
        def session() -> P4RuntimeClient:
            return P4RuntimeClient(
                address, device_id=args.device_id, election_id=args.election_id,
                on_primacy=primacy.put, credentials=credentials,
            )  # fmt: skip

        return session

    session = session_of(address, primacy)

    settings = Settings(
        forwarder=str(topology.switch.forwarder_address),
        forwarder6=(
            str(topology.switch.forwarder_address6)
            if topology.switch.forwarder_address6 is not None
            else None
        ),
        name=args.name or f"controller-{args.election_id}",
        idle_timeout_s=args.idle_timeout,
        end_grace_s=args.end_grace,
        pending_timeout_s=args.pending_timeout,
        max_batch=args.max_batch,
    )
    controller = Controller(
        topology, store, session(), releaser, settings, pipeline=pipeline, registry=registry
    )
    listen = args.listen or f"unix:{run_dir / 'controller.sock'}"
    api_tls = None if tls is None or listen.startswith("unix:") else tls.server_credentials()
    host = ServiceHost(controller, listen, credentials=api_tls)
    if args.metrics:
        start_http_server(args.metrics[1], args.metrics[0], registry=registry)
    transits: list[tuple[TransitSwitch, threading.Thread]] = []
    for spec in topology.all_switches:
        if spec.name == topology.switch.name:
            continue
        own: queue.Queue[bool] = queue.Queue()
        transit_session = session_of(addresses[spec.name], own)
        transit = TransitSwitch(
            topology,
            spec.name,
            transit_session(),
            load_pipeline(args, topology, run_dir, spec.name),
        )
        thread = threading.Thread(
            target=_arbitrate, args=(transit_session, transit, None, own, stop),
            name=f"switch-{spec.name}", daemon=True,
        )  # fmt: skip
        thread.start()
        transits.append((transit, thread))
    try:
        _arbitrate(session, controller, host, primacy, stop)
    finally:
        host.stop()
        for transit, thread in transits:
            thread.join(timeout=5)
            with contextlib.suppress(P4RuntimeError):
                transit.switch.close()
        controller.close()
        controller.switch.close()
        releaser.close()
        store.close()


class _Role(Protocol):
    """What follows primacy on one switch: the entry switch's Controller or a TransitSwitch."""

    switch: P4RuntimeClient

    @property
    def active(self) -> bool: ...

    def activate(self) -> None: ...

    def deactivate(self) -> None: ...


def _arbitrate(
    session: Callable[[], P4RuntimeClient],
    controller: _Role,
    host: _Host | None,
    primacy: queue.Queue[bool],
    stop: threading.Event,
) -> None:
    """Connect to the switch and follow primacy: active (and serving, with
    `host`) while primary, waiting as a backup otherwise. A lost session is
    replaced by a new one (a fresh client each time: the stream's state is
    per client)."""
    serving: _Host = host if host is not None else _NoHost()
    connected = False
    while not stop.is_set():
        if not connected:
            try:
                controller.switch.connect()
                connected = True
                log.info(
                    "connected to %s: %s", controller.switch.address,
                    "primary" if controller.switch.is_primary else
                    f"backup (primary has election id {controller.switch.primary_election_id})",
                )  # fmt: skip
            except P4RuntimeError as exc:
                log.warning("cannot reach the switch: %s; retrying", exc)
                _replace_session(controller, session)
                stop.wait(1.0)
                continue
        with contextlib.suppress(queue.Empty):
            primacy.get(timeout=0.2)
        switch = controller.switch
        if switch.is_primary and not controller.active:
            try:
                controller.activate()
                serving.start()
            except P4RuntimeError as exc:
                log.error("taking over the switch failed: %s; reconnecting", exc)
                serving.stop()
                controller.deactivate()
                _replace_session(controller, session)
                connected = False
                stop.wait(1.0)
        elif not switch.is_primary and controller.active:
            log.warning("lost primacy on %s; waiting as backup", switch.address)
            serving.stop()
            controller.deactivate()
        if switch.stream_error is not None:
            log.warning("stream to the switch ended: %s %s; reconnecting", *switch.stream_error)
            serving.stop()
            controller.deactivate()
            _replace_session(controller, session)
            connected = False
            stop.wait(1.0)


class _Host(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class _NoHost:
    """A transit switch serves no API."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def _replace_session(controller: _Role, session: Callable[[], P4RuntimeClient]) -> None:
    with contextlib.suppress(P4RuntimeError):
        controller.switch.close()
    controller.switch = session()


def main(argv: Sequence[str] | None = None) -> int:
    """`handoff controller`: run until SIGTERM or SIGINT."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        run(args, stop)
    except (TopologyError, KeyFileError, FlowStoreError, PipelineError, OSError) as exc:
        print(f"handoff controller: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
