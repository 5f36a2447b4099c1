"""IPv6 connections through the kernel steps of a handoff, beside IPv4.

The IPv6 twins of test_tcprepair.py and test_nft.py: TCP_REPAIR freeze and
restore (AF_INET6) with data in flight both ways, the flow lock and the
decapsulation map in their `ip6` tables, and both families in one lock and
one map. Addresses are from 2001:db8::/32; every namespace has duplicate
address detection off, so addresses are usable at once.
"""

from __future__ import annotations

import hashlib
import random
import select
import socket
import struct
import time

import pytest
from kernel_lab import (
    VIP,
    VIP6,
    Lab,
    Reader,
    Writer,
    fill_send_queue,
    handoff_topology6,
    rst_count,
    rst_watch,
    tcp_settings,
)
from scapy.layers.inet import TCP
from scapy.layers.inet6 import IPv6

from controller.handoff import tcprepair
from controller.handoff.nft import DecapEntry, DecapMap, FlowLock, Nft
from controller.handoff.tcpstate import ConnectionState, RepairWindow, TcpOptions
from controller.lab.session import wait_for

FORWARDER6 = "2001:db8:3::fe"  # the switch's address on the back-end side (never assigned)
BACKEND6 = "2001:db8:3::11"
ETH_P_IPV6 = 0x86DD


