"""The lab's processes: started detached in their namespaces, logged, and stopped.

Every process the lab starts is written to `lab.json` in the run directory
(name, namespace, pid, command line, log file) the moment it starts, so a
later `handoff lab down` — from another shell, or after the `up` command
crashed — finds and stops each one. Processes inside lab namespaces are also
found by namespace, so even a lost `lab.json` cannot leave a switch running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from controller.lab.netns import LabError


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    namespace: str | None  # None: the root namespace
    pid: int
    argv: tuple[str, ...]
    log: str


class ProcessTable:
    """The run directory's `lab.json`: what runs, where, and where it logs."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / "lab.json"
        self.logs = run_dir / "logs"

    def load(self) -> tuple[dict[str, object], list[ProcessRecord]]:
        if not self.path.exists():
            return {}, []
        document = json.loads(self.path.read_text())
        records = [
            ProcessRecord(p["name"], p["namespace"], p["pid"], tuple(p["argv"]), p["log"])
            for p in document.get("processes", [])
        ]
        return document.get("lab", {}), records

    def save(self, lab: dict[str, object], records: list[ProcessRecord]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        document = {"lab": lab, "processes": [asdict(r) for r in records]}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2) + "\n")
        temporary.replace(self.path)

    def start(
        self, lab: dict[str, object], name: str, namespace: str | None, argv: Sequence[str],
        env: dict[str, str] | None = None,
    ) -> ProcessRecord:
        """Start `argv` detached (own session) with output to logs/<name>.log."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        command = list(argv) if namespace is None else ["ip", "netns", "exec", namespace, *argv]
        with open(log, "ab") as output:
            process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, **(env or {})},
            )
        record = ProcessRecord(name, namespace, process.pid, tuple(command), str(log))
        _, records = self.load()
        self.save(lab, [*records, record])
        return record


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop(records: Sequence[ProcessRecord], grace_s: float = 3.0) -> None:
    """SIGTERM every process group, wait up to `grace_s`, then SIGKILL."""
    for record in records:
        _signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(alive(r.pid) for r in records):
        time.sleep(0.05)
    for record in records:
        if alive(record.pid):
            _signal_group(record.pid, signal.SIGKILL)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def wait_for_path(path: Path, record: ProcessRecord, timeout_s: float) -> None:
    """Wait until `record`'s process creates `path` (a socket or file)."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if not alive(record.pid):
            raise start_up_failure(record, "exited during start-up")
        if time.monotonic() > deadline:
            raise start_up_failure(record, f"did not create {path} within {timeout_s:.0f} s")
        time.sleep(0.05)


def start_up_failure(record: ProcessRecord, what: str) -> LabError:
    """The error for a process that did not come up, with the end of its log."""
    return LabError(f"{record.name} {what}; see {record.log}:\n{_tail(record.log)}")


def _tail(log: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(log).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
