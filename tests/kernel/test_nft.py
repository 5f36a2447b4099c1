"""FlowLock and DecapMap on the real kernel, each test in its own namespaces."""

from __future__ import annotations

import select
import socket
import time

import pytest
from kernel_lab import Lab, run
from scapy.layers.inet import IP, TCP

from controller.handoff import tcprepair
from controller.handoff.nft import DecapEntry, DecapMap, FlowLock, Nft, NftError
from controller.handoff.tcpstate import ConnectionState, RepairWindow, TcpOptions

VIP = "10.0.0.100"


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _recv_exactly(sock: socket.socket, length: int, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while len(data) < length:
        chunk = sock.recv(length - len(data))
        if not chunk:
            raise ConnectionError(f"EOF after {data!r}")
        data += chunk
    return data


def test_flow_lock_silences_frozen_socket_and_thaw_restores_service(lab: Lab) -> None:
    client_ns, server_ns = lab.ns("client"), lab.ns("classifier")
    lab.link(client_ns, "10.0.1.10", server_ns, "10.0.1.1")
    lab.ip(server_ns, "addr", "add", f"{VIP}/32", "dev", "lo")
    lab.ip(client_ns, "route", "add", f"{VIP}/32", "via", "10.0.1.1")
    with lab.enter(client_ns):
        watch = Nft()
    # The client's own count of everything the VIP sends it.
    watch.run(
        "add table ip watch\nadd counter ip watch from_vip\n"
        "add chain ip watch in { type filter hook prerouting priority raw; }\n"
        f'add rule ip watch in ip saddr {VIP} counter name "from_vip"\n'
    )
    with lab.enter(server_ns):
        lock = FlowLock(Nft())
    lock.setup()

    listener = lab.socket_in(server_ns)
    listener.bind((VIP, 80))
    listener.listen()
    client = lab.socket_in(client_ns)
    client.connect((VIP, 80))
    server, peer = listener.accept()
    client.sendall(b"hello")
    assert _recv_exactly(server, 5, 2) == b"hello"
    flow = (peer, (VIP, 80))

    lock.lock(*flow)
    # Written under the lock: the output hook refuses it, so the kernel keeps
    # it queued as unsent.
    server.sendall(b"pong0")
    state = tcprepair.freeze(server)
    assert (state.send_unacked, state.send_unsent) == (b"", b"pong0")
    from_vip_before = _counter(watch, "from_vip")
    client.sendall(b"ping1")
    _wait_for(lambda: lock.dropped()[0] >= 2, 3, "the client's retransmission to be dropped")
    _, outbound = lock.dropped()
    assert outbound >= 1, "the frozen socket's segment was not held back"
    assert _counter(watch, "from_vip") == from_vip_before, "the frozen socket answered"
    # Nothing reached the socket while locked.
    assert tcprepair.freeze(server).receive == b""

    lock.unlock(*flow)
    tcprepair.thaw(server)
    assert _recv_exactly(server, 5, 5) == b"ping1"
    assert _recv_exactly(client, 5, 5) == b"pong0"
    server.sendall(b"after")
    assert _recv_exactly(client, 5, 2) == b"after"
    assert lock.locked() == set()
    for sock in (client, server, listener):
        sock.close()


def _counter(nft: Nft, name: str) -> int:
    packets: int = nft.query(f"list counter ip watch {name}")[0]["counter"]["packets"]
    return packets


def _switch_and_backend(lab: Lab) -> tuple[str, str, str]:
    """A 'switch' namespace (10.0.3.1, also the forwarder address) wired to a
    back-end (10.0.3.11, VIP on lo, default route back through the switch)."""
    switch_ns, backend_ns = lab.ns("switch"), lab.ns("backend")
    switch_if, _ = lab.link(switch_ns, "10.0.3.1", backend_ns, "10.0.3.11")
    lab.ip(backend_ns, "addr", "add", f"{VIP}/32", "dev", "lo")
    lab.ip(backend_ns, "route", "add", "default", "via", "10.0.3.1")
    return switch_ns, backend_ns, switch_if


def _tcp_in_csum_errors(lab: Lab, ns: str) -> int:
    for line in lab.sh(ns, "nstat", "-az", "TcpInCsumErrors").splitlines():
        if line.startswith("TcpInCsumErrors"):
            return int(line.split()[1])
    raise AssertionError("nstat did not report TcpInCsumErrors")


def test_decap_rewrites_flow_id_packet_to_restored_socket(lab: Lab) -> None:
    switch_ns, backend_ns, switch_if = _switch_and_backend(lab)
    with lab.enter(backend_ns):
        decap = DecapMap(Nft())
    decap.setup()
    flow_id = 0x0001_2345
    entry = DecapEntry("10.0.3.1", "10.0.3.11", flow_id, "10.0.1.10", 40000, VIP, 80)
    decap.add(entry)

    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    state = ConnectionState(
        client_ip="10.0.1.10",
        client_port=40000,
        vip_ip=VIP,
        vip_port=80,
        snd_seq=0xFFFF_FF00,  # wraps while the test runs
        rcv_seq=0x7000_0000,
        window=RepairWindow(0x7000_0000, 65535, 65535, 65535, 0x7000_0000),
        options=TcpOptions(1460, 0, 0, sack=False, timestamps=False, ts_offset=0),
        send_unacked=b"",
        send_unsent=b"",
        receive=request,
    )
    with lab.enter(backend_ns):
        restored = tcprepair.restore(state)
    with lab.enter(switch_ns):
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        capture = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
        capture.bind((switch_if, 0x0800))
    seq = state.rcv_seq + len(request)

    def wire(payload: bytes, chksum: int | None = None) -> bytes:
        tcp = TCP(sport=flow_id >> 16, dport=flow_id & 0xFFFF, seq=seq, ack=state.snd_seq)
        tcp.flags, tcp.window = "PA", 65535
        if chksum is not None:
            tcp.chksum = chksum
        return bytes(IP(src="10.0.3.1", dst="10.0.3.11") / tcp / payload)

    good = wire(b"hello")
    bad = wire(b"hello", chksum=(IP(good)[TCP].chksum ^ 0x5555))
    errors_before = _tcp_in_csum_errors(lab, backend_ns)
    raw.sendto(bad, ("10.0.3.11", 0))
    _wait_for(
        lambda: _tcp_in_csum_errors(lab, backend_ns) > errors_before,
        2,
        "the kernel to reject the corrupted segment",
    )
    raw.sendto(good, ("10.0.3.11", 0))
    assert _recv_exactly(restored, len(request) + 5, 2) == request + b"hello"
    assert _tcp_in_csum_errors(lab, backend_ns) == errors_before + 1
    assert decap.decapsulated() == 2

    # The back-end acknowledges straight to the client, from the VIP.
    deadline = time.monotonic() + 2
    reply = None
    while reply is None and time.monotonic() < deadline:
        if select.select([capture], [], [], 0.1)[0]:
            pkt = IP(capture.recv(65535))
            if TCP in pkt and pkt[TCP].ack == (seq + 5) & 0xFFFFFFFF:
                reply = pkt
    assert reply is not None, "no acknowledgement from the restored socket"
    assert (reply.src, reply[TCP].sport, reply.dst, reply[TCP].dport) == (
        VIP,
        80,
        "10.0.1.10",
        40000,
    )

    assert decap.remove("10.0.3.1", "10.0.3.11", flow_id) == entry
    raw.sendto(wire(b"again"), ("10.0.3.11", 0))
    # Not rewritten any more, the segment reaches no socket: the back-end's
    # kernel answers it with a RST from its own address and the flow id ports.
    deadline = time.monotonic() + 5
    rst = None
    while rst is None and time.monotonic() < deadline:
        if select.select([capture], [], [], 0.1)[0]:
            pkt = IP(capture.recv(65535))
            if TCP in pkt and pkt.src == "10.0.3.11" and pkt[TCP].flags.R:
                rst = pkt
    assert rst is not None, "the unmapped segment was not answered with a RST"
    assert (rst[TCP].sport, rst[TCP].dport) == (flow_id & 0xFFFF, flow_id >> 16)
    assert decap.decapsulated() == 2
    restored.setblocking(False)
    with pytest.raises(BlockingIOError):
        restored.recv(10)
    for sock in (raw, capture):
        sock.close()
    tcprepair.close_silently(restored)


def test_decap_setup_adopts_flows_left_by_a_previous_agent(lab: Lab) -> None:
    backend_ns = lab.ns("backend")
    with lab.enter(backend_ns):
        first = DecapMap(Nft())
        second = DecapMap(Nft(backend="command"))
    first.setup()
    entries = [
        DecapEntry("10.0.3.1", "10.0.3.11", (7 << 16) | n, "10.0.1.10", 40000 + n, VIP, 80)
        for n in range(3)
    ]
    for entry in entries:
        first.add(entry)
    first.remove("10.0.3.1", "10.0.3.11", entries[1].flow_id)
    first.add(entries[1])  # reuses the freed index
    first.add(entries[1])  # same entry again: no-op
    second.setup()
    assert sorted(second.entries(), key=lambda e: e.flow_id) == entries
    with pytest.raises(ValueError, match="already maps"):
        second.add(DecapEntry("10.0.3.1", "10.0.3.11", entries[0].flow_id, "10.9.9.9", 1, VIP, 80))
    second.remove("10.0.3.1", "10.0.3.11", entries[0].flow_id)
    with pytest.raises(KeyError):
        second.remove("10.0.3.1", "10.0.3.11", entries[0].flow_id)
    fresh = DecapEntry("10.0.3.1", "10.0.3.11", 99, "10.0.1.11", 1234, VIP, 80)
    second.add(fresh)
    first.setup()
    assert sorted(first.entries(), key=lambda e: e.flow_id) == sorted(
        [*entries[1:], fresh], key=lambda e: e.flow_id
    )
    second.teardown()
    assert "p4handoff_decap" not in lab.sh(backend_ns, "nft", "list", "tables")
    second.teardown()  # idempotent


def test_lock_errors_name_the_flow_and_both_backends_agree(lab: Lab) -> None:
    ns = lab.ns("classifier")
    with lab.enter(ns):
        by_library, by_command = FlowLock(Nft("library")), FlowLock(Nft("command"))
    by_library.setup()
    by_command.setup()  # idempotent, keeps the set
    by_library.lock(("10.0.1.10", 40000), (VIP, 80))
    by_command.lock(("10.0.1.11", 40001), (VIP, 80))
    expected = {(("10.0.1.10", 40000), (VIP, 80)), (("10.0.1.11", 40001), (VIP, 80))}
    assert by_command.locked() == by_library.locked() == expected
    by_command.unlock(("10.0.1.10", 40000), (VIP, 80))
    with pytest.raises(NftError, match=r"delete element ip p4handoff_lock flows"):
        by_library.unlock(("10.0.1.10", 40000), (VIP, 80))
    with pytest.raises(ValueError, match="port 70000"):
        by_library.lock(("10.0.1.10", 70000), (VIP, 80))
    with by_library.held(("10.0.1.12", 1), (VIP, 80)):
        assert len(by_library.locked()) == 2
    assert by_library.locked() == {(("10.0.1.11", 40001), (VIP, 80))}
    by_library.teardown()
    assert "p4handoff_lock" not in run("ip", "netns", "exec", ns, "nft", "list", "tables")