def _recv_exactly(sock: socket.socket, length: int, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while len(data) < length:
        chunk = sock.recv(length - len(data))
        if not chunk:
            raise ConnectionError(f"EOF after {data!r}")
        data += chunk
    return data


def _socket6(lab: Lab, ns: str) -> socket.socket:
    return lab.socket_in(ns, family=socket.AF_INET6)


@pytest.mark.parametrize("options", ["all-on", "all-off"])
def test_ipv6_handoff_keeps_both_streams_intact_with_bytes_in_flight(
    lab: Lab, options: str
) -> None:
    on = options == "all-on"
    ns = handoff_topology6(lab)
    for role in ("client", "classifier", "backend"):
        # The net.ipv4.tcp_* sysctls govern IPv6 TCP as well.
        tcp_settings(lab, ns[role], timestamps=on, sack=on, wscale=on)
    rst = rst_watch(lab, ns["client"])
    with lab.enter(ns["classifier"]):
        lock = FlowLock(Nft())
    lock.setup()

    rng = random.Random(options)
    upload = rng.randbytes(3 << 20)
    download = rng.randbytes(8 << 20)
    listener = _socket6(lab, ns["classifier"])
    listener.bind((VIP6, 80))
    listener.listen()
    client = _socket6(lab, ns["client"])
    # A fixed receive buffer (no autotuning): with the classifier's send
    # buffer (4 MiB at most) it holds less than the download, so the send
    # queue fills while the client holds.
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    client.connect((VIP6, 80))
    server, peer6 = listener.accept()
    peer = (peer6[0], peer6[1])
    # The client reads the first 256 KiB and then nothing until the handoff
    # is done, so the classifier's send queue is full when it freezes.
    client_reader = Reader(client, len(download), 64 * 1024, 0.004, hold_after=256 * 1024)
    client_reader.start()
    client_writer = Writer(client, upload, 64 * 1024, 0.004)
    client_writer.start()

    already_read = b""
    while len(already_read) < 1000:
        already_read += server.recv(1000 - len(already_read))
    sent_by_classifier = fill_send_queue(server, download, client_reader)

    lock.lock(peer, (VIP6, 80))
    state = tcprepair.freeze(server, already_read=already_read)
    assert (state.client_ip, state.vip_ip) == ("2001:db8:1::10", VIP6)
    assert upload.startswith(state.receive) and len(state.receive) > len(already_read)
    queued = state.send_unacked + state.send_unsent
    assert queued and download[:sent_by_classifier].endswith(queued)
    assert state.options.timestamps is on and state.options.sack is on
    assert (state.options.snd_wscale > 0) is on

    with lab.enter(ns["backend"]):
        restored = tcprepair.restore(state)
    assert restored.family == socket.AF_INET6
    lab.ip(ns["router"], "-6", "route", "replace", f"{VIP6}/128", "via", BACKEND6)
    tcprepair.close_silently(server)
    lock.unlock(peer, (VIP6, 80))
    client_reader.resume.set()
    assert restored.getsockname()[:2] == (VIP6, 80) and restored.getpeername()[:2] == peer
    # Full-sized segments (MTU 1500 less 60 bytes of headers and options).
    snd_mss = struct.unpack_from("=I", restored.getsockopt(socket.IPPROTO_TCP, 11, 104), 16)[0]
    assert snd_mss >= 1400, f"restored socket sends {snd_mss}-byte segments"

    backend_reader = Reader(restored, len(upload))
    backend_reader.start()
    restored.sendall(download[sent_by_classifier:])
    assert backend_reader.result(20) == hashlib.sha256(upload).hexdigest()
    assert client_reader.result(20) == hashlib.sha256(download).hexdigest()
    client_writer.finish(5)
    assert rst_count(rst) == 0
    for sock in (client, restored, listener):
        sock.close()


def _forwarder_stand_in6(lab: Lab, router_ns: str) -> Nft:
    """TEST STAND-IN for the P4 forwarder's IPv6 encapsulation (p4src replaces
    it in the lab): client -> VIP6 packets of handed-off flows become
    FORWARDER6 -> back-end with the flow id in the ports. Each lookup comes
    before the statement that rewrites the fields it is keyed on."""
    with lab.enter(router_ns):
        nft = Nft()
    t = "ip6 forwarder"
    nft.run(
        f"add table {t}\n"
        f"add set {t} handed_off {{ type ipv6_addr . inet_service; }}\n"
        f"add map {t} id_hi {{ type ipv6_addr . inet_service : inet_service; }}\n"
        f"add map {t} id_lo {{ type ipv6_addr . inet_service : inet_service; }}\n"
        f"add chain {t} pre {{ type filter hook prerouting priority raw; }}\n"
        f"add rule {t} pre ip6 daddr {VIP6} tcp dport 80 ip6 saddr . tcp sport @handed_off"
        " tcp dport set ip6 saddr . tcp sport map @id_lo"
        f" ip6 daddr set {BACKEND6}"
        " tcp sport set ip6 saddr . tcp sport map @id_hi"
        f" ip6 saddr set {FORWARDER6}\n"
    )
    return nft


def test_ipv6_handoffs_through_forwarder_and_decap_without_rst(lab: Lab) -> None:
    ns = handoff_topology6(lab)
    rst = rst_watch(lab, ns["client"])
    forwarder = _forwarder_stand_in6(lab, ns["router"])
    with lab.enter(ns["classifier"]):
        lock = FlowLock(Nft())
    with lab.enter(ns["backend"]):
        decap = DecapMap(Nft())
    lock.setup()
    decap.setup()

    count = 50
    listener = _socket6(lab, ns["classifier"])
    listener.bind((VIP6, 80))
    listener.listen(count)
    clients = []
    for _ in range(count):
        client = _socket6(lab, ns["client"])
        client.connect((VIP6, 80))
        clients.append(client)
    accepted = {}
    for _ in range(count):
        server, peer = listener.accept()
        accepted[peer[:2]] = server

    restored: list[socket.socket] = []
    for n, client in enumerate(clients):
        request = f"GET /{n} HTTP/1.1\r\n\r\n".encode()
        client.sendall(request)
        peer = client.getsockname()[:2]
        server = accepted[peer]
        already_read = server.recv(len(request), socket.MSG_WAITALL)
        flow_id = 0x0A00_0000 + n * 0x10001  # both port halves vary
        with lock.held(peer, (VIP6, 80)):
            state = tcprepair.freeze(server, already_read=already_read)
            decap.add(DecapEntry(FORWARDER6, BACKEND6, flow_id, peer[0], peer[1], VIP6, 80))
            with lab.enter(ns["backend"]):
                restored.append(tcprepair.restore(state))
            key = f"{peer[0]} . {peer[1]}"
            forwarder.run(
                f"add element ip6 forwarder handed_off {{ {key} }}\n"
                f"add element ip6 forwarder id_hi {{ {key} : {flow_id >> 16} }}\n"
                f"add element ip6 forwarder id_lo {{ {key} : {flow_id & 0xFFFF} }}\n"
            )
            tcprepair.close_silently(server)

    for n, (client, sock) in enumerate(zip(clients, restored, strict=True)):
        request = f"GET /{n} HTTP/1.1\r\n\r\n".encode()
        sock.settimeout(5)
        client.settimeout(5)
        assert sock.recv(len(request), socket.MSG_WAITALL) == request
        sock.sendall(b"reply %d" % n)
        client.sendall(b"next %d" % n)
    for n, (client, sock) in enumerate(zip(clients, restored, strict=True)):
        expected = b"reply %d" % n
        assert client.recv(len(expected), socket.MSG_WAITALL) == expected
        expected = b"next %d" % n
        assert sock.recv(len(expected), socket.MSG_WAITALL) == expected
    assert decap.decapsulated() >= count
    assert lock.locked() == set()
    assert rst_count(rst) == 0
    for sock in (*clients, *restored, listener):
        sock.close()


def _counter6(nft: Nft, name: str) -> int:
    packets: int = nft.query(f"list counter ip6 watch {name}")[0]["counter"]["packets"]
    return packets


def test_ipv6_flow_lock_silences_frozen_socket_and_thaw_restores_service(lab: Lab) -> None:
    client_ns, server_ns = lab.ns("client"), lab.ns("classifier")
    lab.link6(client_ns, "2001:db8:1::10", server_ns, "2001:db8:1::1")
    lab.ip(server_ns, "-6", "addr", "add", f"{VIP6}/128", "dev", "lo")
    lab.ip(client_ns, "-6", "route", "add", f"{VIP6}/128", "via", "2001:db8:1::1")
    with lab.enter(client_ns):
        watch = Nft()
    watch.run(
        "add table ip6 watch\nadd counter ip6 watch from_vip\n"
        "add chain ip6 watch in { type filter hook prerouting priority raw; }\n"
        f'add rule ip6 watch in ip6 saddr {VIP6} counter name "from_vip"\n'
    )
    with lab.enter(server_ns):
        lock = FlowLock(Nft())
    lock.setup()

    listener = _socket6(lab, server_ns)
    listener.bind((VIP6, 80))
    listener.listen()
    client = _socket6(lab, client_ns)
    client.connect((VIP6, 80))
    server, peer = listener.accept()
    client.sendall(b"hello")
    assert _recv_exactly(server, 5, 2) == b"hello"
    flow = ((peer[0], peer[1]), (VIP6, 80))

    lock.lock(*flow)
    assert lock.locked() == {flow}
    server.sendall(b"pong0")
    state = tcprepair.freeze(server)
    assert (state.send_unacked, state.send_unsent) == (b"", b"pong0")
    from_vip_before = _counter6(watch, "from_vip")
    client.sendall(b"ping1")
    wait_for(lambda: lock.dropped()[0] >= 2, 3, "the client's retransmission to be dropped")
    assert lock.dropped()[1] >= 1, "the frozen socket's segment was not held back"
    assert _counter6(watch, "from_vip") == from_vip_before, "the frozen socket answered"
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


def _switch_and_backend6(lab: Lab) -> tuple[str, str, str]:
    """A 'switch' namespace (2001:db8:3::1) wired to a back-end (BACKEND6,
    VIP6 on lo, default route back through the switch)."""
    switch_ns, backend_ns = lab.ns("switch"), lab.ns("backend")
    switch_if, backend_if = lab.link6(switch_ns, "2001:db8:3::1", backend_ns, BACKEND6)
    # Checksums finished in software, so what the capture reads is what a
    # wire would carry.
    lab.sh(backend_ns, "ethtool", "-K", backend_if, "tx", "off")
    lab.ip(backend_ns, "-6", "addr", "add", f"{VIP6}/128", "dev", "lo")
    lab.ip(backend_ns, "-6", "route", "add", "default", "via", "2001:db8:3::1")
    return switch_ns, backend_ns, switch_if


def _tcp_in_csum_errors(lab: Lab, ns: str) -> int:
    # One TCP MIB for both families.
    for line in lab.sh(ns, "nstat", "-az", "TcpInCsumErrors").splitlines():
        if line.startswith("TcpInCsumErrors"):
            return int(line.split()[1])
    raise AssertionError("nstat did not report TcpInCsumErrors")


def _capture6(lab: Lab, ns: str, ifname: str) -> socket.socket:
    with lab.enter(ns):
        capture = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IPV6))
    capture.bind((ifname, ETH_P_IPV6))
    return capture


