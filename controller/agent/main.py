"""`handoff agent`: the process. Command line, the kernel back-ends
(controller.agent.kernel) wired into an `Agent` (controller.agent.core),
Prometheus metrics, and SIGTERM/SIGINT to stop after running requests.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
import sys
from collections.abc import Sequence

from prometheus_client import start_http_server

from controller.agent.core import DEFAULT_COMMIT_TIMEOUT_S, Agent, AgentConfig
from controller.agent.kernel import kernel_backends
from controller.handoff import nft, tcprepair
from controller.handoff.blob import DEFAULT_MAX_SIZE
from controller.handoff.cliargs import host_port
from controller.handoff.keys import KeyFileError, load_keys
from controller.handoff.replay import DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SKEW_MS
from controller.handoff.tls import add_tls_arguments, tls_files

log = logging.getLogger("p4handoff.agent")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="handoff agent", description="Migrator agent: accept handed-off TCP connections."
    )
    p.add_argument("--listen", type=host_port, default=("0.0.0.0", 7100), help="HOST:PORT")
    p.add_argument("--keys", required=True, help="key file (see controller/handoff/keys.py)")
    p.add_argument("--handover", required=True, help="Unix socket of the application")
    p.add_argument(
        "--backend-address",
        required=True,
        action="append",
        type=_address,
        help="this back-end's address: the destination of the forwarder's tunnelled packets "
        "(dual stack: once for IPv4 and once for IPv6)",
    )
    p.add_argument(
        "--forwarder",
        action="append",
        type=_address,
        default=[],
        help="accepted forwarder (default: any); tunnelled segments from these forwarders "
        "with no mapping are dropped silently (counted: nft list counter ip[6] "
        f"{nft.DECAP_TABLE} unmapped, and p4handoff_agent_unmapped_segments_total)",
    )
    p.add_argument("--vip", action="append", type=host_port, default=[], help="served VIP:PORT")
    p.add_argument("--metrics", type=host_port, help="HOST:PORT for Prometheus metrics")
    p.add_argument("--max-blob", type=int, default=DEFAULT_MAX_SIZE, help="bytes")
    p.add_argument("--max-age-ms", type=int, default=DEFAULT_MAX_AGE_MS)
    p.add_argument("--max-skew-ms", type=int, default=DEFAULT_MAX_SKEW_MS)
    p.add_argument(
        "--commit-timeout",
        type=float,
        default=DEFAULT_COMMIT_TIMEOUT_S,
        help="seconds a restored socket waits for the classifier's commit "
        f"(default {DEFAULT_COMMIT_TIMEOUT_S:g})",
    )
    add_tls_arguments(p, "classifiers and controllers connecting (certificate required)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address") from None


async def _run_agent(args: argparse.Namespace) -> None:
    config = AgentConfig(
        max_blob=args.max_blob,
        max_age_ms=args.max_age_ms,
        max_skew_ms=args.max_skew_ms,
        forwarders=frozenset(args.forwarder),
        vips=frozenset(args.vip),
        commit_timeout_s=args.commit_timeout,
    )
    keys = load_keys(args.keys)  # before touching the kernel: a bad key file changes nothing
    tls = tls_files(args)
    server_tls = None if tls is None else tls.server_context()
    try:
        backends, adopted = kernel_backends(args.backend_address, args.handover, args.forwarder)
    except ValueError as exc:
        raise SystemExit(f"handoff agent: error: {exc}") from None
    agent = Agent(keys, backends, config)
    agent.adopt(adopted)
    if args.metrics:
        start_http_server(args.metrics[1], args.metrics[0], registry=agent.registry)
    host, port = await agent.start(*args.listen, ssl_context=server_tls)
    log.info("agent listening on %s:%d with %d adopted flows", host, port, len(adopted))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        await agent.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """`handoff agent`: run until SIGTERM or SIGINT, then finish running requests."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        asyncio.run(_run_agent(args))
    except (KeyFileError, nft.NftError, tcprepair.RepairError, OSError) as exc:
        print(f"handoff agent: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
