"""Where the repository's files are, for tests in any group: one place, so a
test that moves between tests/unit, kernel, system and fuzz keeps working."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = ROOT / "topologies"
BASIC_TOPOLOGY = TOPOLOGIES / "basic.yaml"
FORWARDER_P4 = ROOT / "p4src" / "forwarder.p4"
STF_DIR = ROOT / "tests" / "stf"
P4RUNTIME_PROGRAMS = ROOT / "tests" / "p4runtime_programs"
