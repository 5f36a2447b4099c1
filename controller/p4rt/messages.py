"""Every P4Runtime protobuf message the project sends, and the decoding of
every one it receives.

This is the only module that touches P4Runtime protobufs (finsy's stubs,
the project's one protobuf stack); the client moves the messages and the
rest of the project speaks in `entities`. Ids come from P4Info through
`P4InfoIndex`; values are encoded in canonical form by `values`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from finsy.proto import U128, p4d, p4i, p4r, rpc_code, rpc_status

from controller.p4rt import values
from controller.p4rt.entities import (
    Action,
    CounterData,
    CounterEntry,
    DigestEntry,
    DigestList,
    DirectCounterEntry,
    Entity,
    Exact,
    FieldMatch,
    IdleTimeout,
    Lpm,
    OptionalMatch,
    PacketIn,
    PacketOut,
    Range,
    TableEntry,
    Ternary,
    Update,
)
from controller.p4rt.errors import P4RuntimeError, UpdateFailure
from controller.p4rt.p4info import P4InfoIndex, TableSpec

_UPDATE_TYPES = {
    "INSERT": p4r.Update.INSERT,
    "MODIFY": p4r.Update.MODIFY,
    "DELETE": p4r.Update.DELETE,
}

ATOMICITY = {
    "CONTINUE_ON_ERROR": p4r.WriteRequest.CONTINUE_ON_ERROR,
    "ROLLBACK_ON_ERROR": p4r.WriteRequest.ROLLBACK_ON_ERROR,
    "DATAPLANE_ATOMIC": p4r.WriteRequest.DATAPLANE_ATOMIC,
}


def code_name(code: int) -> str:
    """The gRPC status name of a numeric canonical code ("NOT_FOUND")."""
    try:
        return str(rpc_code.Code.Name(code))
    except ValueError:
        return f"CODE_{code}"


# ------------------------------------------------------------ session messages


def arbitration_request(
    device_id: int, election_id: int, role: str = ""
) -> p4r.StreamMessageRequest:
    update = p4r.MasterArbitrationUpdate(device_id=device_id, election_id=U128.encode(election_id))
    if role:
        update.role.name = role
    return p4r.StreamMessageRequest(arbitration=update)


def set_pipeline_request(
    device_id: int,
    election_id: int,
    p4info: p4i.P4Info,
    device_config: bytes,
    cookie: int = 0,
    role: str = "",
) -> p4r.SetForwardingPipelineConfigRequest:
    return p4r.SetForwardingPipelineConfigRequest(
        device_id=device_id,
        role=role,
        election_id=U128.encode(election_id),
        action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
        config=p4r.ForwardingPipelineConfig(
            p4info=p4info,
            p4_device_config=device_config,
            cookie=p4r.ForwardingPipelineConfig.Cookie(cookie=cookie),
        ),
    )


def get_pipeline_request(device_id: int) -> p4r.GetForwardingPipelineConfigRequest:
    return p4r.GetForwardingPipelineConfigRequest(
        device_id=device_id,
        response_type=p4r.GetForwardingPipelineConfigRequest.P4INFO_AND_COOKIE,
    )


def arbitration_outcome(update: p4r.MasterArbitrationUpdate) -> tuple[bool, int, str]:
    """(this client is primary, the election id the switch announces, status text)."""
    is_primary = update.status.code == rpc_code.OK
    status = f"{code_name(update.status.code)}: {update.status.message}".rstrip(": ")
    return is_primary, U128.decode(update.election_id), status


def write_failures(details: bytes, updates: Sequence[Update]) -> tuple[UpdateFailure, ...]:
    """The failed updates of a Write, from the `grpc-status-details-bin`
    trailer: a google.rpc.Status whose details hold one p4.v1.Error per
    update, in batch order (OK for those that were applied)."""
    status = rpc_status.Status()
    status.ParseFromString(details)
    failures = []
    for index, (update, detail) in enumerate(zip(updates, status.details, strict=False)):
        error = p4r.Error()
        if not detail.Unpack(error) or error.canonical_code == rpc_code.OK:
            continue
        failures.append(
            UpdateFailure(index, update, code_name(error.canonical_code), error.message)
        )
    return tuple(failures)


# ------------------------------------------------------------ entity codec


class MessageCodec:
    """Entities <-> protobufs for one P4Info."""

    def __init__(self, index: P4InfoIndex, device_id: int, role: str = "") -> None:
        self.index = index
        self.device_id = device_id
        self.role = role
        # A flow's entry goes out for its insert, its counter Reads and its
        # delete: its message is built once (entries are immutable and
        # hashable; requests copy the message in, so it stays untouched).
        self._table_entry_message = functools.lru_cache(maxsize=4096)(self._build_table_entry)

    # --- requests

    def write_request(
        self, election_id: int, updates: Sequence[Update], atomicity: str = "CONTINUE_ON_ERROR"
    ) -> p4r.WriteRequest:
        if atomicity not in ATOMICITY:
            raise P4RuntimeError(f"unknown atomicity {atomicity!r}: one of {', '.join(ATOMICITY)}")
        request = p4r.WriteRequest(
            device_id=self.device_id,
            role=self.role,
            election_id=U128.encode(election_id),
            atomicity=ATOMICITY[atomicity],
        )
        for update in updates:
            # Filled in place: a built Entity or Update would be copied in again.
            message = request.updates.add()
            message.type = _UPDATE_TYPES[update.type]
            if isinstance(update.entity, TableEntry):
                message.entity.table_entry.CopyFrom(self._table_entry_message(update.entity))
            else:
                message.entity.CopyFrom(self.encode_entity(update.entity))
        return request

    def read_request(self, queries: Sequence[Entity]) -> p4r.ReadRequest:
        request = p4r.ReadRequest(device_id=self.device_id, role=self.role)
        for query in queries:
            request.entities.append(self.encode_entity(query))
        return request

    def packet_out(self, packet: PacketOut) -> p4r.StreamMessageRequest:
        spec = self.index.controller_header("packet_out")
        message = p4r.PacketOut(payload=packet.payload)
        given = dict(packet.metadata)
        for field in spec.fields:
            value = given.get(field.name, 0)
            message.metadata.append(
                p4r.PacketMetadata(
                    metadata_id=field.id,
                    value=values.encode(value, field.bitwidth, f"packet_out.{field.name}"),
                )
            )
        return p4r.StreamMessageRequest(packet=message)

    @staticmethod
    def digest_ack(digest_id: int, list_id: int) -> p4r.StreamMessageRequest:
        return p4r.StreamMessageRequest(
            digest_ack=p4r.DigestListAck(digest_id=digest_id, list_id=list_id)
        )

    # --- entities

    def encode_entity(self, entity: Entity) -> p4r.Entity:
        if isinstance(entity, TableEntry):
            return p4r.Entity(table_entry=self._table_entry_message(entity))
        if isinstance(entity, DirectCounterEntry):
            message = p4r.DirectCounterEntry(
                table_entry=self._table_entry_message(entity.table_entry)
            )
            if entity.data is not None:
                message.data.CopyFrom(_counter_data(entity.data))
            return p4r.Entity(direct_counter_entry=message)
        if isinstance(entity, CounterEntry):
            counter = p4r.CounterEntry(counter_id=self.index.counter(entity.counter).id)
            if entity.index is not None:
                counter.index.index = entity.index
            if entity.data is not None:
                counter.data.CopyFrom(_counter_data(entity.data))
            return p4r.Entity(counter_entry=counter)
        digest = self.index.digest(entity.digest)
        return p4r.Entity(
            digest_entry=p4r.DigestEntry(
                digest_id=digest.id,
                config=p4r.DigestEntry.Config(
                    max_timeout_ns=entity.max_timeout_ns,
                    max_list_size=entity.max_list_size,
                    ack_timeout_ns=entity.ack_timeout_ns,
                ),
            )
        )

    def encode_table_entry(self, entry: TableEntry) -> p4r.TableEntry:
        message = p4r.TableEntry()
        message.CopyFrom(self._table_entry_message(entry))
        return message

    def _build_table_entry(self, entry: TableEntry) -> p4r.TableEntry:
        if not entry.table:
            return p4r.TableEntry()  # table_id 0: every table, in a Read
        spec = self.index.table(entry.table)
        message = p4r.TableEntry(
            table_id=spec.id,
            priority=entry.priority,
            idle_timeout_ns=entry.idle_timeout_ns,
            metadata=entry.metadata,
            is_default_action=entry.is_default,
        )
        for name, match in entry.match:
            _encode_match(spec, name, match, message.match.add())
        if entry.action is not None:
            action = self.index.action(entry.action.name, spec)
            call = message.action.action
            call.action_id = action.id
            for name, value in entry.action.params:
                param = action.param(name)
                added = call.params.add()
                added.param_id = param.id
                added.value = values.encode(value, param.bitwidth, f"{action.name}.{name}")
        return message

    def decode_entity(self, message: p4r.Entity) -> Entity:
        kind = message.WhichOneof("entity")
        if kind == "table_entry":
            return self.decode_table_entry(message.table_entry)
        if kind == "direct_counter_entry":
            dce = message.direct_counter_entry
            return DirectCounterEntry(
                self.decode_table_entry(dce.table_entry),
                CounterData(dce.data.packet_count, dce.data.byte_count),
            )
        if kind == "counter_entry":
            ce = message.counter_entry
            return CounterEntry(
                self.index.counters.get_id(ce.counter_id).name,
                ce.index.index,
                CounterData(ce.data.packet_count, ce.data.byte_count),
            )
        if kind == "digest_entry":
            de = message.digest_entry
            return DigestEntry(
                self.index.digests.get_id(de.digest_id).name,
                de.config.max_timeout_ns,
                de.config.max_list_size,
                de.config.ack_timeout_ns,
            )
        raise P4RuntimeError(f"the client does not decode {kind} entities")

    def decode_table_entry(self, message: p4r.TableEntry) -> TableEntry:
        spec = self.index.tables.get_id(message.table_id)
        by_id = {m.field_id: m for m in message.match}
        match = tuple(
            (field.name, _decode_match(spec, by_id[field.id]))
            for field in spec.match_fields
            if field.id in by_id
        )
        action = None
        if message.action.WhichOneof("type") == "action":
            call = message.action.action
            action_spec = self.index.actions.get_id(call.action_id)
            given = {p.param_id: p.value for p in call.params}
            action = Action(
                action_spec.name,
                tuple(
                    (p.name, values.decode(given[p.id], p.bitwidth, f"{action_spec.name}.{p.name}"))
                    for p in action_spec.params
                    if p.id in given
                ),
            )
        counter = None
        if message.HasField("counter_data"):
            counter = CounterData(
                message.counter_data.packet_count, message.counter_data.byte_count
            )
        return TableEntry(
            spec.name,
            match,
            action,
            message.priority,
            message.idle_timeout_ns,
            message.metadata,
            message.is_default_action,
            counter,
        )

    # --- stream messages

    def decode_packet_in(self, message: p4r.PacketIn) -> PacketIn:
        spec = self.index.controller_header("packet_in")
        by_id = {m.metadata_id: m.value for m in message.metadata}
        return PacketIn(
            message.payload,
            tuple(
                (f.name, values.decode(by_id[f.id], f.bitwidth, f"packet_in.{f.name}"))
                for f in spec.fields
                if f.id in by_id
            ),
        )

    def decode_digest_list(self, message: p4r.DigestList) -> DigestList:
        spec = self.index.digests.get_id(message.digest_id)
        records = []
        for data in message.data:
            members = _p4data_members(data)
            if len(members) != len(spec.members):
                raise P4RuntimeError(
                    f"digest {spec.name}: {len(members)} members received, "
                    f"{len(spec.members)} in P4Info"
                )
            records.append(
                tuple(
                    (name, _p4data_int(member, width, f"digest {spec.name}.{name}"))
                    for (name, width), member in zip(spec.members, members, strict=True)
                )
            )
        return DigestList(spec.name, message.list_id, tuple(records), message.timestamp)

    def decode_idle_timeout(self, message: p4r.IdleTimeoutNotification) -> IdleTimeout:
        return IdleTimeout(
            tuple(self.decode_table_entry(entry) for entry in message.table_entry),
            message.timestamp,
        )


def _counter_data(data: CounterData) -> p4r.CounterData:
    return p4r.CounterData(packet_count=data.packets, byte_count=data.bytes)


def _encode_match(table: TableSpec, name: str, match: FieldMatch, message: p4r.FieldMatch) -> None:
    """Fills `message`, an element added to the entry's match list (one copy fewer)."""
    field = table.field(name)
    what = f"{table.name} key {name}"
    width = field.bitwidth
    message.field_id = field.id
    if isinstance(match, Exact):
        message.exact.value = values.encode(match.value, width, what)
    elif isinstance(match, Lpm):
        message.lpm.value = values.encode(match.value, width, what)
        message.lpm.prefix_len = match.prefix_len
    elif isinstance(match, Ternary):
        message.ternary.value = values.encode(match.value, width, what)
        message.ternary.mask = values.encode(match.mask, width, what)
    elif isinstance(match, Range):
        message.range.low = values.encode(match.low, width, what)
        message.range.high = values.encode(match.high, width, what)
    else:
        message.optional.value = values.encode(match.value, width, what)


