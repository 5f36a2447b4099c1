"""Nothing a client sends can crash the server: thousands of seeded random
mutations of valid Write, Read and stream messages get proper status codes
(never INTERNAL, which the server only uses for its own bugs), and the
server keeps answering afterwards."""

from __future__ import annotations

import random
from collections.abc import Iterator

import grpc
import pytest
from finsy.proto import p4d, p4r, rpc_code
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from p4rt_support import (
    Client,
    Names,
    compiled,
    pipeline_config,
    start_switch,
    update,
    write_errors,
)

from p4sim.server.server import ServerThread

INSERT, MODIFY, DELETE = p4r.Update.INSERT, p4r.Update.MODIFY, p4r.Update.DELETE
F = FieldDescriptor


@pytest.fixture(scope="module")
def switch() -> Iterator[ServerThread]:
    server = start_switch()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(switch: ServerThread) -> Iterator[Client]:
    c = Client(switch.address, election=1)
    assert c.arbitrate().status.code == rpc_code.OK
    c.set_pipeline(
        pipeline_config(compiled()), p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT
    )
    yield c
    c.close()


def _templates(names: Names) -> list[p4r.Entity]:
    """One valid entity of every kind the conformance program has."""
    te = names.entry
    value_set = names.info.value_sets[0]
    member = p4r.ValueSetMember()
    member.match.add(field_id=value_set.match[0].id).exact.value = b"\x88\xb5"
    return [
        p4r.Entity(
            value_set_entry=p4r.ValueSetEntry(value_set_id=value_set.preamble.id, members=[member])
        ),
        p4r.Entity(
            table_entry=te(
                "l2_fwd",
                {"hdr.ethernet.dstAddr": ("exact", 5)},
                "forward",
                {"port": 1},
                idle_timeout_ns=10**9,
                metadata=b"m",
            )
        ),
        p4r.Entity(
            table_entry=te(
                "acl",
                {
                    "hdr.ethernet.etherType": ("ternary", 0x800, 0xFFFF),
                    "hdr.ipv4.ttl": ("range", 1, 9),
                    "hdr.ipv4.dstAddr": ("optional", 7),
                },
                "do_clone",
                {"session": 3},
                priority=4,
            )
        ),
        p4r.Entity(
            table_entry=te(
                "route",
                {"hdr.ipv4.dstAddr": ("lpm", 0x0A000000, 8)},
                "metered_forward",
                {"port": 2},
                meter_config=p4r.MeterConfig(cir=1, cburst=1, pir=2, pburst=2),
            )
        ),
        p4r.Entity(table_entry=te("l2_fwd", action="drop", is_default_action=True)),
        p4r.Entity(
            counter_entry=p4r.CounterEntry(
                counter_id=names.counter("port_counter"),
                index=p4r.Index(index=1),
                data=p4r.CounterData(packet_count=1),
            )
        ),
        p4r.Entity(
            meter_entry=p4r.MeterEntry(
                meter_id=names.meter("port_meter"),
                index=p4r.Index(index=2),
                config=p4r.MeterConfig(cir=1, cburst=1, pir=1, pburst=1),
            )
        ),
        p4r.Entity(
            register_entry=p4r.RegisterEntry(
                register_id=names.register("port_reg"),
                index=p4r.Index(index=3),
                data=p4d.P4Data(bitstring=b"\x05"),
            )
        ),
        p4r.Entity(
            packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                multicast_group_entry=p4r.MulticastGroupEntry(
                    multicast_group_id=3, replicas=[p4r.Replica(port=b"\x01", instance=1)]
                )
            )
        ),
        p4r.Entity(
            packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                clone_session_entry=p4r.CloneSessionEntry(
                    session_id=3, replicas=[p4r.Replica(egress_port=2)]
                )
            )
        ),
        p4r.Entity(
            digest_entry=p4r.DigestEntry(
                digest_id=names.digest("learn_t"), config=p4r.DigestEntry.Config(max_list_size=1)
            )
        ),
        p4r.Entity(
            direct_counter_entry=p4r.DirectCounterEntry(
                table_entry=te("l2_fwd", {"hdr.ethernet.dstAddr": ("exact", 5)}),
                data=p4r.CounterData(byte_count=3),
            )
        ),
    ]


