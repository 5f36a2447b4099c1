"""P4Runtime conformance: StreamChannel arbitration, PacketIn/PacketOut,
digest lists with acks, idle-timeout notifications per entry."""

from __future__ import annotations

import itertools
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

from controller.lab.session import wait_for
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


def test_each_role_elects_its_own_primary(switch: ServerThread, names: Names) -> None:
    """P4Runtime (Client Arbitration): "The P4Runtime server selects a
    primary independently for each (device_id, role) pair." bmv2 does not:
    simple_switch_grpc (PI v0.1.2) ignores role.name and keeps one primary
    per device, so there a named role's stream with a higher election id
    demotes the default role's primary. The specification wins (DESIGN.md)."""

    def l2_entry(mac: int) -> p4r.Update:
        return update(
            INSERT,
            table_entry=names.entry("l2_fwd", {"hdr.ethernet.dstAddr": ("exact", mac)}, "to_cpu"),
        )

    default = Client(switch.address, election=10)
    named = Client(switch.address, election=20)
    named_backup = Client(switch.address, election=5)
    try:
        assert default.arbitrate().status.code == rpc_code.OK
        default.set_pipeline(
            pipeline_config(compiled()), p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT
        )
        arb = named.arbitrate(role="classifier")
        assert arb.status.code == rpc_code.OK and arb.role.name == "classifier"
        assert named_backup.arbitrate(role="classifier").status.code == rpc_code.ALREADY_EXISTS
        default.write([l2_entry(0x020000000001)])  # still the default role's primary
        named.write([l2_entry(0x020000000002)], role="classifier")
        for client, role in ((named_backup, "classifier"), (named, "")):
            with pytest.raises(grpc.RpcError) as denied:
                client.write([l2_entry(0x020000000003)], role=role)
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        for c in (default, named, named_backup):
            c.close()


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
    # Only cc waits for the next list (inject returns once the switch has
    # processed the frame); the first list waits for its ack.
    assert queued(switch, did) == (1, [digest.list_id])
    primary.send(digest_ack=p4r.DigestListAck(digest_id=did, list_id=digest.list_id))
    wait_for(lambda: queued(switch, did) == (1, []), 5, "the switch to take the ack")
    inject(switch, 1, frame(src="02:00:00:00:00:aa", ethertype=0x1234))  # acked: reported again
    second = primary.expect("digest")
    assert second.list_id != digest.list_id
    members = [[m.bitstring for m in d.struct.members] for d in second.data]
    assert members == [
        [bytes.fromhex("0200000000cc"), b"\x01"],
        [bytes.fromhex("0200000000aa"), b"\x01"],
    ]


def queued(switch: ServerThread, digest_id: int) -> tuple[int, list[int]]:
    return switch.call(lambda: switch.device.digests.queued(digest_id))


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

    start = time.time_ns()
    primary.write(
        [
            update(INSERT, table_entry=entry(1, 150)),
            update(INSERT, table_entry=entry(2, 800)),
            update(INSERT, table_entry=entry(3, 400)),
        ]
    )
    hits: list[int] = []
    for _ in range(16):  # keep entry 3 alive: a hit every 50 ms, well inside its 400 ms
        hits.append(time.time_ns())  # taken before the hit: never later than it
        inject(switch, 1, frame(dst="00:00:00:00:00:03"))
        time.sleep(0.05)
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(hits)]
    assert max(gaps) < 0.35, f"the test could not hit entry 3 often enough: {gaps}"
    seen: list[tuple[bytes, int]] = []
    while len(seen) < 3:  # server timestamps: when each entry was found idle
        note = primary.expect("idle_timeout_notification", timeout=5)
        seen += [(te.metadata, note.timestamp) for te in note.table_entry]
    # Each entry idles out once its TTL has passed since its install or its
    # last hit, never before, and soon after (2 s: a slow machine's slack).
    idle_since = {b"\x01": start, b"\x02": start, b"\x03": hits[-1]}
    ttl = {b"\x01": 0.15, b"\x02": 0.8, b"\x03": 0.4}
    for metadata, found in seen:
        after = (found - idle_since[metadata]) / 1e9
        assert ttl[metadata] <= after < ttl[metadata] + 2, (metadata, after)
    assert [m for m, _ in seen] == [b"\x01", b"\x02", b"\x03"]