def _raw6(lab: Lab, ns: str) -> socket.socket:
    """An IPv6 raw socket that sends whole packets, header included
    (IPPROTO_RAW implies IPV6_HDRINCL)."""
    with lab.enter(ns):
        return socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)


def _next_tcp(capture: socket.socket, match: object, timeout: float) -> IPv6 | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([capture], [], [], 0.1)[0]:
            pkt = IPv6(capture.recv(65535))
            if TCP in pkt and match(pkt):  # type: ignore[operator]
                return pkt
    return None


def _tcp_checksum_ok(pkt: IPv6) -> bool:
    recomputed = IPv6(bytes(pkt))
    del recomputed[TCP].chksum
    return bool(IPv6(bytes(recomputed))[TCP].chksum == pkt[TCP].chksum)


def test_ipv6_decap_rewrites_flow_id_packet_to_restored_socket(lab: Lab) -> None:
    switch_ns, backend_ns, switch_if = _switch_and_backend6(lab)
    with lab.enter(backend_ns):
        decap = DecapMap(Nft())
    decap.setup()
    flow_id = 0x0001_2345
    entry = DecapEntry("2001:db8:3::1", BACKEND6, flow_id, "2001:db8:1::10", 40000, VIP6, 80)
    decap.add(entry)
    assert "ip6 saddr set meta mark map @client_addr" in lab.sh(
        backend_ns, "nft", "list", "table", "ip6", "p4handoff_decap"
    )

    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    state = ConnectionState(
        client_ip="2001:db8:1::10",
        client_port=40000,
        vip_ip=VIP6,
        vip_port=80,
        snd_seq=0xFFFF_FF00,
        rcv_seq=0x7000_0000,
        window=RepairWindow(0x7000_0000, 65535, 65535, 65535, 0x7000_0000),
        options=TcpOptions(1440, 0, 0, sack=False, timestamps=False, ts_offset=0),
        send_unacked=b"",
        send_unsent=b"",
        receive=request,
    )
    with lab.enter(backend_ns):
        restored = tcprepair.restore(state)
    raw = _raw6(lab, switch_ns)
    capture = _capture6(lab, switch_ns, switch_if)
    seq = state.rcv_seq + len(request)

    def wire(payload: bytes, chksum: int | None = None) -> bytes:
        tcp = TCP(sport=flow_id >> 16, dport=flow_id & 0xFFFF, seq=seq, ack=state.snd_seq)
        tcp.flags, tcp.window = "PA", 65535
        if chksum is not None:
            tcp.chksum = chksum
        return bytes(IPv6(src="2001:db8:3::1", dst=BACKEND6) / tcp / payload)

    good = wire(b"hello")
    bad = wire(b"hello", chksum=(IPv6(good)[TCP].chksum ^ 0x5555))
    errors_before = _tcp_in_csum_errors(lab, backend_ns)
    raw.sendto(bad, (BACKEND6, 0))
    wait_for(
        lambda: _tcp_in_csum_errors(lab, backend_ns) > errors_before,
        2,
        "the kernel to reject the corrupted segment",
    )
    raw.sendto(good, (BACKEND6, 0))
    assert _recv_exactly(restored, len(request) + 5, 2) == request + b"hello"
    assert _tcp_in_csum_errors(lab, backend_ns) == errors_before + 1
    assert decap.decapsulated() == 2

    # Acknowledged straight to the client, from the VIP, with a valid checksum.
    reply = _next_tcp(capture, lambda p: p[TCP].ack == (seq + 5) & 0xFFFFFFFF, 2)
    assert reply is not None, "no acknowledgement from the restored socket"
    assert (reply.src, reply[TCP].sport, reply.dst, reply[TCP].dport) == (
        VIP6,
        80,
        "2001:db8:1::10",
        40000,
    )
    assert _tcp_checksum_ok(reply)

    assert decap.remove("2001:db8:3::1", BACKEND6, flow_id) == entry
    raw.sendto(wire(b"again"), (BACKEND6, 0))
    # No longer rewritten and no forwarder configured to drop it by: the
    # back-end's kernel resets the unknown flow-id flow.
    rst = _next_tcp(capture, lambda p: p.src == BACKEND6 and p[TCP].flags.R, 5)
    assert rst is not None, "the unmapped segment was not answered with a RST"
    assert (rst[TCP].sport, rst[TCP].dport) == (flow_id & 0xFFFF, flow_id >> 16)
    assert decap.decapsulated() == 2
    for sock in (raw, capture):
        sock.close()
    tcprepair.close_silently(restored)


