"""Live connections frozen in one namespace and restored in another, on the real kernel.

Topology (addresses as in the default lab): client C (10.0.1.10) - router R -
classifier A (10.0.2.10) and back-end B (10.0.3.11), both with the VIP
10.0.0.100 on lo. R routes the VIP to A; a handoff either re-routes the VIP to
B (test_handoff_*) or, per flow, rewrites the client's packets the way the P4
forwarder will, with a stand-in nftables rule in R (test_200_handoffs_*).
"""

from __future__ import annotations

import hashlib
import random
import socket
import struct
import time
from dataclasses import replace

import pytest
from kernel_lab import (
    VIP,
    Lab,
    Reader,
    Writer,
    fill_send_queue,
    handoff_topology,
    rst_count,
    rst_watch,
    tcp_settings,
)

from controller.handoff import tcprepair
from controller.handoff.nft import DecapEntry, DecapMap, FlowLock, Nft
from controller.handoff.tcprepair import RepairError
from controller.lab.session import wait_for

CLOSE_WAIT = 8  # include/net/tcp_states.h


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of `sock` (tcpi_state, the first byte of TCP_INFO)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


FORWARDER = "10.0.3.254"  # the switch's address on the back-end side (never assigned)


OPTION_CASES = {
    # name: (connection negotiates ts/sack/wscale, back-end host's own sysctls)
    "all-on": ((True, True, True), (True, True, True)),
    "all-off": ((False, False, False), (False, False, False)),
    "on-backend-sysctls-off": ((True, True, True), (False, False, False)),
    "timestamps-only-backend-on": ((True, False, False), (True, True, True)),
}


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_handoff_keeps_both_streams_intact_with_bytes_in_flight(lab: Lab, case: str) -> None:
    (ts, sack, ws), backend_opts = OPTION_CASES[case]
    ns = handoff_topology(lab)
    for role in ("client", "classifier"):
        tcp_settings(lab, ns[role], timestamps=ts, sack=sack, wscale=ws)
    tcp_settings(
        lab,
        ns["backend"],
        timestamps=backend_opts[0],
        sack=backend_opts[1],
        wscale=backend_opts[2],
    )
    rst = rst_watch(lab, ns["client"])
    with lab.enter(ns["classifier"]):
        lock = FlowLock(Nft())
    lock.setup()

    rng = random.Random(case)
    upload = rng.randbytes(3 << 20)
    download = rng.randbytes(8 << 20)

    listener = lab.socket_in(ns["classifier"])
    listener.bind((VIP, 80))
    listener.listen()
    client = lab.socket_in(ns["client"])
    # A fixed receive buffer (no autotuning): with the classifier's send
    # buffer (4 MiB at most) it holds less than the download, so the send
    # queue fills while the client holds.
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    client.connect((VIP, 80))
    server, peer = listener.accept()
    # The client reads the first 256 KiB and then nothing until the handoff
    # is done, so the classifier's send queue is full when it freezes.
    client_reader = Reader(client, len(download), 64 * 1024, 0.004, hold_after=256 * 1024)
    client_reader.start()
    client_writer = Writer(client, upload, 64 * 1024, 0.004)
    client_writer.start()

    # The classifier reads the start of the request, and has answered part of it.
    already_read = b""
    while len(already_read) < 1000:
        already_read += server.recv(1000 - len(already_read))
    sent_by_classifier = fill_send_queue(server, download, client_reader)

    lock.lock(peer, (VIP, 80))
    state = tcprepair.freeze(server, already_read=already_read)
    assert state.receive[:1000] == upload[:1000]
    assert upload.startswith(state.receive), "receive data is not the client's stream"
    queued = state.send_unacked + state.send_unsent
    assert queued and download[:sent_by_classifier].endswith(queued)
    assert len(state.receive) > len(already_read), "nothing queued beyond what was read"
    assert state.options.timestamps is ts and state.options.sack is sack
    assert (state.options.snd_wscale > 0) is ws

    # The handoff's order (docs/blob-format.md): restore on the back-end,
    # steer the flow there, then drop the frozen socket and the lock (a
    # segment reaching a host without the socket would be answered with a RST).
    with lab.enter(ns["backend"]):
        restored = tcprepair.restore(state)
    lab.ip(ns["router"], "route", "replace", f"{VIP}/32", "via", "10.0.3.11")
    tcprepair.close_silently(server)
    lock.unlock(peer, (VIP, 80))
    client_reader.resume.set()
    assert restored.getsockname() == (VIP, 80) and restored.getpeername() == peer
    # Full-sized segments (MTU 1500 less headers and options), not the 536 default.
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


def _forwarder_stand_in(lab: Lab, router_ns: str) -> Nft:
    """TEST STAND-IN for the P4 forwarder (p4src on p4sim replaces it in the
    lab): for client flows in `handed_off`, rewrite client -> VIP packets to
    FORWARDER -> back-end with the flow id in the ports. Each map lookup is
    keyed on (client ip, client port) and placed before the statement that
    rewrites those fields."""
    with lab.enter(router_ns):
        nft = Nft()
    t = "ip forwarder"
    nft.run(
        f"add table {t}\n"
        f"add set {t} handed_off {{ type ipv4_addr . inet_service; }}\n"
        f"add map {t} id_hi {{ type ipv4_addr . inet_service : inet_service; }}\n"
        f"add map {t} id_lo {{ type ipv4_addr . inet_service : inet_service; }}\n"
        f"add chain {t} pre {{ type filter hook prerouting priority raw; }}\n"
        f"add rule {t} pre ip daddr {VIP} tcp dport 80 ip saddr . tcp sport @handed_off"
        " tcp dport set ip saddr . tcp sport map @id_lo"
        " ip daddr set 10.0.3.11"
        " tcp sport set ip saddr . tcp sport map @id_hi"
        f" ip saddr set {FORWARDER}\n"
    )
    return nft


