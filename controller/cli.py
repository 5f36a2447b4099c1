"""`handoff`: the one command of P4 Handoff.

Each process of the system is a subcommand (`controller`, `classifier`,
`agent`, `backend`), so the lab starts them all the same way and a user can run
any of them by hand on real hosts. The remaining subcommands are for people:
`lab` builds and tears down a topology, `flows`, `stats` and `policy` ask the
running controller and classifiers (`trace`: one connection), `shell` opens
p4runtime-shell on the lab switch. They all address a lab or a deployment
with the same flags (controller.lab.address).

Subcommand modules are imported only when used: `handoff lab status` must not
pay for gRPC and protobuf imports.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, one-line help); each module has main(argv) -> int
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "lab": ("controller.lab.cli", "build, inspect and remove a lab topology"),
    "flows": ("controller.lab.query", "show handed-off connections with switch counters"),
    "stats": ("controller.lab.query", "show controller, classifier and agent counters"),
    "policy": ("controller.lab.query", "show or reload a classifier policy"),
    "trace": ("controller.lab.query", "one connection's story: decision, flow, steps, end"),
    "shell": ("controller.lab.shell", "open p4runtime-shell on the lab switch"),
    "controller": ("controller.switch.main", "run the controller (P4Runtime primary)"),
    "classifier": ("controller.classifier.main", "run a classifier on a VIP"),
    "agent": ("controller.agent.main", "run the migrator agent of a back-end"),
    "backend": ("controller.examples.demo_backend", "run the demo HTTP back-end application"),
}


def usage() -> str:
    lines = ["usage: handoff COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<11} {text}" for name, (_, text) in SUBCOMMANDS.items()]
    lines += ["", "`handoff COMMAND --help` describes each command."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in SUBCOMMANDS:
        print(f"handoff: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[command][0])
    if module.__name__ == "controller.lab.query":
        rest = [command, *rest]
    result: int = module.main(rest)
    return result


if __name__ == "__main__":
    sys.exit(main())
