"""FlowLock and DecapMap on the real kernel, each test in its own namespaces."""

from __future__ import annotations

import json
import select
import socket
import time
from pathlib import Path

import pytest
from handoff_samples import KEYS
from kernel_lab import Lab, run
from scapy.layers.inet import IP, TCP

from controller.agent.core import Agent
from controller.agent.kernel import kernel_backends
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


def _restored(
    lab: Lab, ns: str, request: bytes, snd_seq: int = 0x1000_0000
) -> tuple[socket.socket, ConnectionState]:
    """A handed-off 10.0.1.10:40000 -> VIP:80 connection restored in `ns`
    with `request` queued for its application."""
    state = ConnectionState(
        client_ip="10.0.1.10",
        client_port=40000,
        vip_ip=VIP,
        vip_port=80,
        snd_seq=snd_seq,
        rcv_seq=0x7000_0000,
        window=RepairWindow(0x7000_0000, 65535, 65535, 65535, 0x7000_0000),
        options=TcpOptions(1460, 0, 0, sack=False, timestamps=False, ts_offset=0),
        send_unacked=b"",
        send_unsent=b"",
        receive=request,
    )
    with lab.enter(ns):
        return tcprepair.restore(state), state


def test_decap_rewrites_flow_id_packet_to_restored_socket(lab: Lab) -> None:
    switch_ns, backend_ns, switch_if = _switch_and_backend(lab)
    with lab.enter(backend_ns):
        decap = DecapMap(Nft())
    decap.setup()
    flow_id = 0x0001_2345
    entry = DecapEntry("10.0.3.1", "10.0.3.11", flow_id, "10.0.1.10", 40000, VIP, 80)
    decap.add(entry)

    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    restored, state = _restored(lab, backend_ns, request, snd_seq=0xFFFF_FF00)  # wraps
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
    # Not rewritten any more, the segment reaches no socket: with no forwarder
    # configured nothing drops it, and the back-end's kernel answers it with
    # a RST from its own address and the flow id ports.
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


def _mapped(decap: DecapMap, high: int, first_port: int, count: int) -> list[DecapEntry]:
    """`count` flows from 10.0.1.10 mapped in `decap`: flow ids high.0, high.1, ..."""
    entries = [
        DecapEntry("10.0.3.1", "10.0.3.11", (high << 16) | n, "10.0.1.10", first_port + n, VIP, 80)
        for n in range(count)
    ]
    for entry in entries:
        decap.add(entry)
    return entries


def test_decap_setup_adopts_flows_left_by_a_previous_agent(lab: Lab) -> None:
    backend_ns = lab.ns("backend")
    with lab.enter(backend_ns):
        first = DecapMap(Nft())
        second = DecapMap(Nft(backend="command"))
    first.setup()
    entries = _mapped(first, 7, 40000, 3)
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


def test_decap_removes_a_batch_in_one_transaction_and_names_each_failure(lab: Lab) -> None:
    """Several mappings removed at once: the known ones go, an unknown one is
    a KeyError. When the kernel refuses the batch (one flow's index element
    deleted behind the map's back), the others are still removed, one by
    one, and only that flow fails."""
    backend_ns = lab.ns("backend")
    with lab.enter(backend_ns):
        decap = DecapMap(Nft())
        after = DecapMap(Nft())
    decap.setup()
    entries = _mapped(decap, 8, 41000, 5)
    unknown = ("10.0.3.1", "10.0.3.11", 12345)
    outcomes = decap.remove_many(
        [(e.forwarder, e.backend, e.flow_id) for e in entries[:2]] + [unknown]
    )
    assert outcomes[:2] == entries[:2]
    assert isinstance(outcomes[2], KeyError) and "12345" in str(outcomes[2])

    lab.sh(backend_ns, "nft", "delete", "element", "ip", "p4handoff_decap", "flow_index",
           "{ 10.0.3.1 . 10.0.3.11 . 8 . 3 }")  # fmt: skip
    outcomes = decap.remove_many([(e.forwarder, e.backend, e.flow_id) for e in entries[2:]])
    assert (outcomes[0], outcomes[2]) == (entries[2], entries[4])
    assert isinstance(outcomes[1], NftError)
    assert decap.entries() == [entries[3]]
    after.setup()  # what the kernel holds, read back
    assert not set(after.entries()) & {*entries[:3], entries[4]}


