"""What p4sim cannot compile it refuses with `file:line:col: error: ...` or
`file:line:col: unsupported: <construct>`, never a Python traceback: every
program of p4c's corpus (`../shared/p4c-corpus`, skipped when absent) and of
the project, and each corpus program with a span of its text cut out (a
fixed seed, so the variants are the same every run)."""

from __future__ import annotations

import random
import re
import traceback
from pathlib import Path

import pytest
from corpus_programs import CORPUS, ROOT, compiled

from p4sim.compiler import compile_source
from p4sim.errors import P4SimError, P4SourceError

POSITIONED = re.compile(r"^[^\n]+:\d+:\d+: (error|unsupported): \S")
PROJECT = sorted([ROOT / "p4src" / "forwarder.p4",
                  *(ROOT / "tests" / "p4runtime_programs").glob("*.p4"),
                  *(ROOT / "tests" / "stf").glob("*.p4")])


def problem(name: str, outcome: object) -> str | None:
    """Why `outcome` (a compiled program or what compiling raised) is not
    acceptable, or None."""
    if isinstance(outcome, P4SourceError) and POSITIONED.match(str(outcome)):
        return None
    if isinstance(outcome, P4SimError):
        return f"{name}: refused without a position: {outcome}"
    if isinstance(outcome, BaseException):
        where = "".join(traceback.format_exception(outcome)[-3:])
        return f"{name}: traceback: {where}"
    return None


def outcome_of(program: Path) -> object:
    try:
        return compiled(program)
    except Exception as exc:  # what the test is about: nothing may escape
        return exc


@pytest.mark.timeout(900)
def test_corpus_and_project_programs_compile_or_are_refused_with_a_position() -> None:
    programs = [*(sorted(CORPUS.glob("*.p4")) if CORPUS.is_dir() else []), *PROJECT]
    problems = [why for p in programs if (why := problem(p.name, outcome_of(p))) is not None]
    assert not problems, "\n".join(problems)


@pytest.mark.timeout(900)
def test_cut_corpus_programs_are_refused_with_a_position() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"p4c's corpus is not at {CORPUS}")
    rng = random.Random(12)
    problems = []
    for program in sorted(CORPUS.glob("*.p4")):
        text = program.read_text()
        start = rng.randrange(len(text))
        variant = text[:start] + text[start + rng.randrange(1, 30):]
        try:
            outcome: object = compile_source(variant, str(program), [str(program.parent)])
        except Exception as exc:
            outcome = exc
        why = problem(f"{program.name} cut at {start}", outcome)
        if why is not None:
            problems.append(why)
    assert not problems, "\n".join(problems)
