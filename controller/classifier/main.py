"""`handoff classifier`: the process. Command line, wiring of the real kernel
steps, agents and controller client into a `Classifier` (controller.classifier.core),
its gRPC service, Prometheus metrics, and signals (SIGTERM/SIGINT stop it,
SIGHUP reloads the policy).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry, start_http_server

from controller.classifier.agent_pool import AgentPool
from controller.classifier.controller_client import GrpcController
from controller.classifier.core import Classifier, Settings
from controller.classifier.kernel import kernel_steps
from controller.classifier.policy import load_policy
from controller.classifier.service import serve_rpc
from controller.config.policy import PolicyError
from controller.config.topology import TopologyError, load_topology
from controller.handoff.cliargs import agent_override, host_port
from controller.handoff.keys import KeyFileError, load_keys
from controller.handoff.nft import NftError
from controller.handoff.tls import add_tls_arguments, tls_files

log = logging.getLogger("p4handoff.classifier")

DEFAULT_AGENT_PORT = 7100


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="handoff classifier",
        description="Accept connections on a VIP and hand each to a back-end.",
    )
    p.add_argument("--topology", required=True, help="topology YAML file")
    p.add_argument("--name", required=True, help="this classifier's host name in the topology")
    p.add_argument("--vip", type=host_port, help="VIP:PORT (default: the first VIP it serves)")
    p.add_argument("--listen", type=host_port, help="HOST:PORT to bind instead of VIP:PORT")
    p.add_argument("--policy", help="policy file (default: the VIP's, from the topology)")
    p.add_argument("--run-dir", default=".", help="where the controller's socket is")
    p.add_argument("--controller", help="service address (default unix:RUN_DIR/controller.sock)")
    p.add_argument("--keys", required=True, help="agent key file")
    p.add_argument("--agent-port", type=int, default=DEFAULT_AGENT_PORT)
    p.add_argument(
        "--agent",
        action="append",
        type=agent_override,
        default=[],
        help="NAME=HOST:PORT of a back-end's agent (default its address:--agent-port)",
    )
    p.add_argument("--agent-timeout", type=float, default=2.0, help="seconds (default 2)")
    p.add_argument("--abort-timeout", type=float, default=2.0, help="seconds (default 2)")
    p.add_argument("--heartbeat-interval", type=float, default=1.0, help="seconds (default 1)")
    p.add_argument("--heartbeat-failures", type=int, default=2, help="misses before down")
    p.add_argument(
        "--install-deadline",
        type=float,
        default=10.0,
        help="seconds for the switch write after the agent's ready; keep it below the "
        "agents' --commit-timeout (default 10)",
    )
    p.add_argument(
        "--controller-timeout",
        type=float,
        default=3.0,
        help="seconds a call waits for the controller, e.g. while it fails over (default 3)",
    )
    p.add_argument("--rpc", help="own service address (default unix:RUN_DIR/classifier-NAME.sock)"
                   "; on TCP with --tls-* it serves mutual TLS")
    p.add_argument("--metrics", type=host_port, help="HOST:PORT for Prometheus metrics")
    add_tls_arguments(p, "its connections to agents, to a TCP --controller and a TCP --rpc")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


async def run(args: argparse.Namespace) -> None:
    topology = load_topology(args.topology)
    if topology.host(args.name).role != "classifier":
        raise TopologyError(f"{topology.source}: host {args.name!r} is not a classifier")
    served = [v for v in topology.vips if args.name in v.classifiers]
    if args.vip:
        served = [v for v in served if (str(v.address), v.port) == args.vip]
    if not served:
        raise TopologyError(f"{topology.source}: {args.name} serves no VIP {args.vip or ''}")
    vip = served[0]
    policy_path = args.policy or vip.policy
    if policy_path is None:
        raise TopologyError(f"{topology.source}: VIP {vip.address} has no policy; pass --policy")
    backends = {h.name: str(h.interface.ip) for h in topology.hosts_with_role("backend")}
    backends6 = {
        h.name: str(h.interface6.ip)
        for h in topology.hosts_with_role("backend")
        if h.interface6 is not None
    }
    policy = load_policy(policy_path, backends.keys())
    keys = load_keys(args.keys)
    tls = tls_files(args)
    run_dir = Path(args.run_dir)
    overrides = dict(args.agent)
    registry = CollectorRegistry()
    agents = AgentPool(
        {n: overrides.get(n, (addr, args.agent_port)) for n, addr in backends.items()},
        keys,
        registry,
        interval_s=args.heartbeat_interval,
        failures_to_down=args.heartbeat_failures,
        ssl_context=None if tls is None else tls.client_context(),
    )
    # A dual-stack VIP is listened on in IPv6 too (not with --listen, which
    # names the one address to serve).
    vip6 = None if vip.address6 is None or args.listen else (str(vip.address6), vip.port)
    settings = Settings(
        name=args.name,
        vip=args.listen or (str(vip.address), vip.port),
        vip6=vip6,
        agent_timeout_s=args.agent_timeout,
        abort_timeout_s=args.abort_timeout,
        install_deadline_s=args.install_deadline,
    )
    controller = GrpcController(
        args.controller or f"unix:{run_dir / 'controller.sock'}", args.controller_timeout,
        credentials=None if tls is None else tls.channel_credentials(),
    )
    kernel = kernel_steps()
    classifier = Classifier(
        settings, policy, backends, agents, controller, keys, kernel, registry=registry,
        backends6=backends6,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: _reload(classifier))
    rpc: grpc.aio.Server | None = None
    try:
        await agents.start()
        await classifier.start()
        address = args.rpc or f"unix:{run_dir}/classifier-{args.name}.sock"
        api_tls = None if tls is None or address.startswith("unix:") else tls.server_credentials()
        rpc = await serve_rpc(classifier, address, api_tls)
        if args.metrics:
            start_http_server(args.metrics[1], args.metrics[0], registry=registry)
        await stopping.wait()
    finally:
        if rpc is not None:
            await rpc.stop(1)
        await classifier.stop()
        await agents.stop()
        await controller.close()
        kernel.close()


def _reload(classifier: Classifier) -> None:
    try:
        classifier.reload_policy()
    except PolicyError as exc:
        log.error("policy reload refused, the old policy stays: %s", exc)


def main(argv: Sequence[str] | None = None) -> int:
    """`handoff classifier`: run until SIGTERM or SIGINT; SIGHUP reloads the policy."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        asyncio.run(run(args))
    except (TopologyError, PolicyError, KeyFileError, NftError, OSError) as exc:
        print(f"handoff classifier: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
