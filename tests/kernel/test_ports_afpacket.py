"""Real frames through veth pairs: hosts in network namespaces send and
receive with raw sockets (frames built and parsed with scapy), p4sim
forwards between its AF_PACKET ports, in-process and as the `p4sim` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from finsy.proto import p4r, rpc_code
from needs import skip_reason
from netns_support import VethHost, receive
from p4rt_support import CONFORMANCE, Client, Names, compiled, pipeline_config, update
from paths import ROOT
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import rdpcap

from p4sim.server.server import ServerThread

SKIP_REASON = skip_reason("ip", "ethtool")
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")

MAC_A, MAC_B = "02:00:00:00:0a:01", "02:00:00:00:0b:01"


def _pair(tag_a: str, tag_b: str) -> Iterator[tuple[VethHost, VethHost]]:
    a = VethHost(tag_a)
    try:
        b = VethHost(tag_b)
    except Exception:
        a.close()
        raise
    yield a, b
    a.close()
    b.close()


@pytest.fixture(scope="module")
def hosts() -> Iterator[tuple[VethHost, VethHost]]:
    """Two hosts for the in-process switch."""
    yield from _pair("a", "b")


@pytest.fixture()
def other_hosts() -> Iterator[tuple[VethHost, VethHost]]:
    """Two hosts of their own for the `p4sim` command (no second switch on them)."""
    yield from _pair("c", "d")


def _install_l2(client: Client) -> None:
    names = Names(compiled().p4info)
    client.write(
        [
            update(
                p4r.Update.INSERT,
                table_entry=names.entry(
                    "l2_fwd",
                    {"hdr.ethernet.dstAddr": ("exact", int(mac.replace(":", ""), 16))},
                    "forward",
                    {"port": port},
                ),
            )
            for mac, port in ((MAC_A, 1), (MAC_B, 2))
        ]
    )


def _frames(src: str, dst: str, count: int) -> list[bytes]:
    """Numbered frames of the local experimental ethertype (the conformance
    program routes IPv4, and its route table drops on a miss)."""
    return [
        bytes(Ether(src=src, dst=dst, type=0x88B5) / Raw(f"seq={i:05d}".encode() + bytes(40)))
        for i in range(count)
    ]


def _ours(frames: list[bytes], src: str) -> list[bytes]:
    return [f for f in frames if Ether(f).src == src]


def _from(src: str) -> Callable[[bytes], bool]:
    return lambda frame: Ether(frame).src == src


@pytest.fixture(scope="module")
def switch(hosts: tuple[VethHost, VethHost]) -> Iterator[ServerThread]:
    a, b = hosts
    server = ServerThread(cpu_port=64)
    server.call(lambda: server.server.add_interface(1, a.switch_if))
    server.call(lambda: server.server.add_interface(2, b.switch_if))
    server.start()
    client = Client(server.address, election=1)
    assert client.arbitrate().status.code == rpc_code.OK
    client.set_pipeline(
        pipeline_config(compiled()), p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT
    )
    _install_l2(client)
    client.close()
    yield server
    server.stop()


def test_frames_cross_the_switch_in_order_both_ways(
    hosts: tuple[VethHost, VethHost], switch: ServerThread
) -> None:
    a, b = hosts
    sock_a, sock_b = a.socket(), b.socket()
    frames = _frames(MAC_A, MAC_B, 200)
    for f in frames:
        sock_a.send(f)
    got = receive(sock_b, 200, timeout=3, keep=_from(MAC_A))
    assert got == frames, "frames lost, changed or reordered between port 1 and port 2"
    back = _frames(MAC_B, MAC_A, 5)
    for f in back:
        sock_b.send(f)
    assert receive(sock_a, 5, timeout=2, keep=_from(MAC_B)) == back


def test_unknown_destinations_are_dropped(
    hosts: tuple[VethHost, VethHost], switch: ServerThread
) -> None:
    a, b = hosts
    sock_a, sock_b = a.socket(), b.socket()
    sock_a.send(_frames(MAC_A, "02:00:00:00:0c:01", 1)[0])
    assert receive(sock_b, 1, timeout=0.5, keep=_from(MAC_A)) == []


def test_p4sim_command_forwards_and_writes_pcaps(
    other_hosts: tuple[VethHost, VethHost], tmp_path: Path
) -> None:
    a, b = other_hosts
    socket_path = tmp_path / "p4rt.sock"
    pcaps = tmp_path / "pcap"
    command = [
        str(Path(sys.executable).parent / "p4sim"),
        "--device-id",
        "0",
        "-i",
        f"1@{a.switch_if}",
        "-i",
        f"2@{b.switch_if}",
        "--pcap",
        str(pcaps),
        str(CONFORMANCE),
        "--",
        "--grpc-server-addr",
        f"unix:{socket_path}",
        "--cpu-port",
        "64",
    ]
    switch = subprocess.Popen(
        command,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert switch.stderr is not None
        line = switch.stderr.readline()
        assert "serving P4Runtime" in line, line + switch.stderr.read()
        client = Client(f"unix:{socket_path}", election=1)
        assert client.arbitrate().status.code == rpc_code.OK
        _install_l2(client)  # the program from the command line is already in place
        client.close()
        sock_a, sock_b = a.socket(), b.socket()
        frames = _frames(MAC_A, MAC_B, 10)
        for f in frames:
            sock_a.send(f)
        assert receive(sock_b, 10, timeout=3, keep=_from(MAC_A)) == frames
    finally:
        switch.terminate()
        switch.wait(timeout=10)
    assert switch.returncode == 0  # exited: its pcap files are written and closed
    captured_in = [bytes(p) for p in rdpcap(str(pcaps / f"{a.switch_if}_in.pcap"))]
    captured_out = [bytes(p) for p in rdpcap(str(pcaps / f"{b.switch_if}_out.pcap"))]
    assert _ours(captured_in, MAC_A) == frames
    assert captured_out == frames
