"""P4Runtime entities as typed, immutable Python values.

Entities hold canonical data: fully qualified P4Info names and plain ints,
so an entry built by the controller compares equal to the same entry read
back from the switch. `EntityFactory` builds them from names and readable
values (`10.0.0.0/8`, `aa:bb:cc:dd:ee:ff`, `80`) against a P4Info, checking
every name and width before anything reaches the wire. Turning entities into
protobuf messages is `messages.py`'s job alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from controller.p4rt import values
from controller.p4rt.errors import UnknownNameError, ValueFormatError
from controller.p4rt.p4info import MatchFieldSpec, P4InfoIndex, TableSpec


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Exact:
    value: int

    def __str__(self) -> str:
        return f"{self.value:#x}"


@dataclass(frozen=True)
class Lpm:
    value: int
    prefix_len: int

    def __str__(self) -> str:
        return f"{self.value:#x}/{self.prefix_len}"


@dataclass(frozen=True)
class Ternary:
    value: int
    mask: int

    def __str__(self) -> str:
        return f"{self.value:#x}&&&{self.mask:#x}"


@dataclass(frozen=True)
class Range:
    low: int
    high: int

    def __str__(self) -> str:
        return f"{self.low:#x}..{self.high:#x}"


@dataclass(frozen=True)
class OptionalMatch:
    value: int

    def __str__(self) -> str:
        return f"{self.value:#x}"


FieldMatch = Exact | Lpm | Ternary | Range | OptionalMatch


@dataclass(frozen=True)
class Action:
    """An action call: the action's full name and its arguments in P4Info order."""

    name: str
    params: tuple[tuple[str, int], ...] = ()

    def param(self, name: str) -> int:
        for param_name, value in self.params:
            if param_name == name:
                return value
        raise UnknownNameError(f"action {self.name} call has no parameter {name!r}")

    def __str__(self) -> str:
        args = ", ".join(f"{name}={value:#x}" for name, value in self.params)
        return f"{_short(self.name)}({args})"


@dataclass(frozen=True)
class CounterData:
    packets: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class TableEntry:
    """A table entry. `match` lists the keys that are not wildcards, in P4Info
    key order; `is_default` selects the table's default entry (no match).
    `counter` is filled only on entries read with their direct counter."""

    table: str
    match: tuple[tuple[str, FieldMatch], ...] = ()
    action: Action | None = None
    priority: int = 0
    idle_timeout_ns: int = 0
    metadata: bytes = b""
    is_default: bool = False
    counter: CounterData | None = field(default=None, compare=False)

    def key(self, name: str) -> FieldMatch | None:
        """The match on key `name`; None when the key is a wildcard."""
        for key_name, match in self.match:
            if key_name == name:
                return match
        return None

    def __str__(self) -> str:
        if self.is_default:
            where = "default"
        else:
            where = ", ".join(f"{name}={match}" for name, match in self.match)
        text = f"{_short(self.table)}[{where}]"
        if self.priority:
            text += f" priority {self.priority}"
        if self.action is not None:
            text += f" -> {self.action}"
        return text


@dataclass(frozen=True)
class DirectCounterEntry:
    """The direct counter cell of one table entry (match fields only matter)."""

    table_entry: TableEntry
    data: CounterData | None = None

    def __str__(self) -> str:
        return f"counter of {self.table_entry}"


@dataclass(frozen=True)
class CounterEntry:
    """One cell of an indirect counter; index None reads every cell."""

    counter: str
    index: int | None = None
    data: CounterData | None = None

    def __str__(self) -> str:
        return f"{_short(self.counter)}[{self.index}]"


@dataclass(frozen=True)
class DigestEntry:
    """The switch-side configuration of one digest: how many messages it may
    batch into one list and how long it waits before sending them."""

    digest: str
    max_timeout_ns: int = 0
    max_list_size: int = 1
    ack_timeout_ns: int = 1_000_000_000

    def __str__(self) -> str:
        return f"digest {_short(self.digest)}"


Entity = TableEntry | DirectCounterEntry | CounterEntry | DigestEntry

UpdateType = Literal["INSERT", "MODIFY", "DELETE"]


