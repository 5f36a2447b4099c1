"""P4Runtime conformance: Read wildcards, filters and chunked answers."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from finsy.proto import p4r, rpc_code
from p4rt_support import Client, Names, compiled, inject, pipeline_config, start_switch, update
from scapy.layers.l2 import Ether

from p4sim.server.server import ServerThread

INSERT = p4r.Update.INSERT


@pytest.fixture(scope="module")
def switch() -> Iterator[ServerThread]:
    server = start_switch()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def names() -> Names:
    return Names(compiled().p4info)


@pytest.fixture(scope="module")
def client(switch: ServerThread, names: Names) -> Iterator[Client]:
    """Primary of a switch holding 1,000 l2 entries and three acl entries."""
    c = Client(switch.address, election=3)
    assert c.arbitrate().status.code == rpc_code.OK
    c.set_pipeline(
        pipeline_config(compiled()), p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT
    )
    l2 = [
        update(
            INSERT,
            table_entry=names.entry(
                "l2_fwd",
                {"hdr.ethernet.dstAddr": ("exact", mac)},
                "forward",
                {"port": 1},
                idle_timeout_ns=10**12 if mac == 7 else 0,
            ),
        )
        for mac in range(1, 1001)
    ]
    c.write(l2)
    acl = [
        update(
            INSERT,
            table_entry=names.entry(
                "acl", {"hdr.ethernet.etherType": ("ternary", t, 0xFFFF)}, "drop", priority=p
            ),
        )
        for t, p in ((0x800, 5), (0x806, 5), (0x86DD, 9))
    ]
    c.write(acl)
    yield c
    c.close()


def _table(names: Names, name: str, **fields: object) -> p4r.Entity:
    return p4r.Entity(table_entry=p4r.TableEntry(table_id=names.table(name).preamble.id, **fields))


def test_a_large_read_streams_in_chunks(client: Client) -> None:
    request = p4r.ReadRequest(device_id=0, entities=[p4r.Entity(table_entry=p4r.TableEntry())])
    responses = list(client.stub.Read(request))
    assert [len(r.entities) for r in responses] == [1000, 4]


def test_table_id_zero_reads_every_table_including_const_entries(client: Client) -> None:
    everything = client.read(p4r.Entity(table_entry=p4r.TableEntry()))
    assert len(everything) == 1000 + 3 + 1
    const = [e.table_entry for e in everything if e.table_entry.is_const]
    assert len(const) == 1


def test_priority_and_match_filters(client: Client, names: Names) -> None:
    assert len(client.read(_table(names, "acl", priority=5))) == 2
    one = names.entry("l2_fwd", {"hdr.ethernet.dstAddr": ("exact", 42)})
    [read] = client.read(p4r.Entity(table_entry=one))
    assert read.table_entry.match == one.match
    missing = names.entry("l2_fwd", {"hdr.ethernet.dstAddr": ("exact", 99999)})
    assert client.read(p4r.Entity(table_entry=missing)) == []


def test_default_entries_are_read_with_is_default_action(client: Client, names: Names) -> None:
    defaults = client.read(p4r.Entity(table_entry=p4r.TableEntry(is_default_action=True)))
    assert len(defaults) == len(names.info.tables)
    const = [d for d in defaults if d.table_entry.is_const]
    assert [d.table_entry.table_id for d in const] == [names.table("ethertype_filter").preamble.id]


def test_time_since_last_hit_is_reported_when_asked(
    client: Client, names: Names, switch: ServerThread
) -> None:
    inject(
        switch,
        1,
        bytes(Ether(dst="00:00:00:00:00:07", src="02:00:00:00:00:01", type=0x9000) / (b"z" * 46)),
    )
    probe = names.entry(
        "l2_fwd",
        {"hdr.ethernet.dstAddr": ("exact", 7)},
        time_since_last_hit=p4r.TableEntry.IdleTimeout(),
    )
    [read] = client.read(p4r.Entity(table_entry=probe))
    assert read.table_entry.HasField("time_since_last_hit")
    assert 0 <= read.table_entry.time_since_last_hit.elapsed_ns < 5 * 10**9
    [plain] = client.read(
        p4r.Entity(table_entry=names.entry("l2_fwd", {"hdr.ethernet.dstAddr": ("exact", 7)}))
    )
    assert not plain.table_entry.HasField("time_since_last_hit")


def test_counter_wildcards_read_every_cell(client: Client, names: Names) -> None:
    cells = client.read(p4r.Entity(counter_entry=p4r.CounterEntry()))
    assert len(cells) == 16
    assert {c.counter_entry.index.index for c in cells} == set(range(16))


@pytest.mark.parametrize(
    "entity",
    [
        p4r.Entity(table_entry=p4r.TableEntry(table_id=0x02000001)),
        p4r.Entity(counter_entry=p4r.CounterEntry(counter_id=0x12000001)),
        p4r.Entity(register_entry=p4r.RegisterEntry(register_id=0x16000001)),
    ],
)
def test_unknown_ids_fail_the_read(client: Client, entity: p4r.Entity) -> None:
    with pytest.raises(grpc.RpcError) as info:
        client.read(entity)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_reading_another_device_is_not_found(client: Client) -> None:
    with pytest.raises(grpc.RpcError) as info:
        client.read(p4r.Entity(table_entry=p4r.TableEntry()), device_id=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
