"""p4runtime-shell (PyPI 0.0.6) drives p4sim as a third-party client.

It lives in its own venv (`make p4rt-shell-venv`) because it pins protobuf
3.20 and p4runtime 1.4.1; this test runs it as a subprocess against a p4sim
server in this process, with the P4Info as text and the device config as
`p4sim compile` writes them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import text_format
from p4rt_support import compiled, start_switch
from paths import ROOT

from p4sim.server.server import ServerThread

SHELL_PYTHON = ROOT / ".venv-p4rt-shell" / "bin" / "python"
SCRIPT = Path(__file__).parent / "p4rt_shell_script.py"

pytestmark = pytest.mark.skipif(
    not SHELL_PYTHON.exists(), reason="p4runtime-shell venv missing: run `make p4rt-shell-venv`"
)


@pytest.fixture()
def switch() -> Iterator[ServerThread]:
    server = start_switch(cpu_port=None)
    yield server
    server.stop()


def test_p4runtime_shell_session_against_p4sim(switch: ServerThread, tmp_path: Path) -> None:
    program = compiled()
    p4info = tmp_path / "conformance.p4info.txtpb"
    p4info.write_text(text_format.MessageToString(program.p4info))
    device_config = tmp_path / "conformance.bin"
    device_config.write_bytes(program.device_config)
    run = subprocess.run(
        [str(SHELL_PYTHON), str(SCRIPT), switch.address, str(p4info), str(device_config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["api_version"] == "1.4.0"
    assert seen["l2"] == [{"mac": "0a0000000001", "port": "02"}]
    assert seen["acl_priorities"] == [7]
    assert seen["route_prefix"] == [8]
    assert "ALREADY_EXISTS" in seen["duplicate"]
    assert seen["counter_cells"] == 16
    assert seen["modified_port"] == ["03"]
    assert seen["after_delete"] == 0
