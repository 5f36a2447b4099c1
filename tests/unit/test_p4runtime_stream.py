"""P4Runtime conformance: StreamChannel arbitration, PacketIn/PacketOut,
digest lists with acks, idle-timeout notifications per entry."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from finsy.proto import p4r, rpc_code
from p4rt_support import (
    Client,
    Names,
    compiled,
    inject,
    pipeline_config,
    sent,
    start_switch,
    update,
)
from scapy.layers.l2 import Ether

from p4sim.server.server import ServerThread

INSERT = p4r.Update.INSERT


@pytest.fixture()
def switch() -> Iterator[ServerThread]:
    server = start_switch()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def names() -> Names:
    return Names(compiled().p4info)


@pytest.fixture()
def primary(switch: ServerThread) -> Iterator[Client]:
    c = Client(switch.address, election=10)
    assert c.arbitrate().status.code == rpc_code.OK
    c.set_pipeline(
        pipeline_config(compiled()), p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT
    )
    yield c
    c.close()


def frame(
    dst: str = "02:00:00:00:00:09", src: str = "02:00:00:00:00:01", ethertype: int = 0x9000
) -> bytes:
    return bytes(Ether(dst=dst, src=src, type=ethertype) / (b"p" * 46))


def test_arbitration_announces_every_change_of_primary(switch: ServerThread) -> None:
    first = Client(switch.address, election=1)
    second = Client(switch.address, election=2)
    try:
        arb = first.arbitrate()
        assert arb.status.code == rpc_code.OK and arb.election_id.low == 1
        arb = second.arbitrate()
        assert arb.status.code == rpc_code.OK and arb.election_id.low == 2
        demoted = first.expect("arbitration")
        assert demoted.status.code == rpc_code.ALREADY_EXISTS and demoted.election_id.low == 2
        first.arbitrate(election=3)  # takes over again
        assert second.expect("arbitration").status.code == rpc_code.ALREADY_EXISTS
        second.close()
        third = Client(switch.address, election=None)
        assert third.arbitrate().status.code == rpc_code.ALREADY_EXISTS  # no election id: a backup
        first.close()
        update_ = third.expect("arbitration")
        assert update_.status.code == rpc_code.NOT_FOUND  # nobody left with an election id
        third.close()
    finally:
        first.close()
        second.close()


def test_primary_going_away_promotes_the_next_highest(switch: ServerThread) -> None:
    high = Client(switch.address, election=20)
    low = Client(switch.address, election=5)
    try:
        high.arbitrate()
        assert low.arbitrate().status.code == rpc_code.ALREADY_EXISTS
        high.close()
        promoted = low.expect("arbitration")
        assert promoted.status.code == rpc_code.OK and promoted.election_id.low == 5
    finally:
        low.close()
        high.close()


def test_bad_arbitration_ends_the_stream(switch: ServerThread) -> None:
    one = Client(switch.address, election=4)
    two = Client(switch.address, election=4)
    wrong = Client(switch.address, election=1)
    try:
        one.arbitrate()
        ended = two.arbitrate()
        assert isinstance(ended, grpc.RpcError) and ended.code() == grpc.StatusCode.INVALID_ARGUMENT
        ended = wrong.arbitrate(device_id=77)
        assert isinstance(ended, grpc.RpcError) and ended.code() == grpc.StatusCode.NOT_FOUND
    finally:
        for c in (one, two, wrong):
            c.close()


def test_packet_in_carries_the_controller_header_fields(
    switch: ServerThread, primary: Client, names: Names
) -> None:
    mac = 0x020000000009
    primary.write(
        [
            update(
                INSERT,
                table_entry=names.entry(
                    "l2_fwd", {"hdr.ethernet.dstAddr": ("exact", mac)}, "to_cpu"
                ),
            )
        ]
    )
    data = frame()
    inject(switch, 2, data)
    packet = primary.expect("packet")
    assert packet.payload == data
    ingress = {m.metadata_id: m.value for m in packet.metadata}
    port_id = next(
        m.id for m in names.info.controller_packet_metadata[0].metadata if m.name == "ingress_port"
    )
    assert ingress[port_id] == b"\x02"


def test_packet_out_leaves_on_the_requested_port(
    switch: ServerThread, primary: Client, names: Names
) -> None:
    header = next(
        h for h in names.info.controller_packet_metadata if h.preamble.name == "packet_out"
    )
    port_id = next(m.id for m in header.metadata if m.name == "egress_port")
    data = frame()
    primary.send(
        packet=p4r.PacketOut(
            payload=data, metadata=[p4r.PacketMetadata(metadata_id=port_id, value=b"\x03")]
        )
    )
    deadline = time.monotonic() + 3
    while not (out := sent(switch, 3)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert out == [data]


def test_packet_out_from_a_backup_is_a_stream_error(switch: ServerThread, primary: Client) -> None:
    backup = Client(switch.address, election=1)
    try:
        backup.arbitrate()
        backup.send(packet=p4r.PacketOut(payload=frame()))
        error = backup.expect("error")
        assert error.canonical_code == rpc_code.PERMISSION_DENIED and error.HasField("packet_out")
    finally:
        backup.close()


def _configure_digest(primary: Client, names: Names, **config: int) -> int:
    did = names.digest("learn_t")
    entry = p4r.DigestEntry(digest_id=did, config=p4r.DigestEntry.Config(**config))
    primary.write([update(INSERT, digest_entry=entry)])
    return did


def test_digests_batch_by_list_size_and_wait_for_acks(
    switch: ServerThread, primary: Client, names: Names
) -> None:
    did = _configure_digest(
        primary, names, max_list_size=2, max_timeout_ns=10**10, ack_timeout_ns=10**10
    )
    inject(switch, 1, frame(src="02:00:00:00:00:aa", ethertype=0x1234))
    inject(
        switch, 1, frame(src="02:00:00:00:00:aa", ethertype=0x1234)
    )  # same data: not queued twice
    inject(switch, 2, frame(src="02:00:00:00:00:bb", ethertype=0x1234))
    digest = primary.expect("digest")
    assert digest.digest_id == did and len(digest.data) == 2
    members = [[m.bitstring for m in d.struct.members] for d in digest.data]
    assert members == [
        [bytes.fromhex("0200000000aa"), b"\x01"],
        [bytes.fromhex("0200000000bb"), b"\x02"],
    ]
    inject(switch, 1, frame(src="02:00:00:00:00:aa", ethertype=0x1234))  # unacked: suppressed
    inject(switch, 1, frame(src="02:00:00:00:00:cc", ethertype=0x1234))
    with pytest.raises(Exception):  # noqa: B017 - queue.Empty: only one new digest pending
        primary.expect("digest", timeout=0.3)
    primary.send(digest_ack=p4r.DigestListAck(digest_id=did, list_id=digest.list_id))
    time.sleep(0.1)
    inject(switch, 1, frame(src="02:00:00:00:00:aa", ethertype=0x1234))  # acked: reported again
    second = primary.expect("digest")
    assert second.list_id != digest.list_id and len(second.data) == 2


def test_digests_go_out_after_max_timeout(
    switch: ServerThread, primary: Client, names: Names
) -> None:
    _configure_digest(primary, names, max_list_size=100, max_timeout_ns=100_000_000)
    start = time.monotonic()
    inject(switch, 3, frame(src="02:00:00:00:00:dd", ethertype=0x1234))
    digest = primary.expect("digest")
    waited = time.monotonic() - start
    assert len(digest.data) == 1 and 0.08 <= waited < 2


def test_idle_timeouts_fire_per_entry(switch: ServerThread, primary: Client, names: Names) -> None:
    def entry(mac: int, ttl_ms: int) -> p4r.TableEntry:
        return names.entry(
            "l2_fwd",
            {"hdr.ethernet.dstAddr": ("exact", mac)},
            "forward",
            {"port": 2},
            idle_timeout_ns=ttl_ms * 1_000_000,
            metadata=bytes([mac]),
        )

    primary.write(
        [
            update(INSERT, table_entry=entry(1, 150)),
            update(INSERT, table_entry=entry(2, 600)),
            update(INSERT, table_entry=entry(3, 300)),
        ]
    )
    start = time.time_ns()
    for _ in range(6):  # keep entry 3 alive by hitting it
        inject(switch, 1, frame(dst="00:00:00:00:00:03"))
        time.sleep(0.1)
    seen: list[tuple[bytes, float]] = []
    while len(seen) < 3:  # server timestamps: when each entry was found idle
        note = primary.expect("idle_timeout_notification", timeout=3)
        seen += [(te.metadata, (note.timestamp - start) / 1e9) for te in note.table_entry]
    order = [m for m, _ in seen]
    assert order == [b"\x01", b"\x02", b"\x03"]
    times = dict(seen)
    assert 0.1 <= times[b"\x01"] < 0.5
    assert 0.55 <= times[b"\x02"] < 1.2
    assert times[b"\x03"] >= 0.75  # last hit at ~0.5 s plus its 300 ms TTL
