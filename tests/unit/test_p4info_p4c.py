"""p4sim's P4Info text is byte for byte p4c's, for at least FLOOR programs.

Needs `p4c` on PATH (skips, saying so, otherwise). The programs are p4c's
STF corpus (`../shared/p4c-corpus`, when present) and the project's own: the
forwarder, tests/p4runtime_programs and tests/stf. Only programs both
compilers accept count. The per-program result (equal, differs at line N,
refused by one side) is written to the test's tmp dir and, when build/
exists, to build/p4info-vs-p4c.txt.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from p4sim.compiler import compile_file
from p4sim.errors import P4SimError
from p4sim.p4info.generate import p4info_to_text

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "p4c-corpus"
PROJECT_PROGRAMS = sorted([ROOT / "p4src" / "forwarder.p4",
                           *(ROOT / "tests" / "p4runtime_programs").glob("*.p4"),
                           *(ROOT / "tests" / "stf").glob("*.p4")])
# Programs whose P4Info equals p4c's when last measured; only ever raised.
CORPUS_FLOOR = 146
PROJECT_FLOOR = 33


def p4c_p4info(program: Path, out: Path) -> str | None:
    """p4c's P4Info text for `program`, or None if p4c refuses it."""
    out.mkdir(parents=True)
    p4info = out / "p4info.txtpb"
    result = subprocess.run(
        ["p4c", "--target", "bmv2", "--arch", "v1model", "--p4runtime-files", str(p4info),
         "-o", str(out), str(program)],
        capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0 or not p4info.exists():
        return None
    return p4info.read_text()


def compare(program: Path, out: Path) -> tuple[bool | None, str]:
    """(equal, what to report); equal is None when either side refuses."""
    theirs = p4c_p4info(program, out)
    if theirs is None:
        return None, "p4c refuses it"
    try:
        mine = p4info_to_text(compile_file(str(program)).p4info)
    except P4SimError as exc:
        return None, f"p4sim refuses it: {str(exc).splitlines()[0]}"
    if mine == theirs:
        return True, "equal"
    lines_mine, lines_theirs = mine.splitlines(), theirs.splitlines()
    line = next((i for i, (a, b) in enumerate(zip(lines_mine, lines_theirs, strict=False), 1)
                 if a != b), min(len(lines_mine), len(lines_theirs)) + 1)
    got = lines_mine[line - 1] if line <= len(lines_mine) else "<end>"
    want = lines_theirs[line - 1] if line <= len(lines_theirs) else "<end>"
    return False, f"differs at line {line}: p4sim {got.strip()!r}, p4c {want.strip()!r}"


def check_floor(programs: list[Path], floor: int, tmp_path: Path, report_name: str) -> None:
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda p: compare(p, tmp_path / p.stem), programs))
    both = [(p, r) for p, r in zip(programs, results, strict=True) if r[0] is not None]
    equal = sum(1 for _, (same, _) in both if same)
    lines = [f"{equal}/{len(both)} programs both compile give p4c's P4Info byte for byte"]
    lines += [f"{p.stem}: {why}" for p, (_, why) in zip(programs, results, strict=True)]
    text = "\n".join(lines) + "\n"
    (tmp_path / report_name).write_text(text)
    if (ROOT / "build").is_dir():
        (ROOT / "build" / report_name).write_text(text)
    assert equal >= floor, text


@pytest.mark.timeout(3600)
def test_corpus_p4info_equals_p4c(tmp_path: Path) -> None:
    if shutil.which("p4c") is None:
        pytest.skip("p4c is not on PATH")
    if not CORPUS.is_dir():
        pytest.skip(f"p4c's corpus is not at {CORPUS}")
    check_floor(sorted(CORPUS.glob("*.p4")), CORPUS_FLOOR, tmp_path, "p4info-vs-p4c.txt")


@pytest.mark.timeout(3600)
def test_project_p4info_equals_p4c(tmp_path: Path) -> None:
    if shutil.which("p4c") is None:
        pytest.skip("p4c is not on PATH")
    check_floor(PROJECT_PROGRAMS, PROJECT_FLOOR, tmp_path, "p4info-vs-p4c-project.txt")
