"""Lab processes are recorded as they start and stopped from the record alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from controller.lab.netns import LabError
from controller.lab.processes import ProcessTable, alive, stop, wait_for_path


def test_started_processes_are_recorded_and_stopped(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path)
    lab = {"prefix": "x"}
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    first = table.start(lab, "sleeper", None, [sys.executable, "-c", "import time; time.sleep(60)"])
    second = table.start(lab, "stubborn", None, [sys.executable, "-c", stubborn])
    saved_lab, records = ProcessTable(tmp_path).load()
    assert saved_lab == lab
    assert [r.name for r in records] == ["sleeper", "stubborn"]
    assert alive(first.pid) and alive(second.pid)
    stop(records, grace_s=0.5)
    assert not alive(first.pid) and not alive(second.pid)


def test_start_up_failure_shows_the_log(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path)
    record = table.start({}, "broken", None, [sys.executable, "-c", "print('bad flag'); exit(2)"])
    with pytest.raises(LabError, match=r"(?s)broken exited during start-up.*bad flag"):
        wait_for_path(tmp_path / "never.sock", record, timeout_s=5)
    assert Path(record.log).read_text().strip() == "bad flag"