def test_a_change_of_locks_is_all_or_nothing_and_names_the_refused_element(lab: Lab) -> None:
    """Element changes go to the kernel as one netlink transaction: when the
    kernel refuses one of them, none is made, and the error says which and why."""
    ns = lab.ns("classifier")
    with lab.enter(ns):
        lock = FlowLock(Nft())
    lock.setup()
    held = (("10.0.1.10", 40000), (VIP, 80))
    lock.change([held], [])
    with pytest.raises(
        NftError,
        match=r"delete element ip p4handoff_lock flows \{ 10\.0\.1\.99 \. 1 \. "
        r"10\.0\.0\.100 \. 80 \}`: No such file or directory",
    ):
        lock.change([(("fd00:1::10", 40001), ("fd00::100", 80))], [(("10.0.1.99", 1), (VIP, 80))])
    assert lock.locked() == {held}
    lock.teardown()


def test_answers_left_by_an_abandoned_transaction_are_not_taken_for_the_next(lab: Lab) -> None:
    """A transaction whose answers were never read (its caller timed out)
    leaves them in the socket: the next transaction skips them instead of
    failing with the old one's error."""
    ns = lab.ns("classifier")
    with lab.enter(ns):
        nft = Nft()
    lock = FlowLock(nft)
    lock.setup()
    writer = nft._elements
    missing = lock._change(False, ("10.0.1.99", 1), (VIP, 80))
    batch, _ = writer._batch([missing])
    writer._sock.send(batch)  # refused (no such element); nobody reads why
    lock.lock(("10.0.1.10", 40000), (VIP, 80))
    assert lock.locked() == {(("10.0.1.10", 40000), (VIP, 80))}
    lock.teardown()


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


# Tunnelled segments the back-end has no mapping for: the switch may carry a
# flow before the classifier's commit installs the back-end's mapping, so a
# miss from a configured forwarder is dropped and counted, never reset.


def _tcp_mib(lab: Lab, ns: str, name: str) -> int:
    """One TCP MIB counter of a namespace (`TcpOutRsts`, ...), as nstat reads it."""
    for line in lab.sh(ns, "nstat", "-az", name).splitlines():
        if line.startswith(f"{name} "):
            return int(line.split()[1])
    raise AssertionError(f"nstat did not report {name}")


def _tunnelled(src: str, flow_id: int, flags: str, payload: bytes = b"") -> bytes:
    """A forwarder's rewritten segment: `src` -> the back-end, ports = flow id."""
    tcp = TCP(sport=flow_id >> 16, dport=flow_id & 0xFFFF, seq=1000, ack=2000, flags=flags)
    return bytes(IP(src=src, dst="10.0.3.11") / tcp / payload)


def _backend_answers(capture: socket.socket, timeout: float) -> list[IP]:
    """Every TCP segment the back-end (its address or the VIP) sends within `timeout`."""
    seen = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if select.select([capture], [], [], left)[0]:
            pkt = IP(capture.recv(65535))
            if TCP in pkt and pkt.src in ("10.0.3.11", VIP):
                seen.append(pkt)
    return seen


def _forwarder_set(lab: Lab, ns: str, family: str = "ip") -> set[str]:
    """The `forwarders` set as an operator lists it."""
    listing = lab.sh(ns, "nft", "-j", "list", "set", family, "p4handoff_decap", "forwarders")
    items = [i["set"] for i in json.loads(listing)["nftables"] if "set" in i]
    return set(items[0].get("elem", []))


