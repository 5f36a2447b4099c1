"""`handoff lab up|down|status TOPOLOGY.yaml`: the lab for people.

Long steps print as they start, failures name the step and show the failing
process's log; `status` is one table of processes and namespaces.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from controller.config.topology import TARGETS, TopologyError
from controller.lab.lab import Lab, down, require_tools, status, up
from controller.lab.netns import LabError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="handoff lab", description=__doc__)
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("topology", help="topology YAML file, e.g. topologies/basic.yaml")
    parser.add_argument("--target", choices=TARGETS, help="switch target (default: the file's)")
    parser.add_argument("--run-root", default="run", help="run directories go here (default run/)")
    parser.add_argument(
        "--tls", action="store_true",
        help="up: mutual TLS on P4Runtime and every agent connection (certificates in RUN_DIR/tls)",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    console = Console()
    try:
        if os.geteuid() != 0:
            raise LabError("the lab creates network namespaces: run it as root")
        require_tools()
        lab = Lab.of(args.topology, Path(args.run_root))
        if args.action == "up":
            up(lab, args.target, step=lambda text: console.print(f"[bold]•[/] {text}"),
               tls=args.tls)  # fmt: skip
            secured = " with mutual TLS" if args.tls else ""
            console.print(f"[green]lab {lab.topology.name} is up{secured}[/]; "
                          f"logs in {lab.run_dir}/logs")  # fmt: skip
            _print_status(console, lab)
        elif args.action == "down":
            stopped, removed = down(lab)
            console.print(f"stopped {len(stopped)} processes, removed {len(removed)} namespaces"
                          f"; logs kept in {lab.run_dir}/logs")
        else:
            _print_status(console, lab)
    except (LabError, TopologyError) as error:
        print(f"handoff lab {args.action}: {error}", file=sys.stderr)
        return 1
    return 0


def _print_status(console: Console, lab: Lab) -> None:
    processes, namespaces = status(lab)
    table = Table(title=f"lab {lab.topology.name} ({len(namespaces)} namespaces)")
    for column in ("process", "namespace", "pid", "state", "log"):
        table.add_column(column)
    for process in processes:
        state = "[green]running[/]" if process.running else "[red]stopped[/]"
        table.add_row(process.name, process.namespace, str(process.pid), state, process.log)
    console.print(table)
    if not processes and not namespaces:
        console.print(f"lab {lab.topology.name} is down")