def test_ipv6_decap_syn_is_answered_by_the_vip_listener(lab: Lab) -> None:
    switch_ns, backend_ns, switch_if = _switch_and_backend6(lab)
    with lab.enter(backend_ns):
        decap = DecapMap(Nft())
    decap.setup()
    flow_id = 0xBEEF_0042
    decap.add(DecapEntry("2001:db8:3::1", BACKEND6, flow_id, "2001:db8:1::10", 41000, VIP6, 80))
    listener = _socket6(lab, backend_ns)
    listener.bind((VIP6, 80))
    listener.listen()
    raw = _raw6(lab, switch_ns)
    capture = _capture6(lab, switch_ns, switch_if)

    syn = TCP(sport=flow_id >> 16, dport=flow_id & 0xFFFF, seq=1000, flags="S", window=65535)
    raw.sendto(bytes(IPv6(src="2001:db8:3::1", dst=BACKEND6) / syn), (BACKEND6, 0))
    answer = _next_tcp(capture, lambda p: p[TCP].flags.S and p[TCP].flags.A, 3)
    assert answer is not None, "the VIP listener did not answer the rewritten SYN"
    assert (answer.src, answer[TCP].sport, answer.dst, answer[TCP].dport) == (
        VIP6,
        80,
        "2001:db8:1::10",
        41000,
    )
    assert answer[TCP].ack == 1001
    assert _tcp_checksum_ok(answer)
    assert decap.decapsulated() == 1
    for sock in (raw, capture, listener):
        sock.close()


