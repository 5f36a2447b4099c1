"""The P4Runtime client library against p4sim's P4Runtime server, in process
over gRPC on localhost, with the forwarder pipeline and in-memory ports."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from paths import FORWARDER_P4
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether

from controller.p4rt import (
    Action,
    NotPrimaryError,
    P4RuntimeClient,
    P4RuntimeError,
    RpcError,
    UnknownNameError,
    Update,
    WriteError,
)
from controller.p4rt.entities import TableEntry
from p4sim.compiler import CompiledProgram, compile_file
from p4sim.ports.memory import MemoryPort
from p4sim.server.server import ServerThread

CPU_PORT = 255
CLIENT_IP, VIP, BACKEND = "10.0.1.10", "10.0.0.100", "10.0.2.11"
CLIENT_MAC, BACKEND_MAC = "02:00:00:00:01:10", "02:00:00:00:02:11"


class Switch:
    """A p4sim server thread with memory ports 1 and 2 and the forwarder installed."""

    def __init__(self, program: CompiledProgram) -> None:
        self.thread = ServerThread(device_id=0, cpu_port=CPU_PORT)
        self.ports: dict[int, MemoryPort] = {
            n: self.thread.call(lambda n=n: self.thread.server.add_memory_port(n)) for n in (1, 2)
        }
        self.address = self.thread.start()
        self.program = program

    def inject(self, port: int, frame: bytes) -> None:
        self.thread.call(lambda: self.ports[port].inject(frame))

    def sent(self, port: int) -> list[bytes]:
        """Frames sent on `port` since the last call (taken on the server's loop)."""

        def take() -> list[bytes]:
            frames = list(self.ports[port].sent)
            self.ports[port].sent.clear()
            return frames

        return self.thread.call(take)


@pytest.fixture(scope="module")
def program() -> CompiledProgram:
    return compile_file(FORWARDER_P4)


@pytest.fixture(scope="module")
def switch(program: CompiledProgram) -> Iterator[Switch]:
    running = Switch(program)
    yield running
    running.thread.stop()


@pytest.fixture
def client(switch: Switch) -> Iterator[P4RuntimeClient]:
    """The primary controller, with the forwarder pushed and every table emptied."""
    controller = P4RuntimeClient(switch.address, election_id=1000, timeout=30)
    assert controller.connect()
    controller.set_pipeline(switch.program.p4info, switch.program.device_config, cookie=42)
    yield controller
    controller.close()


def route(client: P4RuntimeClient, prefix: str, port: int, mac: str) -> TableEntry:
    return client.entities.table_entry(
        "routes",
        {"dst_addr": prefix},
        "set_next_hop",
        {"port": port, "src_mac": "02:aa:00:00:00:01", "dst_mac": mac},
    )


def encap(
    client: P4RuntimeClient, sport: int, flow_id: int, idle_timeout_ns: int = 0
) -> TableEntry:
    return client.entities.table_entry(
        "encap_map",
        {"ipv4_src": CLIENT_IP, "ipv4_dst": VIP, "tcp_sport": sport, "tcp_dport": 80},
        "encap_to_backend",
        {"flow_id": flow_id, "tunnel_src": "10.0.2.1", "backend": BACKEND},
        idle_timeout_ns=idle_timeout_ns,
    )


def segment(sport: int, flags: str = "A") -> bytes:
    return bytes(
        Ether(src=CLIENT_MAC, dst="02:aa:00:00:00:01")
        / IP(src=CLIENT_IP, dst=VIP)
        / TCP(sport=sport, dport=80, flags=flags)
    )


# ------------------------------------------------------------------ session


def test_connect_fails_clearly_without_a_server() -> None:
    lonely = P4RuntimeClient("127.0.0.1:1", timeout=0.5)
    with pytest.raises(RpcError, match=r"UNAVAILABLE: no P4Runtime server at 127\.0\.0\.1:1"):
        lonely.connect()


def test_a_higher_election_id_takes_primacy_and_the_old_primary_notices(switch: Switch) -> None:
    changes: list[bool] = []
    first = P4RuntimeClient(switch.address, election_id=10, on_primacy=changes.append)
    second = P4RuntimeClient(switch.address, election_id=20)
    try:
        assert first.connect()
        assert second.connect()
        deadline = time.monotonic() + 5
        while first.is_primary and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not first.is_primary
        assert changes == [True, False]
        assert first.primary_election_id == 20
        with pytest.raises(NotPrimaryError):
            first.require_primary()
        second.close()
        deadline = time.monotonic() + 5
        while not first.is_primary and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.is_primary, "the remaining client should become primary again"
    finally:
        first.close()
        second.close()


def test_a_closed_client_connects_again_and_is_primary(
    client: P4RuntimeClient, switch: Switch
) -> None:
    again = P4RuntimeClient(switch.address, election_id=3000, p4info=client.index)
    try:
        assert again.connect()
        again.close()
        assert not again.is_primary
        assert again.connect(), again.arbitration_status
        entry = route(again, "10.9.0.0/16", 1, CLIENT_MAC)
        again.insert(entry)
        assert entry in again.read_table("routes")
        again.delete(entry)
    finally:
        again.close()


def test_a_client_reconnects_after_its_switch_ended_the_stream(
    program: CompiledProgram, tmp_path: Path
) -> None:
    """The first session's stream error belongs to that session only."""
    address = f"unix:{tmp_path / 'p4rt.sock'}"
    first = ServerThread(device_id=0)
    first.start(address)
    client = P4RuntimeClient(address, election_id=5, timeout=10)
    try:
        assert client.connect()
        first.stop()
        deadline = time.monotonic() + 10
        while client.stream_error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.stream_error is not None and not client.is_primary
        second = ServerThread(device_id=0)
        second.start(address)
        try:
            assert client.connect(), client.arbitration_status
            assert client.stream_error is None
            client.set_pipeline(program.p4info, program.device_config)
            entry = route(client, "10.0.1.0/24", 1, CLIENT_MAC)
            client.insert(entry)
            assert client.read_table() == [entry]
        finally:
            client.close()
            second.stop()
    finally:
        client.close()


def test_a_backup_client_cannot_write(client: P4RuntimeClient, switch: Switch) -> None:
    backup = P4RuntimeClient(switch.address, election_id=1, p4info=client.index)
    try:
        assert not backup.connect()
        with pytest.raises(NotPrimaryError, match="PERMISSION_DENIED"):
            backup.insert(route(backup, "10.0.0.0/8", 1, CLIENT_MAC))
    finally:
        backup.close()


def test_a_new_client_adopts_the_installed_pipeline(
    client: P4RuntimeClient, switch: Switch
) -> None:
    late = P4RuntimeClient(switch.address, election_id=1)
    try:
        late.connect()
        p4info, cookie = late.fetch_pipeline()
        assert cookie == 42
        assert p4info == switch.program.p4info
        assert late.index.table("encap_map").name == "ForwarderIngress.encap.encap_map"
    finally:
        late.close()


def test_without_p4info_the_client_says_what_to_do(switch: Switch) -> None:
    fresh = P4RuntimeClient(switch.address, election_id=1)
    with pytest.raises(P4RuntimeError, match="no P4Info yet"):
        fresh.entities  # noqa: B018


# ------------------------------------------------------------------ write / read


def test_written_entries_read_back_equal(client: P4RuntimeClient) -> None:
    entries = [route(client, "10.0.1.0/24", 1, CLIENT_MAC), encap(client, 40000, 0xABCD)]
    client.insert(*entries)
    assert sorted(client.read_table(), key=str) == sorted(entries, key=str)
    assert client.read_table("encap_map") == [entries[1]]


def test_a_batch_reports_each_failed_update_and_applies_the_rest(client: P4RuntimeClient) -> None:
    first, second = route(client, "10.0.1.0/24", 1, CLIENT_MAC), encap(client, 40000, 1)
    client.insert(first)
    missing = encap(client, 40001, 2)
    with pytest.raises(WriteError) as caught:
        client.write([Update.insert(first), Update.insert(second), Update.delete(missing)])
    failures = caught.value.failures
    assert [(f.index, f.code) for f in failures] == [(0, "ALREADY_EXISTS"), (2, "NOT_FOUND")]
    assert failures[0].update.entity == first
    assert failures[1].update.entity == missing
    assert "update 2 (DELETE encap_map[" in str(caught.value)
    assert second in client.read_table("encap_map")


def test_modify_and_delete(client: P4RuntimeClient) -> None:
    entry = encap(client, 40000, 1)
    client.insert(entry)
    changed = encap(client, 40000, 0x55667788)
    client.modify(changed)
    (read,) = client.read_table("encap_map")
    assert read.action == Action(
        "ForwarderIngress.encap.encap_to_backend",
        (("flow_id", 0x55667788), ("tunnel_src", 0x0A000201), ("backend", 0x0A00020B)),
    )
    client.delete(changed)
    assert client.read_table("encap_map") == []


def test_unknown_names_fail_before_anything_is_sent(client: P4RuntimeClient) -> None:
    with pytest.raises(UnknownNameError, match="no table named 'encap'"):
        client.entities.table_entry("encap", {}, None)
    with pytest.raises(UnknownNameError, match="has no key 'src'"):
        client.entities.table_entry("encap_map", {"src": 1}, None)


# ------------------------------------------------------------------ data plane through P4Runtime


def test_counters_read_back_packets_and_bytes(client: P4RuntimeClient, switch: Switch) -> None:
    entry = encap(client, 40000, 7)
    client.insert(entry, route(client, f"{BACKEND}/32", 2, BACKEND_MAC))
    for _ in range(3):
        switch.inject(1, segment(40000))
    assert len(switch.sent(2)) == 3
    counted = client.read_direct_counter(entry)
    assert (counted.packets, counted.bytes) == (3, 3 * len(segment(40000)))


def test_a_table_read_can_carry_the_direct_counters(
    client: P4RuntimeClient, switch: Switch
) -> None:
    counted, idle = encap(client, 40000, 7), encap(client, 40001, 8)
    client.insert(counted, idle, route(client, f"{BACKEND}/32", 2, BACKEND_MAC))
    for _ in range(2):
        switch.inject(1, segment(40000))
    assert len(switch.sent(2)) == 2
    with_counters = {e.key("tcp_sport"): e for e in client.read_table("encap_map", counters=True)}
    assert with_counters.keys() == {counted.key("tcp_sport"), idle.key("tcp_sport")}
    data = with_counters[counted.key("tcp_sport")].counter
    assert data is not None and (data.packets, data.bytes) == (2, 2 * len(segment(40000)))
    data = with_counters[idle.key("tcp_sport")].counter
    assert data is not None and (data.packets, data.bytes) == (0, 0)
    assert all(e.counter is None for e in client.read_table("encap_map"))
    # A wildcard read over every table asks too; tables without a counter answer without.
    everything = client.read_table(counters=True)
    assert sorted(e.counter.packets for e in everything if e.counter is not None) == [0, 2]


def test_packet_out_and_packet_in(client: P4RuntimeClient, switch: Switch) -> None:
    frame = segment(1)
    client.send_packet(client.entities.packet_out(frame, egress_port=2))
    deadline = time.monotonic() + 5
    sent: list[bytes] = []
    while not sent and time.monotonic() < deadline:
        sent = switch.sent(2)
        time.sleep(0.01)
    assert sent == [frame]
    request = bytes(
        Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=1, hwsrc=CLIENT_MAC, psrc=CLIENT_IP, pdst="10.0.1.77")
    )
    switch.inject(1, request)
    packet = client.receive_packet(timeout=5)
    assert packet is not None
    assert packet.get("ingress_port") == 1
    assert packet.payload == request


