"""`handoff lab up|down|status [TOPOLOGY.yaml]`: the lab for people.

Long steps print as they start, failures name the step and show the failing
process's log; `status` is one table of processes (with `--json`, one
document; with `--watch SECONDS`, again and again). The lab is named as on
every other command (controller.lab.address): `up` needs its topology file,
`down` and `status` also find it by `--topology`, `--run-dir`, or as the one
lab up under `--run-root`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import RenderableType

from controller.config.topology import TARGETS, TopologyError, load_topology
from controller.lab import views
from controller.lab.address import AddressError, address_parent, find_run_dir
from controller.lab.lab import Lab, down, require_tools, status, up
from controller.lab.netns import LabError, LabNames
from controller.lab.processes import ProcessTable


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handoff lab", description=__doc__, parents=[address_parent()],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("topology_file", nargs="?", metavar="TOPOLOGY",
                        help="topology YAML file, e.g. topologies/basic.yaml")  # fmt: skip
    parser.add_argument("--target", choices=TARGETS, help="up: switch target (default: the file's)")
    parser.add_argument(
        "--tls", action="store_true",
        help="up: mutual TLS on P4Runtime and every agent connection (certificates in RUN_DIR/tls)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="status: one JSON document")
    parser.add_argument("--watch", type=float, metavar="SECONDS",
                        help="status: print again every SECONDS until Ctrl-C")  # fmt: skip
    return parser


def find_lab(args: argparse.Namespace) -> Lab:
    """The lab the command line names: its topology file (always for `up`),
    or the run directory of a lab that is up (its namespace prefix from there)."""
    if args.controller or args.classifiers or args.switch:
        raise AddressError("--controller, --classifier and --switch address a deployment; "
                           "`handoff lab` needs a lab: give its TOPOLOGY")  # fmt: skip
    topology = args.topology_file or args.topology
    if args.action == "up" or (topology is not None and args.run_dir is None):
        if topology is None:
            raise AddressError("up needs the TOPOLOGY file")
        lab = Lab.of(topology, args.run_root)
        prefix = lab.table.load()[0].get("prefix")
        if args.action == "up" or not prefix:
            return lab
        return Lab(lab.topology, LabNames(str(prefix)), lab.run_dir)
    run_dir = find_run_dir(args.run_root, None, args.run_dir)
    info, _ = ProcessTable(run_dir).load()
    loaded = load_topology(topology or str(info.get("topology", "")))
    return Lab(loaded, LabNames(str(info.get("prefix") or f"ph-{loaded.name}")), run_dir)


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    console = views.make_console()
    try:
        if os.geteuid() != 0 and args.action != "status":
            raise LabError("the lab creates network namespaces: run it as root")
        lab = find_lab(args)
        if args.action != "status":
            require_tools()
        if args.action == "up":
            up(lab, args.target, step=lambda text: console.print(f"• {text}"), tls=args.tls)
            secured = " with mutual TLS" if args.tls else ""
            console.print(f"lab {lab.topology.name} is up{secured}; logs in {lab.run_dir}/logs")
            _status(console, lab, False, None)
        elif args.action == "down":
            stopped, removed = down(lab)
            console.print(f"stopped {len(stopped)} processes, removed {len(removed)} namespaces"
                          f"; logs kept in {lab.run_dir}/logs")
        else:
            _status(console, lab, args.json, args.watch)
    except (LabError, TopologyError, AddressError) as error:
        print(f"handoff lab {args.action}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _status(console: Any, lab: Lab, as_json: bool, watch: float | None) -> None:
    from controller.lab.query import repeat

    def view(width: int) -> tuple[list[RenderableType], dict[str, Any]]:
        processes, namespaces = status(lab)
        info, _ = lab.table.load()
        rows = [views.ProcessRow(p.name, p.namespace, p.pid, p.running, p.log) for p in processes]
        name, run_dir = lab.topology.name, str(lab.run_dir)
        tables: list[RenderableType] = [
            views.lab_status_table(name, run_dir, rows, namespaces, width)
        ]
        if not processes and not namespaces:
            tables.append(views.note(f"lab {name} is down"))
        return tables, views.lab_status_json(name, run_dir, info, rows, namespaces)

    repeat(console, view, as_json, watch)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
