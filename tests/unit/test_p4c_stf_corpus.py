"""p4c's v1model STF corpus on p4sim: at least FLOOR programs pass.

The corpus is not part of the project; it is looked up next to the repo
(`../shared/p4c-corpus`) and the test skips, saying so, when it is absent.
Each program's result goes to a report in the test's tmp dir (and to
build/p4c-corpus-stf.txt when build/ exists), so a drop below the floor
names the programs that fail and why.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from corpus_programs import CORPUS, ROOT, compiled

from p4sim.errors import P4SimError
from p4sim.stf.runner import run_stf

# Programs passing when last measured; only ever raised.
FLOOR = 190


def run_one(stf: Path) -> str | None:
    """None if the STF test passes, else the first line that says why."""
    out = io.StringIO()
    program = compiled(stf.with_suffix(".p4"))
    if isinstance(program, P4SimError):
        return str(program).splitlines()[0]
    try:
        rc = run_stf(stf.with_suffix(".p4"), stf, out=out, program=program)
    except P4SimError as exc:
        return str(exc).splitlines()[0]
    if rc == 0:
        return None
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    return lines[0] if lines else f"exit status {rc}"


@pytest.mark.timeout(1800)
def test_p4c_stf_corpus_floor(tmp_path: Path) -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"p4c's STF corpus is not at {CORPUS}")
    cases = sorted(CORPUS.glob("*.stf"))
    failures = {stf.stem: why for stf in cases if (why := run_one(stf)) is not None}
    passed = len(cases) - len(failures)
    report = [f"{passed}/{len(cases)} p4c STF programs pass on p4sim"]
    report += [f"FAIL {name}: {why}" for name, why in sorted(failures.items())]
    text = "\n".join(report) + "\n"
    (tmp_path / "p4c-corpus-stf.txt").write_text(text)
    if (ROOT / "build").is_dir():
        (ROOT / "build" / "p4c-corpus-stf.txt").write_text(text)
    assert passed >= FLOOR, text