def test_the_agent_exposes_the_kernels_decapsulation_counters(lab: Lab, tmp_path: Path) -> None:
    """The agent's Prometheus metrics carry the decapsulation table's counters
    as the kernel keeps them: unmapped segments are otherwise seen only with
    `nft list counter`."""
    switch_ns, backend_ns, _ = _switch_and_backend(lab)
    with lab.enter(backend_ns):
        backends, _ = kernel_backends("10.0.3.11", str(tmp_path / "app.sock"), ["10.0.3.1"])
    agent = Agent(KEYS, backends)

    def metric(name: str) -> float | None:
        return agent.registry.get_sample_value(f"p4handoff_agent_{name}_total")

    assert (metric("unmapped_segments"), metric("decapsulated_segments")) == (0.0, 0.0)
    with lab.enter(switch_ns):
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    with raw:
        for flags in ("S", "A"):
            raw.sendto(_tunnelled("10.0.3.1", 0x0001_2345, flags), ("10.0.3.11", 0))
    _wait_for(lambda: metric("unmapped_segments") == 2.0, 2, "two unmapped segments counted")
    assert metric("decapsulated_segments") == 0.0


def test_decap_drops_unmapped_segments_from_a_forwarder_without_a_rst(lab: Lab) -> None:
    switch_ns, backend_ns, switch_if = _switch_and_backend(lab)
    with lab.enter(backend_ns):
        decap = DecapMap(Nft())
    decap.setup(forwarders=["10.0.3.1"])
    # A mapping for another flow id: the miss is of this flow id, not of an empty map.
    decap.add(DecapEntry("10.0.3.1", "10.0.3.11", 0x0009_0009, "10.0.1.10", 40000, VIP, 80))
    with lab.enter(switch_ns):
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        capture = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
        capture.bind((switch_if, 0x0800))
    resets_before = _tcp_mib(lab, backend_ns, "TcpOutRsts")

    flow_id = 0x0001_2345
    segments = [
        _tunnelled("10.0.3.1", flow_id, "S"),
        _tunnelled("10.0.3.1", flow_id, "PA", b"hello"),
        _tunnelled("10.0.3.1", flow_id, "A"),
    ]
    for segment in segments:
        raw.sendto(segment, ("10.0.3.11", 0))
    _wait_for(lambda: decap.unmapped() >= len(segments), 2, "the unmapped segments to be counted")

    # Without the drop each of them is answered with a RST to 10.0.3.1.
    assert _backend_answers(capture, 0.5) == []
    assert _tcp_mib(lab, backend_ns, "TcpOutRsts") == resets_before
    assert decap.unmapped() == len(segments)
    assert decap.decapsulated() == 0
    for sock in (raw, capture):
        sock.close()


def test_decap_with_forwarders_still_delivers_mapped_segments(lab: Lab) -> None:
    switch_ns, backend_ns, _ = _switch_and_backend(lab)
    with lab.enter(backend_ns):
        decap = DecapMap(Nft())
    decap.setup(forwarders=["10.0.3.1"])
    flow_id = 0x0001_2345
    decap.add(DecapEntry("10.0.3.1", "10.0.3.11", flow_id, "10.0.1.10", 40000, VIP, 80))
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    restored, state = _restored(lab, backend_ns, request)
    with lab.enter(switch_ns):
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)

    tcp = TCP(sport=flow_id >> 16, dport=flow_id & 0xFFFF, flags="PA", window=65535)
    tcp.seq, tcp.ack = state.rcv_seq + len(request), state.snd_seq
    raw.sendto(bytes(IP(src="10.0.3.1", dst="10.0.3.11") / tcp / b"hello"), ("10.0.3.11", 0))
    assert _recv_exactly(restored, len(request) + 5, 2) == request + b"hello"
    assert (decap.decapsulated(), decap.unmapped()) == (1, 0)
    raw.close()
    tcprepair.close_silently(restored)