@dataclass(frozen=True)
class Update:
    type: UpdateType
    entity: Entity

    @classmethod
    def insert(cls, entity: Entity) -> Update:
        return cls("INSERT", entity)

    @classmethod
    def modify(cls, entity: Entity) -> Update:
        return cls("MODIFY", entity)

    @classmethod
    def delete(cls, entity: Entity) -> Update:
        return cls("DELETE", entity)

    def __str__(self) -> str:
        return f"{self.type} {self.entity}"


@dataclass(frozen=True)
class PacketIn:
    """A frame the switch sent to the controller, with its packet_in metadata."""

    payload: bytes
    metadata: tuple[tuple[str, int], ...] = ()

    def get(self, name: str) -> int:
        for key, value in self.metadata:
            if key == name:
                return value
        raise UnknownNameError(f"packet-in has no metadata field {name!r}")


@dataclass(frozen=True)
class PacketOut:
    """A frame for the switch to send, with its packet_out metadata."""

    payload: bytes
    metadata: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class DigestList:
    """Digest messages of one digest; each record maps member names to values."""

    digest: str
    list_id: int
    records: tuple[tuple[tuple[str, int], ...], ...]
    timestamp_ns: int = 0

    def as_dicts(self) -> list[dict[str, int]]:
        return [dict(record) for record in self.records]


@dataclass(frozen=True)
class IdleTimeout:
    """Entries whose idle timeout expired (the switch does not delete them)."""

    entries: tuple[TableEntry, ...]
    timestamp_ns: int = 0


class EntityFactory:
    """Builds canonical entities from names and readable values, checked
    against one P4Info."""

    def __init__(self, index: P4InfoIndex) -> None:
        self.index = index

    def action(self, table: str | TableSpec | None, name: str, **params: values.Readable) -> Action:
        """An action call, arguments by parameter name; every parameter must be given."""
        table_spec = self.index.table(table) if isinstance(table, str) else table
        spec = self.index.action(name, table_spec)
        unknown = set(params) - {p.name for p in spec.params}
        if unknown:
            spec.param(sorted(unknown)[0])
        args = []
        for param in spec.params:
            if param.name not in params:
                raise ValueFormatError(f"action {spec.name}: parameter {param.name!r} missing")
            value = values.parse_int(params[param.name])
            args.append(
                (param.name, values.check_width(value, param.bitwidth, f"{spec.name}.{param.name}"))
            )
        return Action(spec.name, tuple(args))

    def table_entry(
        self,
        table: str,
        match: Mapping[str, values.Readable | FieldMatch] | None = None,
        action: str | Action | None = None,
        params: Mapping[str, values.Readable] | None = None,
        *,
        priority: int = 0,
        idle_timeout_ns: int = 0,
        metadata: bytes = b"",
    ) -> TableEntry:
        """A table entry. Match values take readable forms: for lpm keys
        `a.b.c.d/len` (a bare value is a full-length prefix), for ternary keys
        `value&&&mask`, for range keys `low..high`; a FieldMatch is taken as is."""
        spec = self.index.table(table)
        given = dict(match or {})
        for name in given:
            spec.field(name)
        fields = tuple(
            (f.name, self._field_match(spec, f, given[f.name]))
            for f in spec.match_fields
            if f.name in given
        )
        if spec.needs_priority and priority <= 0:
            raise ValueFormatError(f"table {spec.name}: entries need a priority above 0")
        if not spec.needs_priority and priority:
            raise ValueFormatError(f"table {spec.name}: entries take no priority")
        call = self._action_call(spec, action, params)
        return TableEntry(spec.name, fields, call, priority, idle_timeout_ns, metadata)

    def table_query(self, table: str | None = None) -> TableEntry:
        """A Read request for every entry of `table` (of every table when None)."""
        return TableEntry(self.index.table(table).name if table else "")

    def direct_counter(self, entry: TableEntry) -> DirectCounterEntry:
        self.index.direct_counter_of(self.index.table(entry.table))
        return DirectCounterEntry(entry)

    def counter(self, name: str, index: int | None = None) -> CounterEntry:
        spec = self.index.counter(name)
        if index is not None and not 0 <= index < spec.size:
            raise ValueFormatError(f"counter {spec.name}: index {index} outside 0..{spec.size - 1}")
        return CounterEntry(spec.name, index)

    def digest_entry(
        self,
        name: str,
        *,
        max_timeout_ns: int = 0,
        max_list_size: int = 1,
        ack_timeout_ns: int = 1_000_000_000,
    ) -> DigestEntry:
        spec = self.index.digest(name)
        return DigestEntry(spec.name, max_timeout_ns, max_list_size, ack_timeout_ns)

    def packet_out(self, payload: bytes, **metadata: values.Readable) -> PacketOut:
        """A packet-out; packet_out header fields not given are zero (padding)."""
        spec = self.index.controller_header("packet_out")
        unknown = set(metadata) - {f.name for f in spec.fields}
        if unknown:
            raise UnknownNameError(f"packet_out has no field {sorted(unknown)[0]!r}")
        fields = tuple(
            (
                f.name,
                values.check_width(
                    values.parse_int(metadata.get(f.name, 0)), f.bitwidth, f"packet_out.{f.name}"
                ),
            )
            for f in spec.fields
        )
        return PacketOut(payload, fields)

    def _action_call(
        self,
        spec: TableSpec,
        action: str | Action | None,
        params: Mapping[str, values.Readable] | None,
    ) -> Action | None:
        if action is None:
            if params:
                raise ValueFormatError(f"table {spec.name}: parameters given without an action")
            return None
        if isinstance(action, Action):
            self.index.action(action.name, spec)
            return action
        return self.action(spec, action, **(params or {}))

    @staticmethod
    def _field_match(
        table: TableSpec, spec: MatchFieldSpec, value: values.Readable | FieldMatch
    ) -> FieldMatch:
        what = f"{table.name} key {spec.name}"
        width = spec.bitwidth
        if isinstance(value, Exact | Lpm | Ternary | Range | OptionalMatch):
            return _check_match(value, spec, what)
        kind = spec.match_type
        if kind == "exact":
            return _check_match(Exact(values.parse_int(value)), spec, what)
        if kind == "optional":
            return _check_match(OptionalMatch(values.parse_int(value)), spec, what)
        if kind == "lpm":
            number, length = values.parse_prefix(value)
            return _check_match(Lpm(number, width if length is None else length), spec, what)
        if kind == "ternary":
            number, mask = values.parse_masked(value)
            return _check_match(
                Ternary(number, (1 << width) - 1 if mask is None else mask), spec, what
            )
        if kind == "range":
            low, high = values.parse_range(value)
            return _check_match(Range(low, high), spec, what)
        raise ValueFormatError(f"{what}: match kind {kind!r} is not supported")


