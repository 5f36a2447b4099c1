"""The `p4sim` command line.

`p4sim compile PROGRAM.p4 --p4info OUT.txtpb --device-config OUT.bin [-I DIR]`
writes what a P4Runtime controller pushes; `p4sim stf PROGRAM.p4 TEST.stf`
runs an STF test. Subcommands live in `COMMANDS`, so a later mode (the
simple_switch_grpc-style `p4sim [flags] PROGRAM`) can be added as the default
when the first argument is not a subcommand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from p4sim.errors import P4SimError, P4SourceError


def _compile(args: argparse.Namespace) -> int:
    from p4sim.compiler import compile_file
    from p4sim.p4info.generate import p4info_to_text

    program = compile_file(args.program, args.include)
    if args.p4info:
        Path(args.p4info).write_text(p4info_to_text(program.p4info), encoding="utf-8")
    if args.device_config:
        Path(args.device_config).write_bytes(program.device_config)
    return 0


def _stf(args: argparse.Namespace) -> int:
    from p4sim.stf.runner import run_stf

    return run_stf(args.program, args.test, args.include)


def _compile_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("compile", help="check a program and write its P4Info and device "
                       "config")
    p.add_argument("program", help="P4_16 v1model source file")
    p.add_argument("--p4info", metavar="OUT.txtpb", help="write P4Info in text format")
    p.add_argument("--device-config", metavar="OUT.bin",
                   help="write the device config for SetForwardingPipelineConfig")
    p.add_argument("-I", dest="include", action="append", default=[], metavar="DIR",
                   help="add an include directory")
    p.set_defaults(run=_compile)


def _stf_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("stf", help="run an STF test against a program")
    p.add_argument("program", help="P4_16 v1model source file")
    p.add_argument("test", help="STF test file")
    p.add_argument("-I", dest="include", action="append", default=[], metavar="DIR",
                   help="add an include directory")
    p.set_defaults(run=_stf)


COMMANDS: dict[str, Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = {
    "compile": _compile_parser,
    "stf": _stf_parser,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="p4sim", description="An embedded P4_16 v1model "
                                     "target that runs programs from source.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] not in COMMANDS:
        # The switch mode: `p4sim [simple_switch_grpc flags] PROGRAM`.
        from p4sim.server.main import main as switch_main

        return switch_main(arguments)
    args = build_parser().parse_args(arguments)
    try:
        status: int = args.run(args)
    except P4SourceError as exc:
        print(exc, file=sys.stderr)  # already `file:line:col: error: ...`
        return 1
    except P4SimError as exc:
        print(f"p4sim: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"p4sim: {exc}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
