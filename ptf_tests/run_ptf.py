"""Run the forwarder PTF suite on a switch attached to veths.

    python ptf_tests/run_ptf.py [--target p4sim|bmv2] [PTF test names...]

The tests live in ptf_tests/forwarder/. Everything happens in a private
network namespace, so the suite sees no host traffic and leaves nothing
behind: five veth pairs (switch side `swN`,
PTF side `ptN`, N = 1..5) with offloads off, the switch (p4sim, or bmv2's
simple_switch_grpc) serving P4Runtime on 127.0.0.1:9559 with CPU port 255,
and PTF sending and capturing on the other ends. The tests push the pipeline
themselves: build/ptf/ holds the P4Info and device config made here (p4sim's
compiler, or p4c for bmv2). Needs root. Exit status: PTF's, or 2 when the
setup fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from controller.lab.netns import offloads_off

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "ptf"
SOURCE = ROOT / "p4src" / "forwarder.p4"
NETNS = "p4h-ptf"
PORTS = (1, 2, 3, 4, 5)
CPU_PORT = 255
GRPC_ADDR = "127.0.0.1:9559"
VENV_BIN = Path(sys.executable).parent


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=check, capture_output=True, text=True)


def in_netns(*command: str) -> list[str]:
    return ["ip", "netns", "exec", NETNS, *command]


def build(target: str) -> tuple[Path, Path]:
    """The P4Info and device config for `target`, made from p4src/."""
    BUILD.mkdir(parents=True, exist_ok=True)
    if target == "bmv2":
        out = BUILD / "bmv2"
        out.mkdir(exist_ok=True)
        p4info = out / "forwarder.p4info.txtpb"
        run(
            "p4c",
            "--target",
            "bmv2",
            "--arch",
            "v1model",
            "--p4runtime-files",
            str(p4info),
            "-o",
            str(out),
            str(SOURCE),
        )
        return p4info, out / "forwarder.json"
    from google.protobuf import text_format

    from p4sim.compiler import compile_file

    program = compile_file(SOURCE)
    p4info = BUILD / "forwarder.p4info.txtpb"
    config = BUILD / "forwarder.p4sim.bin"
    p4info.write_text(text_format.MessageToString(program.p4info))
    config.write_bytes(program.device_config)
    return p4info, config


def create_network() -> None:
    delete_network()
    run("ip", "netns", "add", NETNS)
    for key in ("all", "default"):
        run(*in_netns("sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"))
    run("ip", "-n", NETNS, "link", "set", "lo", "up")
    for n in PORTS:
        run("ip", "-n", NETNS, "link", "add", f"sw{n}", "type", "veth", "peer", "name", f"pt{n}")
        for name in (f"sw{n}", f"pt{n}"):
            offloads_off(name, NETNS)
            run("ip", "-n", NETNS, "link", "set", name, "up")


def delete_network() -> None:
    run("ip", "netns", "del", NETNS, check=False)


def switch_command(target: str) -> list[str]:
    interfaces = [arg for n in PORTS for arg in ("-i", f"{n}@sw{n}")]
    if target == "bmv2":
        return [
            "simple_switch_grpc",
            "--device-id",
            "0",
            *interfaces,
            "--no-p4",
            "--",
            "--grpc-server-addr",
            GRPC_ADDR,
            "--cpu-port",
            str(CPU_PORT),
        ]
    # p4sim's switch mode, with simple_switch_grpc's flags.
    return [
        sys.executable,
        "-m",
        "p4sim.server.main",
        "--no-p4",
        "--device-id",
        "0",
        "--cpu-port",
        str(CPU_PORT),
        *interfaces,
        "--grpc-server-addr",
        GRPC_ADDR,
    ]


def wait_for_port(address: str, timeout: float) -> bool:
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def inside(target: str, p4info: Path, config: Path, tests: list[str]) -> int:
    """Runs in the namespace: the switch, then PTF against it."""
    log = (BUILD / f"switch-{target}.log").open("w")
    switch = subprocess.Popen(switch_command(target), stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_for_port(GRPC_ADDR, 60):
            print(
                f"run_ptf: the {target} switch did not serve {GRPC_ADDR}; see {log.name}",
                file=sys.stderr,
            )
            return 2
        params = (
            f"grpc_addr='{GRPC_ADDR}';device_id=0;cpu_port={CPU_PORT};"
            f"p4info='{p4info}';device_config='{config}'"
        )
        command = [
            sys.executable,
            str(VENV_BIN / "ptf"),
            "--test-dir",
            str(ROOT / "ptf_tests" / "forwarder"),
            "--pypath",
            str(ROOT),
            "--log-file",
            str(BUILD / f"ptf-{target}.log"),
            "--test-params",
            params,
            *[arg for n in PORTS for arg in ("-i", f"{n}@pt{n}")],
            *tests,
        ]
        return subprocess.run(command, check=False).returncode
    finally:
        switch.terminate()
        try:
            switch.wait(timeout=10)
        except subprocess.TimeoutExpired:
            switch.kill()
        log.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("p4sim", "bmv2"), default="p4sim")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--p4info", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--device-config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("tests", nargs="*", help="PTF test names (default: all)")
    args = parser.parse_args(argv)
    if args.inside:
        return inside(args.target, args.p4info, args.device_config, args.tests)
    if os.geteuid() != 0:
        print("run_ptf: needs root (network namespace and veths)", file=sys.stderr)
        return 2
    if args.target == "bmv2":
        missing = [tool for tool in ("p4c", "simple_switch_grpc") if shutil.which(tool) is None]
        if missing:
            print(f"run_ptf: TARGET=bmv2 needs {' and '.join(missing)} on PATH", file=sys.stderr)
            return 2
    try:
        p4info, config = build(args.target)
        create_network()
    except subprocess.CalledProcessError as error:
        print(f"run_ptf: {' '.join(error.cmd)} failed:\n{error.stderr}", file=sys.stderr)
        delete_network()
        return 2
    try:
        command = in_netns(
            sys.executable,
            str(Path(__file__).resolve()),
            "--inside",
            "--target",
            args.target,
            "--p4info",
            str(p4info),
            "--device-config",
            str(config),
            *args.tests,
        )
        return subprocess.run(command, check=False).returncode
    finally:
        delete_network()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
