"""p4sim's P4Info text is byte for byte p4c's, for at least FLOOR programs.

Needs `p4c` on PATH (skips, saying so, otherwise). The programs are p4c's
STF corpus (`../shared/p4c-corpus`, when present) and the project's own: the
forwarder, tests/p4runtime_programs and tests/stf. Only programs both
compilers accept count. The per-program result (equal, differs at line N,
refused by one side) is written to the test's tmp dir and, when build/
exists, to build/p4info-vs-p4c.txt.

Cost: p4c's bmv2 back end (`p4c-bm2-ss`, the program p4c's driver runs;
called directly it gives the same P4Info without the driver's extra
preprocessor process) runs in two processes at a time while p4sim compiles
in this one; p4sim's compilations of the corpus are shared with the corpus
STF test (`corpus_programs.compiled`).
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from corpus_programs import CORPUS, ROOT, compiled

from p4sim.errors import P4SimError
from p4sim.p4info.generate import p4info_to_text

PROJECT_PROGRAMS = sorted([ROOT / "p4src" / "forwarder.p4",
                           *(ROOT / "tests" / "p4runtime_programs").glob("*.p4"),
                           *(ROOT / "tests" / "stf").glob("*.p4")])
# Programs whose P4Info equals p4c's when last measured; only ever raised.
CORPUS_FLOOR = 189
PROJECT_FLOOR = 73


def p4c_command(program: Path, p4info: Path, out: Path) -> list[str]:
    """p4c's bmv2 back end when on PATH (what the driver runs), else p4c."""
    backend = shutil.which("p4c-bm2-ss")
    if backend is not None:
        return [backend, "--arch", "v1model", "--Wdisable", "--p4runtime-files", str(p4info),
                "-o", str(out / "program.json"), str(program)]
    return ["p4c", "--target", "bmv2", "--arch", "v1model", "--p4runtime-files", str(p4info),
            "-o", str(out), str(program)]


def p4c_p4info(program: Path, out: Path) -> str | None:
    """p4c's P4Info text for `program`, or None if p4c refuses it."""
    out.mkdir(parents=True)
    p4info = out / "p4info.txtpb"
    result = subprocess.run(p4c_command(program, p4info, out), capture_output=True, text=True,
                            timeout=300, check=False)
    if result.returncode != 0 or not p4info.exists():
        return None
    return p4info.read_text()


def p4sim_p4info(program: Path) -> str | P4SimError:
    mine = compiled(program)
    return mine if isinstance(mine, P4SimError) else p4info_to_text(mine.p4info)


def compare(mine: str | P4SimError, theirs: str | None) -> tuple[bool | None, str]:
    """(equal, what to report); equal is None when either side refuses."""
    if theirs is None:
        return None, "p4c refuses it"
    if isinstance(mine, P4SimError):
        return None, f"p4sim refuses it: {str(mine).splitlines()[0]}"
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
        # p4c runs in two child processes while p4sim compiles here.
        pending = [pool.submit(p4c_p4info, p, tmp_path / p.stem) for p in programs]
        mine = [p4sim_p4info(p) for p in programs]
        results = [compare(m, f.result()) for m, f in zip(mine, pending, strict=True)]
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
