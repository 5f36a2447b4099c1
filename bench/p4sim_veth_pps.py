"""Packets per second p4sim forwards between two veth ports.

p4sim runs as its own process inside a fresh network namespace holding the
switch ends of two veth pairs; this process sends frames into the first
pair's other end and counts what comes out of the second's. Names carry the
process id, offloads are off as in the lab, and the namespace and pairs are
removed afterwards whatever happens. Needs root.

Without `--rate` the sender offers as much as it can and the figure is
p4sim's forwarding capacity (excess frames are dropped at the switch's
socket); with `--rate N` it paces to N packets/s and the loss shows whether
p4sim keeps up. Besides wall-clock packets/s the result gives packets per
CPU second of the switch process, which other work on a shared machine does
not distort.

`measure(...)` is the reusable part: bench/p4sim_pps.py's veth mode calls
it with its routing program, entries and frames.

    .venv/bin/python bench/p4sim_veth_pps.py [--seconds 3] [--rate N] [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
from finsy.proto import p4i, p4r, p4r_grpc
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from p4sim.compiler import compile_file
from p4sim.server.codec import encode

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROGRAM = ROOT / "bench" / "p4" / "writes.p4"
DST_MAC = "02:00:00:00:00:02"

# Installs the entries the measured frame needs, as the primary controller.
Install = Callable[[p4r_grpc.P4RuntimeStub, p4i.P4Info], None]


@dataclass
class Result:
    sent: int
    received: int
    seconds: float
    offered_pps: float
    forwarded_pps: float
    loss: float
    switch_cpu_seconds: float
    forwarded_per_cpu_second: float


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


def _quiet(*command: str) -> None:
    subprocess.run(command, check=False, capture_output=True)


_serial = itertools.count()  # several namespaces in one run get distinct names


@contextmanager
def switch_namespace(count: int) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A fresh namespace and `count` veth pairs: (namespace, [(switch end
    inside it, test end in this namespace)])."""
    tag = f"{os.getpid() % 100000}{next(_serial)}"
    netns = f"p4bench{tag}"
    pairs = [(f"p4b{tag}s{i}", f"p4b{tag}t{i}") for i in range(count)]
    _run("ip", "netns", "add", netns)
    try:
        for switch_end, test_end in pairs:
            _run("ip", "link", "add", switch_end, "type", "veth", "peer", "name", test_end)
            _run("ip", "link", "set", switch_end, "netns", netns)
            _prepare(test_end, ())
            _prepare(switch_end, ("ip", "netns", "exec", netns))
        yield netns, pairs
    finally:
        for _, test_end in pairs:
            _quiet("ip", "link", "del", test_end)  # takes the peer in the namespace along
        _quiet("ip", "netns", "del", netns)