def _random_scalar(rng: random.Random, field: FieldDescriptor) -> object:
    if field.type == F.TYPE_BYTES:
        return rng.randbytes(rng.choice((0, 1, 2, 6, 9, 40)))
    if field.type == F.TYPE_STRING:
        return rng.choice(("", "x", "role"))
    if field.type == F.TYPE_BOOL:
        return rng.random() < 0.5
    if field.type == F.TYPE_ENUM:
        return rng.choice([v.number for v in field.enum_type.values])
    if field.type in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return rng.choice((0, 1, -1, 2**31 - 1, -(2**31), rng.randrange(-5, 70)))
    if field.type in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return rng.choice((0, 1, -1, 2**63 - 1, -(2**63), rng.randrange(-5, 10**10)))
    if field.type in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return rng.choice((0, 1, 2**32 - 1, rng.randrange(0, 70), rng.getrandbits(32)))
    return rng.choice((0, 1, 2**64 - 1, rng.getrandbits(64)))


def _mutate(rng: random.Random, message: Message, depth: int = 0) -> None:
    """Change one randomly chosen field somewhere inside `message`."""
    fields = list(message.DESCRIPTOR.fields)
    field = rng.choice(fields)
    if field.type == F.TYPE_MESSAGE:
        if field.message_type.full_name.startswith("google.protobuf"):
            return
        if field.is_repeated:
            container = getattr(message, field.name)
            if container and rng.random() < 0.6:
                _mutate(rng, rng.choice(container), depth + 1)
            elif rng.random() < 0.5:
                _mutate(rng, container.add(), depth + 1)
            else:
                message.ClearField(field.name)
        elif depth < 4 and rng.random() < 0.85:
            _mutate(rng, getattr(message, field.name), depth + 1)
        else:
            message.ClearField(field.name)
    elif field.is_repeated:
        getattr(message, field.name).append(_random_scalar(rng, field))
    else:
        setattr(message, field.name, _random_scalar(rng, field))


def test_random_writes_get_status_codes_never_internal(client: Client) -> None:
    rng = random.Random(1234)
    templates = _templates(Names(compiled().p4info))
    seen: set[int] = set()
    for _ in range(150):
        updates = []
        for _ in range(rng.randrange(1, 12)):
            entity = p4r.Entity()
            entity.CopyFrom(rng.choice(templates))
            for _ in range(rng.choice((0, 1, 1, 2, 3))):
                _mutate(rng, entity)
            updates.append(
                update(
                    rng.choice((INSERT, MODIFY, DELETE, INSERT)),
                    **{
                        entity.WhichOneof("entity") or "table_entry": getattr(
                            entity, entity.WhichOneof("entity") or "table_entry"
                        )
                    },
                )
            )
        atomicity = rng.choice((0, 0, 1, 2))
        try:
            client.write(updates, atomicity)
        except grpc.RpcError as error:
            assert error.code() != grpc.StatusCode.INTERNAL, error.details()
            codes = [code for code, _ in write_errors(error)]
            assert rpc_code.INTERNAL not in codes and rpc_code.UNKNOWN not in codes
            seen.update(codes)
    assert {rpc_code.INVALID_ARGUMENT, rpc_code.NOT_FOUND, rpc_code.ALREADY_EXISTS} <= seen


def test_random_reads_get_status_codes_never_internal(client: Client) -> None:
    rng = random.Random(99)
    templates = _templates(Names(compiled().p4info))
    for _ in range(300):
        entity = p4r.Entity()
        entity.CopyFrom(rng.choice(templates))
        for _ in range(rng.choice((1, 2, 3))):
            _mutate(rng, entity)
        try:
            client.read(entity)
        except grpc.RpcError as error:
            assert error.code() != grpc.StatusCode.INTERNAL, error.details()


def test_random_stream_messages_get_stream_errors_and_the_server_lives_on(
    switch: ServerThread, client: Client
) -> None:
    rng = random.Random(7)
    for _ in range(300):
        message = p4r.StreamMessageRequest()
        choice = rng.choice(("packet", "digest_ack", "packet", "other"))
        if choice == "other":
            message.other.type_url = "type.googleapis.com/x"
        else:
            getattr(message, choice).SetInParent()
            for _ in range(rng.choice((1, 2, 4))):
                _mutate(rng, getattr(message, choice))
        client._out.put(message)
    errors = [m for m in client.drain() if not isinstance(m, grpc.RpcError)]
    assert all(e.error.canonical_code != rpc_code.INTERNAL for e in errors if e.HasField("error"))
    late = Client(switch.address, election=None)
    try:
        assert (
            late.arbitrate().status.code == rpc_code.ALREADY_EXISTS
        )  # still serving, still primary
        assert client.stub.Capabilities(p4r.CapabilitiesRequest()).p4runtime_api_version
    finally:
        late.close()
