"""p4c's STF corpus and the project's programs, each compiled by p4sim once
per test session: the corpus STF test and the P4Info comparison share them.

The corpus is not part of the project; it is looked up next to the repo
(`../shared/p4c-corpus`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from p4sim.compiler import CompiledProgram, compile_file
from p4sim.errors import P4SimError

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "p4c-corpus"


def compiled(program: Path) -> CompiledProgram | P4SimError:
    """p4sim's compilation of `program`, or the error that refused it; kept
    for the session when `program` is in the corpus (a compiled program keeps
    its generated module in linecache, which tests of the project's own
    programs count, so those are not kept)."""
    if program.parent == CORPUS:
        return _compiled_once(program)
    return _compile(program)


@cache
def _compiled_once(program: Path) -> CompiledProgram | P4SimError:
    return _compile(program)


def _compile(program: Path) -> CompiledProgram | P4SimError:
    try:
        return compile_file(str(program))
    except P4SimError as exc:
        return exc
