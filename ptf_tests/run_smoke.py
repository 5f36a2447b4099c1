"""`make ptf-smoke`: PTF drives p4sim end to end over veth pairs.

Creates two veth pairs (names carry this process id), starts the `p4sim`
switch on one end of each with ptf_tests/smoke/smoke.p4, runs PTF on the
other ends with the switch's P4Runtime address as a test parameter, and
removes everything again, whatever happened. Without root it says why and
exits 0, like the namespace tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from controller.lab.netns import offloads_off

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "ptf_tests" / "smoke"
BIN = Path(sys.executable).parent


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _veth(switch_end: str, test_end: str) -> None:
    _run("ip", "link", "add", switch_end, "type", "veth", "peer", "name", test_end)
    for ifname in (switch_end, test_end):
        subprocess.run(
            ["sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1"],
            check=False,
            capture_output=True,
        )
        _run("ip", "link", "set", ifname, "up")
        offloads_off(ifname)


def main() -> int:
    if os.geteuid() != 0:
        print("ptf-smoke: skipped: needs root to create veth pairs")
        return 0
    tag = os.getpid() % 100000
    pairs = [(f"p4s{tag}s{i}", f"p4s{tag}t{i}") for i in range(2)]
    switch: subprocess.Popen[str] | None = None
    with tempfile.TemporaryDirectory(prefix="ptf-smoke-") as tmp:
        try:
            for switch_end, test_end in pairs:
                _veth(switch_end, test_end)
            address = f"127.0.0.1:{_free_port()}"
            switch = subprocess.Popen(
                [
                    str(BIN / "p4sim"),
                    *(a for i, (s, _) in enumerate(pairs) for a in ("-i", f"{i}@{s}")),
                    "--grpc-server-addr",
                    address,
                    str(SMOKE / "smoke.p4"),
                ],
                stderr=subprocess.PIPE,
                text=True,
            )
            assert switch.stderr is not None
            ready = switch.stderr.readline()
            if "serving P4Runtime" not in ready:
                print(
                    f"ptf-smoke: p4sim did not start: {ready}{switch.stderr.read()}",
                    file=sys.stderr,
                )
                return 1
            ptf = subprocess.run(
                [
                    str(BIN / "ptf"),
                    "--test-dir",
                    str(SMOKE),
                    *(a for i, (_, t) in enumerate(pairs) for a in ("-i", f"{i}@{t}")),
                    "--test-params",
                    f"grpc_addr='{address}'",
                    "--log-dir",
                    tmp,
                ],
                check=False,
            )
            print(f"ptf-smoke: {'passed' if ptf.returncode == 0 else 'FAILED'}")
            return ptf.returncode
        finally:
            if switch is not None:
                switch.terminate()
                switch.wait(timeout=10)
            for switch_end, _ in pairs:
                subprocess.run(["ip", "link", "del", switch_end], check=False, capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