def _check_match(match: FieldMatch, spec: MatchFieldSpec, what: str) -> FieldMatch:
    """Rejects values wider than the key and non-canonical entries (bits
    outside an lpm prefix or a ternary mask), as P4Runtime requires."""
    width = spec.bitwidth
    expected = {
        Exact: "exact",
        Lpm: "lpm",
        Ternary: "ternary",
        Range: "range",
        OptionalMatch: "optional",
    }[type(match)]
    if expected != spec.match_type:
        raise ValueFormatError(f"{what}: {expected} value for a {spec.match_type} key")
    if isinstance(match, Exact | OptionalMatch):
        values.check_width(match.value, width, what)
    elif isinstance(match, Lpm):
        values.check_width(match.value, width, what)
        if not 0 < match.prefix_len <= width:
            raise ValueFormatError(
                f"{what}: prefix length {match.prefix_len} outside 1..{width} "
                "(omit the key for a /0 wildcard)"
            )
        host_bits = width - match.prefix_len
        if match.value & ((1 << host_bits) - 1):
            raise ValueFormatError(f"{what}: {match} has bits set beyond the prefix")
    elif isinstance(match, Ternary):
        values.check_width(match.value, width, what)
        values.check_width(match.mask, width, what)
        if match.value & ~match.mask:
            raise ValueFormatError(f"{what}: {match} has value bits outside the mask")
    else:
        values.check_width(match.low, width, what)
        values.check_width(match.high, width, what)
        if match.low > match.high:
            raise ValueFormatError(f"{what}: range {match} is empty")
    return match
