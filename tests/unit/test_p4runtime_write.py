"""P4Runtime conformance: Write for every entity kind, its validation, the
per-update error details and the three atomicity modes."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from finsy.proto import p4d, p4r, rpc_code
from p4rt_support import (
    Client,
    Names,
    compiled,
    inject,
    pipeline_config,
    sent,
    start_switch,
    update,
    write_errors,
)
from scapy.layers.l2 import Ether

from p4sim.server.codec import encode
from p4sim.server.server import ServerThread

INSERT, MODIFY, DELETE = p4r.Update.INSERT, p4r.Update.MODIFY, p4r.Update.DELETE
MAC = "dstAddr"
OK = rpc_code.OK


@pytest.fixture(scope="module")
def switch() -> Iterator[ServerThread]:
    server = start_switch()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def names() -> Names:
    return Names(compiled().p4info)


@pytest.fixture()
def client(switch: ServerThread) -> Iterator[Client]:
    """The primary, with a freshly committed pipeline (empty tables)."""
    c = Client(switch.address, election=10)
    assert c.arbitrate().status.code == OK
    c.set_pipeline(
        pipeline_config(compiled()), p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT
    )
    yield c
    c.close()


def l2(names: Names, mac: int, port: int = 2, **fields: object) -> p4r.TableEntry:
    return names.entry(
        "l2_fwd", {"hdr.ethernet.dstAddr": ("exact", mac)}, "forward", {"port": port}, **fields
    )


def failed(client: Client, updates: list[p4r.Update], atomicity: int = 0) -> list[tuple[int, str]]:
    """Per-update (code, message) of a Write that must fail with UNKNOWN."""
    with pytest.raises(grpc.RpcError) as info:
        client.write(updates, atomicity)
    assert info.value.code() == grpc.StatusCode.UNKNOWN
    return write_errors(info.value)


def one_error(client: Client, u: p4r.Update) -> tuple[int, str]:
    errors = failed(client, [u])
    assert len(errors) == 1
    return errors[0]


def tables(client: Client, table_id: int) -> list[p4r.TableEntry]:
    return [
        e.table_entry
        for e in client.read(p4r.Entity(table_entry=p4r.TableEntry(table_id=table_id)))
    ]


def test_insert_modify_delete_an_exact_entry(client: Client, names: Names) -> None:
    entry = l2(names, 0x0A0000000001, metadata=b"cookie")
    client.write([update(INSERT, table_entry=entry)])
    [read] = tables(client, entry.table_id)
    assert read.match == entry.match and read.action == entry.action and read.metadata == b"cookie"
    client.write([update(MODIFY, table_entry=l2(names, 0x0A0000000001, port=3))])
    [read] = tables(client, entry.table_id)
    assert read.action.action.params[0].value == b"\x03"
    client.write(
        [
            update(
                DELETE,
                table_entry=names.entry(
                    "l2_fwd", {"hdr.ethernet.dstAddr": ("exact", 0x0A0000000001)}
                ),
            )
        ]
    )
    assert tables(client, entry.table_id) == []


def test_duplicate_insert_and_missing_delete_report_their_codes(
    client: Client, names: Names
) -> None:
    client.write([update(INSERT, table_entry=l2(names, 1))])
    assert one_error(client, update(INSERT, table_entry=l2(names, 1)))[0] == rpc_code.ALREADY_EXISTS
    assert one_error(client, update(DELETE, table_entry=l2(names, 2)))[0] == rpc_code.NOT_FOUND
    assert one_error(client, update(MODIFY, table_entry=l2(names, 2)))[0] == rpc_code.NOT_FOUND


def test_every_match_kind_round_trips(client: Client, names: Names) -> None:
    acl = names.entry(
        "acl",
        {
            "hdr.ethernet.etherType": ("ternary", 0x0800, 0xFFFF),
            "hdr.ipv4.ttl": ("range", 1, 64),
            "hdr.ipv4.dstAddr": ("optional", 0x0A000001),
        },
        "drop",
        priority=10,
    )
    route = names.entry(
        "route", {"hdr.ipv4.dstAddr": ("lpm", 0x0A000000, 8)}, "metered_forward", {"port": 1}
    )
    client.write([update(INSERT, table_entry=acl), update(INSERT, table_entry=route)])
    [read_acl] = tables(client, acl.table_id)
    assert read_acl.match == acl.match and read_acl.priority == 10
    [read_route] = tables(client, route.table_id)
    assert read_route.match == route.match


def test_priority_is_required_exactly_for_tcam_tables(client: Client, names: Names) -> None:
    acl = names.entry("acl", {"hdr.ethernet.etherType": ("ternary", 0x0800, 0xFFFF)}, "drop")
    code, message = one_error(client, update(INSERT, table_entry=acl))
    assert code == rpc_code.INVALID_ARGUMENT and "priority" in message
    code, message = one_error(client, update(INSERT, table_entry=l2(names, 5, priority=3)))
    assert code == rpc_code.INVALID_ARGUMENT and "priority" in message


@pytest.mark.parametrize(
    ("table", "field", "spec", "words"),
    [
        ("acl", "hdr.ethernet.etherType", ("ternary", 0x0801, 0xFF00), "outside the mask"),
        ("acl", "hdr.ethernet.etherType", ("ternary", 0, 0), "zero mask"),
        ("acl", "hdr.ipv4.ttl", ("range", 0, 255), "full range"),
        ("acl", "hdr.ipv4.ttl", ("range", 9, 3), "above high"),
        ("route", "hdr.ipv4.dstAddr", ("lpm", 0x0A000001, 8), "beyond the /8 prefix"),
        ("route", "hdr.ipv4.dstAddr", ("lpm", 0, 0), "prefix length 0"),
    ],
)
def test_non_canonical_matches_are_invalid_argument_naming_the_field(
    client: Client, names: Names, table: str, field: str, spec: tuple[object, ...], words: str
) -> None:
    action, params = ("drop", {}) if table == "acl" else ("metered_forward", {"port": 1})
    entry = names.entry(table, {field: spec}, action, params, priority=1 if table == "acl" else 0)
    code, message = one_error(client, update(INSERT, table_entry=entry))
    assert code == rpc_code.INVALID_ARGUMENT
    assert field in message and words in message


def test_leading_zero_bytes_are_accepted_and_read_back_canonical(
    client: Client, names: Names
) -> None:
    entry = names.entry(
        "l2_fwd",
        {"hdr.ethernet.dstAddr": ("exact", b"\x00\x00\x00\x00\x00\x00\x07")},
        "forward",
        {"port": 2},
    )
    entry.action.action.params[0].value = b"\x00\x02"
    client.write([update(INSERT, table_entry=entry)])
    [read] = tables(client, entry.table_id)
    assert read.match[0].exact.value == b"\x07"
    assert read.action.action.params[0].value == b"\x02"


def test_a_value_wider_than_its_field_is_out_of_range(client: Client, names: Names) -> None:
    entry = l2(names, 1 << 48)
    code, message = one_error(client, update(INSERT, table_entry=entry))
    assert code == rpc_code.OUT_OF_RANGE and "hdr.ethernet.dstAddr" in message
    entry = l2(names, 1, port=1 << 9)
    assert one_error(client, update(INSERT, table_entry=entry))[0] == rpc_code.OUT_OF_RANGE


def test_unknown_ids_and_wrong_actions_are_rejected(client: Client, names: Names) -> None:
    bad_table = l2(names, 1)
    bad_table.table_id = 0x02FFFFFF
    assert one_error(client, update(INSERT, table_entry=bad_table))[0] == rpc_code.NOT_FOUND
    bad_field = l2(names, 1)
    bad_field.match[0].field_id = 99
    assert one_error(client, update(INSERT, table_entry=bad_field))[0] == rpc_code.INVALID_ARGUMENT
    wrong_action = names.entry(
        "l2_fwd", {"hdr.ethernet.dstAddr": ("exact", 1)}, "metered_forward", {"port": 1}
    )
    code, message = one_error(client, update(INSERT, table_entry=wrong_action))
    assert code == rpc_code.INVALID_ARGUMENT and "metered_forward" in message
    missing = names.entry("l2_fwd", {"hdr.ethernet.dstAddr": ("exact", 1)}, "forward")
    code, message = one_error(client, update(INSERT, table_entry=missing))
    assert code == rpc_code.INVALID_ARGUMENT and "port" in message
    no_exact = names.entry("l2_fwd", {}, "drop")
    assert one_error(client, update(INSERT, table_entry=no_exact))[0] == rpc_code.INVALID_ARGUMENT
    assert one_error(client, p4r.Update(type=INSERT))[0] == rpc_code.INVALID_ARGUMENT
    assert (
        one_error(
            client,
            p4r.Update(type=p4r.Update.UNSPECIFIED, entity=p4r.Entity(table_entry=l2(names, 1))),
        )[0]
        == rpc_code.INVALID_ARGUMENT
    )


def test_default_entries_modify_reset_and_const(client: Client, names: Names) -> None:
    l2_id = names.table("l2_fwd").preamble.id
    default = names.entry("l2_fwd", action="drop", is_default_action=True)
    client.write([update(MODIFY, table_entry=default)])
    wanted = p4r.Entity(table_entry=p4r.TableEntry(table_id=l2_id, is_default_action=True))
    [read] = client.read(wanted)
    assert read.table_entry.action.action.action_id == names.action("drop").preamble.id
    client.write(
        [update(MODIFY, table_entry=p4r.TableEntry(table_id=l2_id, is_default_action=True))]
    )
    [read] = client.read(wanted)
    assert read.table_entry.action.action.action_id == names.action("NoAction").preamble.id
    assert one_error(client, update(INSERT, table_entry=default))[0] == rpc_code.INVALID_ARGUMENT
    const = names.entry("ethertype_filter", action="drop", is_default_action=True)
    assert one_error(client, update(MODIFY, table_entry=const))[0] == rpc_code.PERMISSION_DENIED
    entry = names.entry("ethertype_filter", {"hdr.ethernet.etherType": ("exact", 0x86DD)}, "drop")
    assert one_error(client, update(INSERT, table_entry=entry))[0] == rpc_code.PERMISSION_DENIED


def test_idle_timeout_needs_support_timeout(client: Client, names: Names) -> None:
    route = names.entry(
        "route", {"hdr.ipv4.dstAddr": ("lpm", 0x0A000000, 8)}, "drop", idle_timeout_ns=10**9
    )
    code, message = one_error(client, update(INSERT, table_entry=route))
    assert code == rpc_code.INVALID_ARGUMENT and "support_timeout" in message
    client.write([update(INSERT, table_entry=l2(names, 9, idle_timeout_ns=10**9))])


def test_direct_counter_and_meter_values_are_written_and_read(client: Client, names: Names) -> None:
    entry = l2(names, 0xAB, counter_data=p4r.CounterData(packet_count=5, byte_count=500))
    client.write([update(INSERT, table_entry=entry)])
    key = l2(names, 0xAB)
    key.ClearField("action")
    [read] = client.read(p4r.Entity(direct_counter_entry=p4r.DirectCounterEntry(table_entry=key)))
    assert read.direct_counter_entry.data == p4r.CounterData(packet_count=5, byte_count=500)
    client.write(
        [
            update(
                MODIFY,
                direct_counter_entry=p4r.DirectCounterEntry(
                    table_entry=key, data=p4r.CounterData(packet_count=1, byte_count=2)
                ),
            )
        ]
    )
    probe = p4r.TableEntry(table_id=entry.table_id, counter_data=p4r.CounterData())
    [read] = client.read(p4r.Entity(table_entry=probe))
    assert read.table_entry.counter_data == p4r.CounterData(packet_count=1, byte_count=2)
    meter = p4r.MeterConfig(cir=100, cburst=10, pir=200, pburst=20)
    route = names.entry(
        "route", {"hdr.ipv4.dstAddr": ("lpm", 0x0A000000, 8)}, "drop", meter_config=meter
    )
    client.write([update(INSERT, table_entry=route)])
    route.ClearField("action")
    route.ClearField("meter_config")
    [read] = client.read(p4r.Entity(direct_meter_entry=p4r.DirectMeterEntry(table_entry=route)))
    assert read.direct_meter_entry.config == meter
    assert (
        one_error(
            client, update(INSERT, direct_counter_entry=p4r.DirectCounterEntry(table_entry=key))
        )[0]
        == rpc_code.INVALID_ARGUMENT
    )


def test_counter_meter_and_register_cells(client: Client, names: Names) -> None:
    cid = names.counter("port_counter")
    client.write(
        [
            update(
                MODIFY,
                counter_entry=p4r.CounterEntry(
                    counter_id=cid,
                    index=p4r.Index(index=3),
                    data=p4r.CounterData(packet_count=7, byte_count=70),
                ),
            )
        ]
    )
    [read] = client.read(
        p4r.Entity(counter_entry=p4r.CounterEntry(counter_id=cid, index=p4r.Index(index=3)))
    )
    assert read.counter_entry.data.packet_count == 7
    bad = p4r.CounterEntry(counter_id=cid, index=p4r.Index(index=16))
    assert one_error(client, update(MODIFY, counter_entry=bad))[0] == rpc_code.OUT_OF_RANGE
    mid = names.meter("port_meter")
    config = p4r.MeterConfig(cir=1, cburst=2, pir=3, pburst=4)
    client.write(
        [
            update(
                MODIFY,
                meter_entry=p4r.MeterEntry(meter_id=mid, index=p4r.Index(index=1), config=config),
            )
        ]
    )
    cells = client.read(p4r.Entity(meter_entry=p4r.MeterEntry(meter_id=mid)))
    assert (
        len(cells) == 16
        and cells[1].meter_entry.config == config
        and not cells[0].meter_entry.HasField("config")
    )
    rid = names.register("port_reg")
    client.write(
        [
            update(
                MODIFY,
                register_entry=p4r.RegisterEntry(
                    register_id=rid,
                    index=p4r.Index(index=2),
                    data=p4d.P4Data(bitstring=b"\x01\x02"),
                ),
            )
        ]
    )
    [read] = client.read(
        p4r.Entity(register_entry=p4r.RegisterEntry(register_id=rid, index=p4r.Index(index=2)))
    )
    assert read.register_entry.data.bitstring == b"\x01\x02"
    assert (
        one_error(client, update(INSERT, register_entry=p4r.RegisterEntry(register_id=rid)))[0]
        == rpc_code.INVALID_ARGUMENT
    )


def test_multicast_group_replicates_and_clone_session_round_trips(
    client: Client, names: Names, switch: ServerThread
) -> None:
    group = p4r.MulticastGroupEntry(multicast_group_id=5)
    group.replicas.add(port=b"\x02", instance=1)
    group.replicas.add(egress_port=3, instance=1)
    client.write(
        [
            update(
                INSERT,
                packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                    multicast_group_entry=group
                ),
            )
        ]
    )
    [read] = client.read(
        p4r.Entity(
            packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                multicast_group_entry=p4r.MulticastGroupEntry()
            )
        )
    )
    ports = [r.port for r in read.packet_replication_engine_entry.multicast_group_entry.replicas]
    assert ports == [b"\x02", b"\x03"]
    mac = 0x020000000005
    client.write(
        [
            update(
                INSERT,
                table_entry=names.entry(
                    "l2_fwd", {"hdr.ethernet.dstAddr": ("exact", mac)}, "set_mcast", {"grp": 5}
                ),
            )
        ]
    )
    frame = bytes(
        Ether(dst="02:00:00:00:00:05", src="02:00:00:00:00:01", type=0x9000) / (b"x" * 50)
    )
    inject(switch, 1, frame)
    assert sent(switch, 2) == [frame] and sent(switch, 3) == [frame]
    session = p4r.CloneSessionEntry(session_id=7, packet_length_bytes=64)
    session.replicas.add(port=b"\x03", instance=0)
    pre = p4r.PacketReplicationEngineEntry(clone_session_entry=session)
    client.write([update(INSERT, packet_replication_engine_entry=pre)])
    [read] = client.read(
        p4r.Entity(
            packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                clone_session_entry=p4r.CloneSessionEntry(session_id=7)
            )
        )
    )
    assert read.packet_replication_engine_entry.clone_session_entry == session
    assert (
        one_error(client, update(INSERT, packet_replication_engine_entry=pre))[0]
        == rpc_code.ALREADY_EXISTS
    )
    client.write([update(DELETE, packet_replication_engine_entry=pre)])


def test_digest_config_insert_modify_delete(client: Client, names: Names) -> None:
    did = names.digest("learn_t")
    entry = p4r.DigestEntry(digest_id=did, config=p4r.DigestEntry.Config(max_list_size=4))
    client.write([update(INSERT, digest_entry=entry)])
    assert one_error(client, update(INSERT, digest_entry=entry))[0] == rpc_code.ALREADY_EXISTS
    entry.config.max_timeout_ns = 1000
    client.write([update(MODIFY, digest_entry=entry)])
    [read] = client.read(p4r.Entity(digest_entry=p4r.DigestEntry()))
    assert read.digest_entry == entry
    client.write([update(DELETE, digest_entry=p4r.DigestEntry(digest_id=did))])
    assert client.read(p4r.Entity(digest_entry=p4r.DigestEntry())) == []


def test_continue_on_error_applies_the_good_updates(client: Client, names: Names) -> None:
    client.write([update(INSERT, table_entry=l2(names, 1))])
    batch = [
        update(INSERT, table_entry=l2(names, 2)),
        update(INSERT, table_entry=l2(names, 1)),
        update(INSERT, table_entry=l2(names, 3)),
    ]
    errors = failed(client, batch, p4r.WriteRequest.CONTINUE_ON_ERROR)
    assert [code for code, _ in errors] == [OK, rpc_code.ALREADY_EXISTS, OK]
    assert len(tables(client, names.table("l2_fwd").preamble.id)) == 3


@pytest.mark.parametrize(
    "atomicity", [p4r.WriteRequest.ROLLBACK_ON_ERROR, p4r.WriteRequest.DATAPLANE_ATOMIC]
)
def test_atomic_batches_leave_nothing_behind(client: Client, names: Names, atomicity: int) -> None:
    client.write([update(INSERT, table_entry=l2(names, 1, port=1))])
    batch = [
        update(MODIFY, table_entry=l2(names, 1, port=3)),
        update(INSERT, table_entry=l2(names, 2)),
        update(
            MODIFY,
            counter_entry=p4r.CounterEntry(
                counter_id=names.counter("port_counter"), data=p4r.CounterData(packet_count=9)
            ),
        ),
        update(INSERT, table_entry=l2(names, 2)),
        update(INSERT, table_entry=l2(names, 4)),
    ]
    errors = failed(client, batch, atomicity)
    assert [code for code, _ in errors] == [rpc_code.ABORTED] * 3 + [
        rpc_code.ALREADY_EXISTS,
        rpc_code.ABORTED,
    ]
    [only] = tables(client, names.table("l2_fwd").preamble.id)
    assert only.action.action.params[0].value == b"\x01"
    counters = client.read(
        p4r.Entity(counter_entry=p4r.CounterEntry(counter_id=names.counter("port_counter")))
    )
    assert all(c.counter_entry.data.packet_count != 9 for c in counters)


def test_only_the_primary_may_write(client: Client, names: Names, switch: ServerThread) -> None:
    backup = Client(switch.address, election=5)
    try:
        assert backup.arbitrate().status.code == rpc_code.ALREADY_EXISTS
        with pytest.raises(grpc.RpcError) as info:
            backup.write([update(INSERT, table_entry=l2(names, 1))])
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        backup.election = 11  # claims an id it did not arbitrate with
        with pytest.raises(grpc.RpcError) as info:
            backup.write([update(INSERT, table_entry=l2(names, 1))])
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert len(backup.read(p4r.Entity(table_entry=p4r.TableEntry()))) >= 1  # backups may read
    finally:
        backup.close()


def test_a_write_to_another_device_is_not_found(client: Client, names: Names) -> None:
    request = p4r.WriteRequest(
        device_id=3,
        election_id=p4r.Uint128(low=10),
        updates=[update(INSERT, table_entry=l2(names, 1))],
    )
    with pytest.raises(grpc.RpcError) as info:
        client.stub.Write(request)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_value_set_members_steer_the_parser(
    client: Client, names: Names, switch: ServerThread
) -> None:
    info = next(v for v in names.info.value_sets if v.preamble.name.endswith("blocked_types"))
    field_id = info.match[0].id
    client.write([update(INSERT, table_entry=l2(names, 0x020000000002, port=2))])
    blocked = bytes(
        Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01", type=0x88B5) / bytes(50)
    )

    def members(*types: int) -> p4r.ValueSetEntry:
        entry = p4r.ValueSetEntry(value_set_id=info.preamble.id)
        for t in types:
            entry.members.add().match.add(field_id=field_id).exact.value = encode(t)
        return entry

    inject(switch, 1, blocked)
    assert sent(switch, 2) == [blocked]
    client.write([update(MODIFY, value_set_entry=members(0x88B5, 0x88B6))])
    inject(switch, 1, blocked)
    assert sent(switch, 2) == []
    [read] = client.read(p4r.Entity(value_set_entry=p4r.ValueSetEntry()))
    assert read.value_set_entry == members(0x88B5, 0x88B6)
    too_many = members(1, 2, 3, 4, 5)
    assert (
        one_error(client, update(MODIFY, value_set_entry=too_many))[0]
        == rpc_code.RESOURCE_EXHAUSTED
    )
    assert (
        one_error(client, update(INSERT, value_set_entry=members(7)))[0]
        == rpc_code.INVALID_ARGUMENT
    )
    client.write([update(MODIFY, value_set_entry=members())])
    inject(switch, 1, blocked)
    assert sent(switch, 2) == [blocked]