def _tcp_out_rsts(lab: Lab, ns: str) -> int:
    for line in lab.sh(ns, "nstat", "-az", "TcpOutRsts").splitlines():
        if line.startswith("TcpOutRsts "):
            return int(line.split()[1])
    raise AssertionError("nstat did not report TcpOutRsts")


def test_ipv6_decap_drops_unmapped_segments_from_a_forwarder_without_a_rst(lab: Lab) -> None:
    switch_ns, backend_ns, switch_if = _switch_and_backend6(lab)
    with lab.enter(backend_ns):
        decap = DecapMap(Nft())
    decap.setup(forwarders=["10.0.3.1", "2001:db8:3::1"])
    # A mapping for another flow id: the miss is of this flow id, not of an empty map.
    decap.add(DecapEntry("2001:db8:3::1", BACKEND6, 0x9_0009, "2001:db8:1::10", 1, VIP6, 80))
    raw = _raw6(lab, switch_ns)
    capture = _capture6(lab, switch_ns, switch_if)
    resets_before = _tcp_out_rsts(lab, backend_ns)

    flow_id = 0x0001_2345
    segments = [
        TCP(sport=flow_id >> 16, dport=flow_id & 0xFFFF, seq=1000, ack=2000, flags=flags) / data
        for flags, data in (("S", b""), ("PA", b"hello"), ("A", b""))
    ]
    for segment in segments:
        raw.sendto(bytes(IPv6(src="2001:db8:3::1", dst=BACKEND6) / segment), (BACKEND6, 0))
    wait_for(lambda: decap.unmapped() >= len(segments), 2, "the unmapped segments to be counted")

    # Without the drop each of them is answered with a RST to 2001:db8:3::1.
    answer = _next_tcp(capture, lambda p: p.src in (BACKEND6, VIP6), 0.5)
    assert answer is None, f"the back-end answered: {answer!r}"
    assert _tcp_out_rsts(lab, backend_ns) == resets_before
    assert decap.unmapped() == len(segments)
    assert decap.decapsulated() == 0
    for sock in (raw, capture):
        sock.close()


