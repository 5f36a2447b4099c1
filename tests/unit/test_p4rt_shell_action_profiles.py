"""p4runtime-shell (PyPI 0.0.6) programs p4sim's action profiles and
selectors as a third-party client: members, weighted groups, group entries
and one-shot action sets, with reads and error codes. Runs in the
p4runtime-shell venv as test_p4rt_shell.py explains."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import text_format
from p4rt_support import PROGRAMS, compiled, start_switch
from paths import ROOT

from p4sim.server.server import ServerThread

SHELL_PYTHON = ROOT / ".venv-p4rt-shell" / "bin" / "python"
SCRIPT = Path(__file__).parent / "p4rt_shell_action_profiles_script.py"

pytestmark = pytest.mark.skipif(
    not SHELL_PYTHON.exists(), reason="p4runtime-shell venv missing: run `make p4rt-shell-venv`"
)


@pytest.fixture()
def switch() -> Iterator[ServerThread]:
    server = start_switch(cpu_port=None)
    yield server
    server.stop()


def test_p4runtime_shell_programs_members_groups_and_one_shots(
        switch: ServerThread, tmp_path: Path) -> None:
    program = compiled(PROGRAMS / "action_profiles.p4")
    p4info = tmp_path / "action_profiles.p4info.txtpb"
    p4info.write_text(text_format.MessageToString(program.p4info))
    device_config = tmp_path / "action_profiles.bin"
    device_config.write_bytes(program.device_config)
    run = subprocess.run(
        [str(SHELL_PYTHON), str(SCRIPT), switch.address, str(p4info), str(device_config)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["members"] == [[1, "02"], [2, "03"]]
    assert seen["groups"] == [[10, [[1, 1], [2, 2]]]]
    assert seen["route_group"] == [10]
    assert "ALREADY_EXISTS" in seen["duplicate"]
    assert "FAILED_PRECONDITION" in seen["in_use"]
    assert seen["oneshot"] == [[["04", 1], ["05", 3]]]