def test_fin_digest_arrives_decoded(client: P4RuntimeClient, switch: Switch) -> None:
    client.enable_digest("connection_end_t")
    client.insert(encap(client, 40000, 0xABCD0001), route(client, f"{BACKEND}/32", 2, BACKEND_MAC))
    switch.inject(1, segment(40000, flags="FA"))
    digest = client.receive_digest(timeout=5)
    assert digest is not None
    assert digest.digest == "connection_end_t"
    assert digest.as_dicts() == [
        {
            "client_addr": 0x0A00010A,
            "vip": 0x0A000064,
            "client_port": 40000,
            "vip_port": 80,
            "flow_id": 0xABCD0001,
            "tcp_flags": 0x11,
        }
    ]
    assert client.read(client.entities.digest_entry("connection_end_t"))


def test_idle_entries_are_notified_with_their_match(
    client: P4RuntimeClient, switch: Switch
) -> None:
    entry = encap(client, 40000, 3, idle_timeout_ns=100_000_000)
    client.insert(entry, route(client, f"{BACKEND}/32", 2, BACKEND_MAC))
    switch.inject(1, segment(40000))
    notification = client.receive_idle_timeout(timeout=5)
    assert notification is not None
    assert [e.match for e in notification.entries] == [entry.match]
    assert client.read_table("encap_map") == [entry]  # reported, not removed


def test_ensure_pipeline_keeps_the_entries_of_the_same_pipeline(
    client: P4RuntimeClient, switch: Switch
) -> None:
    assert client.ensure_pipeline(switch.program.p4info, switch.program.device_config)
    entry = route(client, "10.0.1.0/24", 1, CLIENT_MAC)
    client.insert(entry)
    restarted = P4RuntimeClient(switch.address, election_id=2000)
    try:
        assert restarted.connect()
        assert not restarted.ensure_pipeline(switch.program.p4info, switch.program.device_config)
        assert restarted.read_table() == [entry]
    finally:
        restarted.close()


def test_arbitration_for_another_device_fails_clearly(switch: Switch) -> None:
    stranger = P4RuntimeClient(switch.address, device_id=7, timeout=5)
    try:
        with pytest.raises(RpcError, match="StreamChannel: NOT_FOUND: device id 7"):
            stranger.connect()
    finally:
        stranger.close()