def _prepare(ifname: str, prefix: tuple[str, ...]) -> None:
    """No IPv6 chatter, no offloads (frames as the wire carries them), up."""
    _quiet(*prefix, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1")
    if shutil.which("ethtool"):
        _quiet(*prefix, "ethtool", "-K", ifname, "rx", "off", "tx", "off", "tso", "off",
               "gso", "off", "gro", "off")
    _run(*prefix, "ip", "link", "set", ifname, "up")


@dataclass
class SwitchProcess:
    address: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time the switch process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def p4sim_process(program: Path, ports: list[tuple[int, str]], netns: str,
                  workdir: Path) -> Iterator[SwitchProcess]:
    """p4sim serving P4Runtime on a Unix socket (reachable from any
    namespace) with `ports` as its interfaces, inside `netns`."""
    address = f"unix:{workdir / 'p4runtime.sock'}"
    command = ["ip", "netns", "exec", netns, str(Path(sys.executable).parent / "p4sim"),
               "--grpc-server-addr", address, str(program)]
    for number, ifname in ports:
        command += ["-i", f"{number}@{ifname}"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        if "serving P4Runtime" not in line:
            raise RuntimeError(f"p4sim did not start: {line}{proc.stderr.read()}")
        # Keep reading its log so that the switch never blocks on a full pipe.
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield SwitchProcess(address, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _as_primary(address: str, install: Install) -> None:
    channel = grpc.insecure_channel(address)
    stub = p4r_grpc.P4RuntimeStub(channel)
    outbox: queue.Queue[p4r.StreamMessageRequest | None] = queue.Queue()
    outbox.put(
        p4r.StreamMessageRequest(
            arbitration=p4r.MasterArbitrationUpdate(device_id=0, election_id=p4r.Uint128(low=1))
        )
    )
    stream = stub.StreamChannel(iter(outbox.get, None))
    try:
        next(stream)
        get = p4r.GetForwardingPipelineConfigRequest
        info = stub.GetForwardingPipelineConfig(
            get(device_id=0, response_type=get.P4INFO_AND_COOKIE)
        ).config.p4info
        install(stub, info)
    finally:
        outbox.put(None)
        channel.close()


def exact_entry(table: str, value: int, action: str, **params: int) -> Install:
    """An Install that writes one entry with a single exact key."""

    def install(stub: p4r_grpc.P4RuntimeStub, info: p4i.P4Info) -> None:
        t = next(x for x in info.tables if x.preamble.name.endswith(table))
        a = next(x for x in info.actions if x.preamble.name.endswith(action))
        request = p4r.WriteRequest(device_id=0, election_id=p4r.Uint128(low=1))
        te = request.updates.add(type=p4r.Update.INSERT).entity.table_entry
        te.table_id = t.preamble.id
        te.match.add(field_id=t.match_fields[0].id).exact.value = encode(value)
        te.action.action.action_id = a.preamble.id
        ids = {p.name: p.id for p in a.params}
        for name, v in params.items():
            te.action.action.params.add(param_id=ids[name], value=encode(v))
        stub.Write(request)

    return install


def _count(sock: socket.socket, stop: threading.Event, counts: list[int], marker: bytes) -> None:
    sock.setblocking(False)
    while not stop.is_set():
        if not select.select([sock], [], [], 0.05)[0]:
            continue
        while True:
            try:
                data, address = sock.recvfrom(2048)
            except BlockingIOError:
                break
            if address[2] != socket.PACKET_OUTGOING and marker in data:
                counts[0] += 1


def measure(
    program: Path,
    install: Install,
    frames: bytes | Sequence[bytes],
    seconds: float = 3.0,
    rate: float | None = None,
    ingress: int = 1,
    egress: int = 2,
) -> Result:
    """Forwarded packets/s from port `ingress` to port `egress` of `frames`
    (one frame, or several sent in turn). Frames out are recognised by the
    last 16 bytes of the first frame, which every frame must end with."""
    if os.geteuid() != 0:
        raise PermissionError("needs root to create a namespace and veth pairs")
    frames = [frames] if isinstance(frames, bytes) else list(frames)
    marker = frames[0][-16:]
    if any(not f.endswith(marker) for f in frames):
        raise ValueError("every frame must end with the first frame's last 16 bytes")
    with (
        tempfile.TemporaryDirectory(prefix="p4sim-veth-") as workdir,
        switch_namespace(2) as (netns, pairs),
        p4sim_process(program, [(ingress, pairs[0][0]), (egress, pairs[1][0])], netns,
                      Path(workdir)) as switch,
    ):
        _as_primary(switch.address, install)
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        tx.bind((pairs[0][1], 0))
        rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        rx.bind((pairs[1][1], 0))
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        counts = [0]
        stop = threading.Event()
        counter = threading.Thread(target=_count, args=(rx, stop, counts, marker), daemon=True)
        counter.start()
        sent = 0
        n = len(frames)
        cpu_before = switch.cpu_seconds()
        start = time.perf_counter()
        end = start + seconds
        while (now := time.perf_counter()) < end:
            if rate is not None and sent >= (now - start) * rate:
                time.sleep(0.0005)
                continue
            for _ in range(32):
                try:
                    tx.send(frames[sent % n])
                    sent += 1
                except BlockingIOError:
                    break
        elapsed = time.perf_counter() - start
        time.sleep(0.5)  # let the switch drain its socket buffer
        cpu = switch.cpu_seconds() - cpu_before
        stop.set()
        counter.join()
        tx.close()
        rx.close()
    received = counts[0]
    return Result(
        sent,
        received,
        elapsed,
        sent / elapsed,
        received / elapsed,
        1 - received / sent if sent else 0.0,
        round(cpu, 3),
        received / cpu if cpu else 0.0,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--rate", type=float, help="offered packets/s (default: as fast as possible)"
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("p4sim_veth_pps: skipped: needs root to create a namespace and veth pairs")
        return 0
    compile_file(DEFAULT_PROGRAM)  # fail early on a broken program
    frame = bytes(
        Ether(dst=DST_MAC, src="02:00:00:00:00:01")
        / IP(src="10.0.1.1", dst="10.0.2.1")
        / UDP(sport=1234, dport=80)
        / (b"p4sim-veth-pps--" * 2)
    )
    install = exact_entry("flows", int(DST_MAC.replace(":", ""), 16), "set_port", port=2)
    result = measure(DEFAULT_PROGRAM, install, frame, args.seconds, args.rate)
    print(
        f"p4sim veth: {result.forwarded_pps:,.0f} packets/s forwarded "
        f"(offered {result.offered_pps:,.0f}/s, loss {result.loss:.1%}, "
        f"{result.received} of {result.sent}); "
        f"{result.forwarded_per_cpu_second:,.0f} packets per CPU second of the switch"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