def test_200_handoffs_through_forwarder_and_decap_without_rst(lab: Lab) -> None:
    ns = handoff_topology(lab)
    rst = rst_watch(lab, ns["client"])
    forwarder = _forwarder_stand_in(lab, ns["router"])
    with lab.enter(ns["classifier"]):
        lock = FlowLock(Nft())
    with lab.enter(ns["backend"]):
        decap = DecapMap(Nft())
    lock.setup()
    decap.setup()

    count = 200
    listener = lab.socket_in(ns["classifier"])
    listener.bind((VIP, 80))
    listener.listen(count)
    clients = []
    for _ in range(count):
        client = lab.socket_in(ns["client"])
        client.connect((VIP, 80))
        clients.append(client)
    accepted = {}
    for _ in range(count):
        server, peer = listener.accept()
        accepted[peer] = server

    started = time.monotonic()
    restored: list[socket.socket] = []
    for n, client in enumerate(clients):
        request = f"GET /{n} HTTP/1.1\r\n\r\n".encode()
        client.sendall(request)
        peer = client.getsockname()
        server = accepted[peer]
        already_read = server.recv(len(request), socket.MSG_WAITALL)
        flow_id = 0x0A00_0000 + n * 0x10001  # both port halves vary
        with lock.held(peer, (VIP, 80)):
            state = tcprepair.freeze(server, already_read=already_read)
            decap.add(DecapEntry(FORWARDER, "10.0.3.11", flow_id, peer[0], peer[1], VIP, 80))
            with lab.enter(ns["backend"]):
                restored.append(tcprepair.restore(state))
            forwarder.run(
                f"add element ip forwarder handed_off {{ {peer[0]} . {peer[1]} }}\n"
                f"add element ip forwarder id_hi {{ {peer[0]} . {peer[1]} : {flow_id >> 16} }}\n"
                f"add element ip forwarder id_lo {{ {peer[0]} . {peer[1]} : {flow_id & 0xFFFF} }}\n"
            )
            tcprepair.close_silently(server)
    elapsed = time.monotonic() - started
    assert elapsed < 30, f"200 handoffs took {elapsed:.1f} s"

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


def test_freeze_refuses_a_listening_socket_and_leaves_it_usable(lab: Lab) -> None:
    ns = lab.ns("host")
    listener = lab.socket_in(ns)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    with pytest.raises(RepairError, match=r"enter repair mode failed .*EPERM"):
        tcprepair.freeze(listener)
    client = lab.socket_in(ns)
    client.connect(listener.getsockname())
    server, _ = listener.accept()
    client.shutdown(socket.SHUT_WR)
    wait_for(lambda: tcp_state(server) == CLOSE_WAIT, 5, "the client's FIN to reach the server")
    # CLOSE_WAIT (the client half-closed) is not handed off; the socket is thawed.
    with pytest.raises(RepairError, match=r"check state failed .*TCP state 8"):
        tcprepair.freeze(server)
    server.sendall(b"still served")
    assert client.recv(100) == b"still served"
    for sock in (client, server, listener):
        sock.close()


def test_restore_errors_name_the_step_and_leave_nothing_behind(lab: Lab) -> None:
    client_ns, backend_ns = lab.ns("client"), lab.ns("backend")
    lab.link(client_ns, "10.0.1.10", backend_ns, "10.0.1.1")
    lab.ip(client_ns, "addr", "add", f"{VIP}/32", "dev", "lo")
    lab.ip(backend_ns, "route", "add", f"{VIP}/32", "via", "10.0.1.10")
    listener = lab.socket_in(client_ns)
    listener.bind((VIP, 80))
    listener.listen()
    client = lab.socket_in(backend_ns)
    client.connect((VIP, 80))
    server, _ = listener.accept()
    client.sendall(b"x")
    assert server.recv(1) == b"x"
    # Dump the server side; the roles are reversed here (the client namespace
    # holds the VIP), which does not matter to the kernel.
    state = tcprepair.freeze(server)
    tcprepair.close_silently(server)

    with lab.enter(backend_ns), pytest.raises(RepairError, match=r"bind failed .*EADDRNOTAVAIL"):
        tcprepair.restore(state)
    bad_scale = replace(state, options=replace(state.options, snd_wscale=15))
    with lab.enter(client_ns), pytest.raises(RepairError, match="window scales 15/"):
        tcprepair.restore(bad_scale)
    bad_window = replace(state, window=replace(state.window, rcv_wup=state.rcv_seq + 10))
    with lab.enter(client_ns), pytest.raises(RepairError, match=r"set window failed .*EINVAL"):
        tcprepair.restore(bad_window)
    # Failed restores sent nothing and left no socket: a good one still works.
    with lab.enter(client_ns):
        restored = tcprepair.restore(state)
    restored.sendall(b"y")
    assert client.recv(1) == b"y"
    client.sendall(b"z")
    assert restored.recv(1) == b"z"
    for sock in (client, restored, listener):
        sock.close()
