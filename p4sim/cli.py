"""The `p4sim` command line.

`p4sim compile PROGRAM.p4 --p4info OUT.txtpb --device-config OUT.bin [-I DIR]`
writes what a P4Runtime controller pushes (p4c's flags work too: -D, -U,
--p4runtime-files, --std, --arch, --target, -o); `p4sim stf PROGRAM.p4 TEST.stf`
runs an STF test. Subcommands live in `COMMANDS`, so a later mode (the
simple_switch_grpc-style `p4sim [flags] PROGRAM`) can be added as the default
when the first argument is not a subcommand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from p4sim.errors import P4SimError, P4SourceError

if TYPE_CHECKING:
    from finsy.proto import p4i


# p4c's --p4runtime-files: the format of each file comes from its suffix.
_P4RUNTIME_SUFFIXES = {".txt": "text", ".txtpb": "text", ".json": "json", ".bin": "binary"}


def _p4runtime_bytes(p4info: p4i.P4Info, fmt: str) -> bytes:
    from google.protobuf import json_format

    from p4sim.p4info.generate import p4info_to_text

    if fmt == "text":
        return p4info_to_text(p4info).encode("utf-8")
    if fmt == "json":
        text: str = json_format.MessageToJson(p4info)
        return (text + "\n").encode("utf-8")
    serialized: bytes = p4info.SerializeToString()
    return serialized


def _p4runtime_outputs(args: argparse.Namespace) -> list[tuple[Path, str]]:
    """Every P4Info file to write, with its format; a suffix p4sim cannot
    read a format from is an error before anything is compiled."""
    outputs: list[tuple[Path, str]] = []
    if args.p4info:
        outputs.append((Path(args.p4info), "text"))
    for group in args.p4runtime_files:
        for name in filter(None, group.split(",")):
            fmt = _P4RUNTIME_SUFFIXES.get(Path(name).suffix)
            if fmt is None:
                raise P4SimError(f"--p4runtime-files: cannot tell the format of '{name}' from "
                                 f"its suffix (use one of {', '.join(_P4RUNTIME_SUFFIXES)})")
            outputs.append((Path(name), fmt))
    if args.p4runtime_file:
        outputs.append((Path(args.p4runtime_file), args.p4runtime_format))
    elif args.p4runtime_format != "text" and not args.p4runtime_files:
        raise P4SimError("--p4runtime-format needs --p4runtime-file")
    return outputs


def _compile(args: argparse.Namespace) -> int:
    from p4sim.compiler import compile_file

    if args.std not in ("p4-16", "p4_16"):
        raise P4SimError(f"--std {args.std}: p4sim compiles P4_16 only (--std p4-16)")
    if args.arch != "v1model":
        raise P4SimError(f"--arch {args.arch}: p4sim runs the v1model architecture only")
    if args.target != "bmv2":
        raise P4SimError(f"--target {args.target}: p4sim stands in for p4c's bmv2 target only")
    outputs = _p4runtime_outputs(args)
    program = compile_file(args.program, args.include, dict(args.macros))
    for path, fmt in outputs:
        path.write_bytes(_p4runtime_bytes(program.p4info, fmt))
    if args.device_config:
        Path(args.device_config).write_bytes(program.device_config)
    if args.output:
        # Where p4c's bmv2 back end puts PROGRAM.json, p4sim puts its device config.
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{Path(args.program).stem}.json").write_bytes(program.device_config)
    return 0


def _define(text: str) -> tuple[str, str | None]:
    """`-D NAME[=VALUE]` as cpp reads it: the value defaults to 1."""
    name, sep, value = text.partition("=")
    if not name.isidentifier():
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME or NAME=VALUE")
    return name, value if sep else "1"


def _undefine(text: str) -> tuple[str, str | None]:
    if not text.isidentifier():
        raise argparse.ArgumentTypeError(f"'{text}' is not a macro name")
    return text, None


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
    # p4c's flags, so a build written for p4c runs p4sim unchanged.
    p.add_argument("-D", dest="macros", action="append", default=[], type=_define,
                   metavar="NAME[=VALUE]", help="define a macro (value 1 if omitted)")
    p.add_argument("-U", dest="macros", action="append", type=_undefine, metavar="NAME",
                   help="undefine a macro, a predefined one too")
    p.add_argument("--p4runtime-files", action="append", default=[], metavar="FILE[,FILE]",
                   help="write P4Info to each file, format by suffix: .txt/.txtpb text, "
                   ".json JSON, .bin binary")
    p.add_argument("--p4runtime-file", metavar="FILE",
                   help="write P4Info to FILE in --p4runtime-format (p4c's older form)")
    p.add_argument("--p4runtime-format", choices=("text", "json", "binary"), default="text",
                   help="the format of --p4runtime-file (default text)")
    p.add_argument("--std", default="p4-16", help="language version: p4-16 only")
    p.add_argument("--arch", default="v1model", help="architecture: v1model only")
    p.add_argument("--target", default="bmv2", help="p4c target p4sim stands in for: bmv2")
    p.add_argument("-o", dest="output", metavar="DIR",
                   help="write the device config as DIR/PROGRAM.json (where p4c puts "
                   "bmv2's JSON)")
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