def test_decap_leaves_tcp_from_other_addresses_to_the_kernel(lab: Lab) -> None:
    switch_ns, backend_ns, switch_if = _switch_and_backend(lab)
    lab.ip(switch_ns, "addr", "add", "10.0.3.2/24", "dev", switch_if)
    with lab.enter(backend_ns):
        decap = DecapMap(Nft())
    decap.setup(forwarders=["10.0.3.1"])
    listener = lab.socket_in(backend_ns)
    listener.bind(("10.0.3.11", 8080))
    listener.listen()

    # An ordinary connection from a host that is not a forwarder.
    client = lab.socket_in(switch_ns)
    client.bind(("10.0.3.2", 0))
    client.settimeout(2)
    client.connect(("10.0.3.11", 8080))
    server, peer = listener.accept()
    assert peer[0] == "10.0.3.2"
    client.sendall(b"ping")
    assert _recv_exactly(server, 4, 2) == b"ping"
    server.sendall(b"pong")
    assert _recv_exactly(client, 4, 2) == b"pong"

    # Even a segment shaped like a tunnelled one is the kernel's to answer
    # when it does not come from a forwarder: a RST, as without the drop.
    resets_before = _tcp_mib(lab, backend_ns, "TcpOutRsts")
    with lab.enter(switch_ns):
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.sendto(_tunnelled("10.0.3.2", 0x0001_2345, "PA", b"hello"), ("10.0.3.11", 0))
    _wait_for(
        lambda: _tcp_mib(lab, backend_ns, "TcpOutRsts") == resets_before + 1,
        2,
        "the back-end's kernel to reset the segment",
    )
    assert decap.unmapped() == 0
    for sock in (raw, client, server, listener):
        sock.close()


def test_decap_setup_replaces_the_forwarders_and_keeps_the_flows(lab: Lab) -> None:
    switch_ns, backend_ns, switch_if = _switch_and_backend(lab)
    lab.ip(switch_ns, "addr", "add", "10.0.3.2/24", "dev", switch_if)
    with lab.enter(backend_ns):
        first = DecapMap(Nft())
        second = DecapMap(Nft(backend="command"))
    first.setup(forwarders=["10.0.3.1", "2001:db8:3::1"])
    entry = DecapEntry("10.0.3.1", "10.0.3.11", 0x0009_0009, "10.0.1.10", 40000, VIP, 80)
    first.add(entry)
    assert _forwarder_set(lab, backend_ns) == {"10.0.3.1"}
    assert _forwarder_set(lab, backend_ns, "ip6") == {"2001:db8:3::1"}

    # A restarted agent with another list: exactly the new list, same flows.
    second.setup(forwarders=["10.0.3.2", "10.0.3.3", "10.0.3.2"])
    assert _forwarder_set(lab, backend_ns) == {"10.0.3.2", "10.0.3.3"}
    assert _forwarder_set(lab, backend_ns, "ip6") == set()
    assert second.entries() == [entry]
    with lab.enter(switch_ns):
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    resets_before = _tcp_mib(lab, backend_ns, "TcpOutRsts")
    raw.sendto(_tunnelled("10.0.3.2", 0x0001_2345, "PA", b"hello"), ("10.0.3.11", 0))
    _wait_for(lambda: second.unmapped() == 1, 2, "the new forwarder's segment to be dropped")
    raw.sendto(_tunnelled("10.0.3.1", 0x0001_2345, "PA", b"hello"), ("10.0.3.11", 0))
    _wait_for(
        lambda: _tcp_mib(lab, backend_ns, "TcpOutRsts") == resets_before + 1,
        2,
        "the former forwarder's segment to be reset by the kernel",
    )
    assert second.unmapped() == 1

    # A bad address changes nothing; an empty list drops nothing.
    with pytest.raises(ValueError, match=r"forwarder '10\.0\.3\.300' is not an IP address"):
        second.setup(forwarders=["10.0.3.1", "10.0.3.300"])
    assert _forwarder_set(lab, backend_ns) == {"10.0.3.2", "10.0.3.3"}
    second.setup()
    assert _forwarder_set(lab, backend_ns) == set()
    assert second.entries() == [entry]
    raw.close()