def test_lock_and_decap_hold_ipv4_and_ipv6_flows_side_by_side(lab: Lab) -> None:
    ns = lab.ns("host")
    with lab.enter(ns):
        lock, other_lock = FlowLock(Nft("library")), FlowLock(Nft("command"))
        first, second = DecapMap(Nft()), DecapMap(Nft(backend="command"))
    lock.setup()
    other_lock.setup()
    flows = {
        (("10.0.1.10", 40000), (VIP, 80)),
        (("2001:db8:1::10", 40000), (VIP6, 80)),
    }
    for flow in flows:
        lock.lock(*flow)
    # Written long-hand, matched in canonical form.
    lock.lock(("2001:0db8:0001:0000::0011", 1), (VIP6, 80))
    assert other_lock.locked() == {*flows, (("2001:db8:1::11", 1), (VIP6, 80))}
    other_lock.unlock(("2001:db8:1::11", 1), (VIP6, 80))
    with pytest.raises(ValueError, match="mix IPv4 and IPv6"):
        lock.lock(("10.0.1.10", 1), (VIP6, 80))
    listing = lab.sh(ns, "nft", "list", "table", "ip6", "p4handoff_lock")
    assert "ipv6_addr . inet_service . ipv6_addr . inet_service" in listing

    first.setup()
    entries = [
        DecapEntry("10.0.3.1", "10.0.3.11", 0x10001, "10.0.1.10", 40000, VIP, 80),
        DecapEntry("2001:db8:3::1", BACKEND6, 0x10001, "2001:db8:1::10", 40000, VIP6, 80),
        DecapEntry("2001:db8:3::1", BACKEND6, 0x10002, "2001:db8:1::10", 40001, VIP6, 80),
    ]
    for entry in entries:
        first.add(entry)
    first.remove("10.0.3.1", "10.0.3.11", 0x10001)
    first.add(entries[0])  # reuses the freed index, now shared by both tables
    with pytest.raises(ValueError, match="mix IPv4 and IPv6"):
        DecapEntry("2001:db8:3::1", "10.0.3.11", 1, "2001:db8:1::10", 1, VIP6, 80)
    second.setup()
    assert sorted(second.entries(), key=lambda e: (e.forwarder, e.flow_id)) == sorted(
        entries, key=lambda e: (e.forwarder, e.flow_id)
    )
    with pytest.raises(ValueError, match=r"already maps to \[2001:db8:1::10\]:40000"):
        second.add(DecapEntry("2001:db8:3::1", BACKEND6, 0x10001, "2001:db8:1::99", 1, VIP6, 80))
    second.remove("2001:db8:3::1", BACKEND6, 0x10002)
    first.setup()
    assert sorted(first.entries(), key=lambda e: e.forwarder) == entries[:2]
    second.teardown()
    lock.teardown()
    assert "p4handoff" not in lab.sh(ns, "nft", "list", "tables")