def _decode_match(table: TableSpec, message: p4r.FieldMatch) -> FieldMatch:
    field = table.field_by_id(message.field_id)
    what = f"{table.name} key {field.name}"
    width = field.bitwidth
    kind = message.WhichOneof("field_match_type")
    if kind == "exact":
        return Exact(values.decode(message.exact.value, width, what))
    if kind == "lpm":
        return Lpm(values.decode(message.lpm.value, width, what), message.lpm.prefix_len)
    if kind == "ternary":
        return Ternary(
            values.decode(message.ternary.value, width, what),
            values.decode(message.ternary.mask, width, what),
        )
    if kind == "range":
        return Range(
            values.decode(message.range.low, width, what),
            values.decode(message.range.high, width, what),
        )
    if kind == "optional":
        return OptionalMatch(values.decode(message.optional.value, width, what))
    raise P4RuntimeError(f"{what}: match kind {kind} is not supported")


def _p4data_members(data: p4d.P4Data) -> list[p4d.P4Data]:
    kind = data.WhichOneof("data")
    if kind == "struct":
        return list(data.struct.members)
    if kind == "tuple":
        return list(data.tuple.members)
    return [data]


def _p4data_int(data: p4d.P4Data, width: int, what: str) -> int:
    kind = data.WhichOneof("data")
    if kind == "bitstring":
        return values.decode(data.bitstring, width, what)
    if kind == "bool":
        return int(data.bool)
    raise P4RuntimeError(f"{what}: {kind} data is not a bit string")
