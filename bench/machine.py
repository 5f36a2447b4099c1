"""What a benchmark figure was measured on: the machine and the commit.

Every result JSON under bench/results/ carries both (bench/run_all.py adds
them), because a packets-per-second figure means nothing without the CPU it
ran on and the code it measured.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _first(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip() if ":" in line else line
    except OSError:
        return None
    return None


def machine() -> dict[str, Any]:
    memory_kb = _first("/proc/meminfo", "MemTotal")
    os_name = _first("/etc/os-release", "PRETTY_NAME=")
    return {
        "cpu_model": _first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory_kb.split()[0]) / 2**20, 1) if memory_kb else None,
        "kernel": platform.release(),
        "os": os_name.split("=", 1)[1].strip('"') if os_name else platform.system(),
        "python": platform.python_version(),
        "arch": platform.machine(),
    }


def commit() -> dict[str, Any]:
    """The checked-out commit, and whether the tree had local changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
