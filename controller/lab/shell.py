"""`handoff shell`: p4runtime-shell on a lab's (or a deployment's) switch.

p4runtime-shell pins protobuf 3.20 and cannot share a process with the
project's protobuf 6 stack, so it runs from its own venv (`make
p4rt-shell-venv`). It joins as a backup (election id 1, below the
controller's), so it reads everything and cannot disturb the controller's
writes. On a `--tls` lab it presents the lab's controller certificate (the
switch accepts only clients with a certificate from the lab's CA); with
`--switch HOST:PORT` it uses the `--tls-*` files given.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from controller.handoff.tls import TlsFiles
from controller.lab.address import AddressError, address_parent, resolve
from controller.p4rt import grpc_tls_options

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SHELL_PYTHON = REPO / ".venv-p4rt-shell" / "bin" / "python"


# p4runtime-shell takes no gRPC channel options, and gRPC checks a `unix:`
# server's certificate against the socket's path: over TLS on a Unix socket
# the shell starts with its secure channels checking the name `localhost`, as
# the project's own client does (controller.p4rt.grpc_tls_options).
_NAME_OVERRIDE = """\
import runpy, grpc
_secure = grpc.secure_channel
def _with_name(target, credentials, options=None, compression=None):
    return _secure(target, credentials, [*(options or []), *OPTIONS], compression)
grpc.secure_channel = _with_name
runpy.run_module("p4runtime_sh", run_name="__main__", alter_sys=True)
"""


def shell_argv(python: Path, switch: str, device_id: int, tls: TlsFiles | None = None) -> list[str]:
    if switch.startswith("unix:"):
        switch = f"unix:{Path(switch.removeprefix('unix:')).resolve()}"
    options = grpc_tls_options(switch) if tls is not None else []
    start = ["-c", _NAME_OVERRIDE.replace("OPTIONS", repr(options))] if options else [
        "-m", "p4runtime_sh"]
    argv = [str(python), *start, "--grpc-addr", switch,
            "--device-id", str(device_id), "--election-id", "0,1"]  # fmt: skip
    if tls is not None:
        argv += ["--ssl", "--cacert", str(tls.ca.resolve()), "--cert", str(tls.cert.resolve()),
                 "--private-key", str(tls.key.resolve())]  # fmt: skip
    return argv


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="handoff shell", description=__doc__,
                                parents=[address_parent()],
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--device-id", type=int, default=0)
    p.add_argument(
        "--python", type=Path,
        default=Path(os.environ.get("P4RT_SHELL_PYTHON", DEFAULT_SHELL_PYTHON)),
        help="python of the p4runtime-shell venv (default .venv-p4rt-shell/bin/python)",
    )  # fmt: skip
    return p


def command(argv: Sequence[str]) -> list[str]:
    """The p4runtime-shell command line for `handoff shell ARGV`; AddressError
    when the switch or the shell is missing."""
    args = parser().parse_args(argv)
    services = resolve(args)
    switch = services.switch
    if switch is None:
        raise AddressError(f"no switch in {services.where}: give --switch HOST:PORT")
    if switch.startswith("unix:") and not Path(switch.removeprefix("unix:")).exists():
        raise AddressError(f"{switch.removeprefix('unix:')} does not exist: is the switch running?")
    tls = services.switch_tls
    if tls is not None:
        for path in (tls.ca, tls.cert, tls.key):
            if not path.exists():
                raise AddressError(f"TLS file {path} does not exist")
    if not args.python.exists():
        raise AddressError(f"{args.python} not found: run `make p4rt-shell-venv` first")
    return shell_argv(args.python, switch, args.device_id, tls)


def main(argv: Sequence[str]) -> int:
    try:
        argv_ = command(argv)
    except AddressError as error:
        print(f"handoff shell: {error}", file=sys.stderr)
        return 1
    os.execv(argv_[0], argv_)
