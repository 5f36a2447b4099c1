"""`p4sim [options] PROGRAM`: the switch process, a drop-in for bmv2's
`simple_switch_grpc`.

Options keep simple_switch_grpc's names and meanings where the two overlap;
target options may follow a bare `--` (as simple_switch_grpc requires) or
come before it. A few bmv2-only options are accepted and ignored with a
warning, so existing launch scripts run unchanged. PROGRAM is a `.p4` file
or a device config written by `p4sim compile --device-config`; with
`--no-p4` the switch waits for a controller's SetForwardingPipelineConfig.
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

from p4sim.compiler import CompiledProgram
from p4sim.errors import P4SimError
from p4sim.server.pipeline import compile_path
from p4sim.server.server import SwitchServer
from p4sim.server.tls import TlsConfigError, server_credentials

log = logging.getLogger("p4sim")

LOG_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "off": logging.CRITICAL + 10,
}
# bmv2 options that have no meaning for p4sim: (flag, takes a value).
IGNORED = (
    ("--thrift-port", True),
    ("--log-file", True),
    ("--log-flush", False),
    ("--notifications-addr", True),
    ("--debugger", False),
    ("--debugger-addr", True),
    ("--use-files", True),
    ("--dump-packet-data", True),
    ("--max-port-count", True),
    ("--priority-queues", True),
    ("--nanolog", True),
    ("--dp-grpc-server-addr", True),
    ("--drop-port", True),
)


def _interface(text: str) -> tuple[int, str]:
    number, sep, name = text.partition("@")
    if not sep or not number.isdigit() or not name:
        raise argparse.ArgumentTypeError(f"expected PORT@IFACE (e.g. 1@veth0), got {text!r}")
    return int(number), name


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="p4sim",
        description="Run a P4_16 v1model program as a P4Runtime switch "
        "(simple_switch_grpc compatible).",
        epilog="Also: p4sim compile ..., p4sim stf ... (see p4sim compile --help).",
        allow_abbrev=False,
    )
    p.add_argument("program", nargs="?", help=".p4 source or device config from `p4sim compile`")
    p.add_argument("--no-p4", action="store_true", help="start without a program")
    p.add_argument("--device-id", type=int, default=0, help="P4Runtime device id (default 0)")
    p.add_argument(
        "-i",
        "--interface",
        type=_interface,
        action="append",
        default=[],
        metavar="PORT@IFACE",
        help="attach a Linux interface as a port (repeatable)",
    )
    p.add_argument(
        "--pcap",
        nargs="?",
        const=".",
        metavar="DIR",
        help="write per-port pcaps to DIR (default .)",
    )
    p.add_argument("--log-console", action="store_true", help="log to stderr")
    p.add_argument("-L", "--log-level", choices=sorted(LOG_LEVELS), default="info")
    p.add_argument(
        "--cpu-port", type=int, help="port number of the controller (PacketIn/PacketOut)"
    )
    p.add_argument(
        "--grpc-server-addr",
        default="0.0.0.0:9559",
        metavar="HOST:PORT",
        help="P4Runtime listen address, or unix:/path (default 0.0.0.0:9559)",
    )
    p.add_argument("--grpc-server-ssl", action="store_true", help="serve gRPC over TLS")
    p.add_argument("--grpc-server-cacert", type=Path, metavar="FILE")
    p.add_argument("--grpc-server-cert", type=Path, metavar="FILE")
    p.add_argument("--grpc-server-key", type=Path, metavar="FILE")
    p.add_argument(
        "--grpc-server-with-client-auth",
        action="store_true",
        help="require client certificates signed by --grpc-server-cacert",
    )
    for flag, takes_value in IGNORED:
        if takes_value:
            p.add_argument(
                flag, dest="ignored_" + flag[2:].replace("-", "_"), help=argparse.SUPPRESS
            )
        else:
            p.add_argument(
                flag,
                dest="ignored_" + flag[2:].replace("-", "_"),
                action="store_true",
                help=argparse.SUPPRESS,
            )
    return p


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Target options after a bare `--` are parsed like the others."""
    args = [a for a in argv if a != "--"]
    return parser().parse_args(args)


def _setup_logging(args: argparse.Namespace) -> None:
    level = LOG_LEVELS[args.log_level] if args.log_console else logging.WARNING
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


async def serve(
    args: argparse.Namespace,
    program: CompiledProgram | None,
    credentials: grpc.ServerCredentials | None,
) -> int:
    loop = asyncio.get_running_loop()
    pcap = Path(args.pcap) if args.pcap is not None else None
    server = SwitchServer(loop, args.device_id, args.cpu_port, pcap)
    try:
        if program is not None:
            server.load(program)
        for number, ifname in args.interface:
            server.add_interface(number, ifname)
        await server.start(args.grpc_server_addr, credentials)
    except (OSError, ValueError, P4SimError) as error:
        print(f"p4sim: {error}", file=sys.stderr)
        await server.stop(0)
        return 1
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ports = ", ".join(f"{n}@{name}" for n, name in args.interface) or "none"
    print(
        f"p4sim: device {args.device_id} serving P4Runtime on {args.grpc_server_addr}; "
        f"ports: {ports}",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    await server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(arguments)
    if args.program is not None and not Path(args.program).exists():
        parser().error(f"{args.program}: no such program file (commands are: compile, stf)")
    _setup_logging(args)
    for flag, _ in IGNORED:
        if getattr(args, "ignored_" + flag[2:].replace("-", "_")):
            log.warning("%s is a bmv2 option without effect in p4sim; ignored", flag)
    if args.program is None and not args.no_p4:
        print("p4sim: give a PROGRAM (.p4 or device config) or --no-p4", file=sys.stderr)
        return 2
    if args.program is not None and args.no_p4:
        print("p4sim: --no-p4 and a PROGRAM exclude each other", file=sys.stderr)
        return 2
    program = None
    if args.program is not None:
        try:
            program = compile_path(Path(args.program))
        except P4SimError as error:
            print(error, file=sys.stderr)
            return 1
        except OSError as error:
            print(f"p4sim: {args.program}: {error.strerror}", file=sys.stderr)
            return 1
    credentials = None
    if args.grpc_server_ssl:
        try:
            credentials = server_credentials(
                args.grpc_server_cert,
                args.grpc_server_key,
                args.grpc_server_cacert,
                args.grpc_server_with_client_auth,
            )
        except TlsConfigError as error:
            print(f"p4sim: {error}", file=sys.stderr)
            return 2
    return asyncio.run(serve(args, program, credentials))


if __name__ == "__main__":
    sys.exit(main())
