"""`handoff shell`: p4runtime-shell on the running lab's switch.

p4runtime-shell pins protobuf 3.20 and cannot share a process with the
project's protobuf 6 stack, so it runs from its own venv (`make
p4rt-shell-venv`). It joins as a backup (election id 1, below the
controller's), so it reads everything and cannot disturb the controller's
writes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from controller.lab.query import InspectError, find_run_dir
from controller.lab.switch import SOCKET_NAME

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SHELL_PYTHON = REPO / ".venv-p4rt-shell" / "bin" / "python"


def shell_argv(python: Path, socket: Path, device_id: int) -> list[str]:
    return [
        str(python), "-m", "p4runtime_sh", "--grpc-addr", f"unix:{socket.resolve()}",
        "--device-id", str(device_id), "--election-id", "0,1",
    ]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="handoff shell", description=__doc__)
    parser.add_argument("--run-dir", help="the lab's run directory (default: the one running)")
    parser.add_argument("--device-id", type=int, default=0)
    parser.add_argument(
        "--python", type=Path,
        default=Path(os.environ.get("P4RT_SHELL_PYTHON", DEFAULT_SHELL_PYTHON)),
        help="python of the p4runtime-shell venv (default .venv-p4rt-shell/bin/python)",
    )
    args = parser.parse_args(argv)
    try:
        socket = find_run_dir(args.run_dir) / SOCKET_NAME
        if not socket.exists():
            raise InspectError(f"{socket} does not exist: is the lab's switch running?")
        if not args.python.exists():
            raise InspectError(f"{args.python} not found: run `make p4rt-shell-venv` first")
    except InspectError as error:
        print(f"handoff shell: {error}", file=sys.stderr)
        return 1
    command = shell_argv(args.python, socket, args.device_id)
    os.execv(command[0], command)
