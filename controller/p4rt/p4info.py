"""Name-to-id lookup through a P4Info message.

The controller never hard-codes an id: it names tables, keys, actions,
parameters, digests and counters, and this index resolves the names against
the P4Info of the pipeline in use. A name may be the fully qualified one
(`ForwarderIngress.encap.encap_map`), P4Info's alias, or any dot-separated
suffix that is unique (`encap_map`), as p4runtime-shell allows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from finsy.proto import p4i, p4t
from google.protobuf import text_format
from google.protobuf.message import DecodeError

from controller.p4rt.errors import P4RuntimeError, UnknownNameError

MATCH_TYPES = {
    p4i.MatchField.EXACT: "exact",
    p4i.MatchField.LPM: "lpm",
    p4i.MatchField.TERNARY: "ternary",
    p4i.MatchField.RANGE: "range",
    p4i.MatchField.OPTIONAL: "optional",
}


@dataclass(frozen=True)
class MatchFieldSpec:
    id: int
    name: str
    bitwidth: int
    match_type: str  # "exact", "lpm", "ternary", "range", "optional" or an architecture's own


@dataclass(frozen=True)
class ParamSpec:
    id: int
    name: str
    bitwidth: int


@dataclass(frozen=True)
class ActionSpec:
    id: int
    name: str
    alias: str
    params: tuple[ParamSpec, ...]

    def param(self, name: str) -> ParamSpec:
        for param in self.params:
            if param.name == name:
                return param
        known = ", ".join(p.name for p in self.params) or "none"
        raise UnknownNameError(
            f"action {self.name} has no parameter {name!r} (parameters: {known})"
        )


@dataclass(frozen=True)
class TableSpec:
    id: int
    name: str
    alias: str
    match_fields: tuple[MatchFieldSpec, ...]
    action_ids: tuple[int, ...]
    const_default_action_id: int
    size: int
    supports_idle_timeout: bool
    direct_counter_id: int

    def field(self, name: str) -> MatchFieldSpec:
        for field in self.match_fields:
            if field.name == name:
                return field
        known = ", ".join(f.name for f in self.match_fields) or "none"
        raise UnknownNameError(f"table {self.name} has no key {name!r} (keys: {known})")

    def field_by_id(self, field_id: int) -> MatchFieldSpec:
        for field in self.match_fields:
            if field.id == field_id:
                return field
        raise UnknownNameError(f"table {self.name} has no key with id {field_id}")

    @property
    def needs_priority(self) -> bool:
        """P4Runtime requires a priority exactly when a key is ternary, range or optional."""
        return any(f.match_type in ("ternary", "range", "optional") for f in self.match_fields)


@dataclass(frozen=True)
class DigestSpec:
    id: int
    name: str
    alias: str
    members: tuple[tuple[str, int], ...]  # (member name, bit width), in struct order


@dataclass(frozen=True)
class CounterSpec:
    id: int
    name: str
    alias: str
    unit: str  # "PACKETS", "BYTES" or "BOTH"
    size: int
    direct_table_id: int = 0


@dataclass(frozen=True)
class PacketMetadataSpec:
    id: int
    name: str  # "packet_in" or "packet_out"
    fields: tuple[ParamSpec, ...]  # in header order


_Spec = TypeVar("_Spec", ActionSpec, TableSpec, DigestSpec, CounterSpec, PacketMetadataSpec)


class _Namespace(Generic[_Spec]):
    """One kind of P4Info object, looked up by id, full name, alias or unique suffix."""

    def __init__(self, kind: str, specs: Iterable[tuple[_Spec, str]]) -> None:
        self.kind = kind
        self.by_id: dict[int, _Spec] = {}
        self.by_name: dict[str, _Spec] = {}
        self.aliases: dict[str, _Spec] = {}
        for spec, alias in specs:
            self.by_id[spec.id] = spec
            self.by_name[spec.name] = spec
            if alias:
                self.aliases[alias] = spec

    def lookup(self, name: str) -> _Spec:
        found = self.by_name.get(name) or self.aliases.get(name)
        if found is not None:
            return found
        matches = [spec for full, spec in self.by_name.items() if full.endswith("." + name)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            names = ", ".join(sorted(spec.name for spec in matches))
            raise UnknownNameError(f"{self.kind} name {name!r} is ambiguous: {names}")
        raise UnknownNameError(f"no {self.kind} named {name!r} in P4Info")

    def get_id(self, spec_id: int) -> _Spec:
        try:
            return self.by_id[spec_id]
        except KeyError:
            raise UnknownNameError(f"no {self.kind} with id {spec_id} in P4Info") from None


def _bitwidth(type_spec: p4t.P4DataTypeSpec, info: p4i.P4Info, what: str) -> int:
    kind = type_spec.WhichOneof("type_spec")
    if kind == "bitstring":
        bits = type_spec.bitstring
        inner = bits.WhichOneof("type_spec")
        if inner == "bit":
            return int(bits.bit.bitwidth)
        if inner == "int":
            return int(bits.int.bitwidth)
    if kind == "bool":
        return 1
    if kind == "new_type" and type_spec.new_type.name in info.type_info.new_types:
        new_type = info.type_info.new_types[type_spec.new_type.name]
        if new_type.WhichOneof("representation") == "original_type":
            return _bitwidth(new_type.original_type, info, what)
        return int(new_type.translated_type.sdn_bitwidth)
    raise UnknownNameError(f"{what}: type {kind} is not a fixed-width bit string")


def _digest_members(digest: p4i.Digest, info: p4i.P4Info) -> tuple[tuple[str, int], ...]:
    spec = digest.type_spec
    name = digest.preamble.name
    if spec.WhichOneof("type_spec") == "struct":
        struct = info.type_info.structs[spec.struct.name]
        return tuple(
            (m.name, _bitwidth(m.type_spec, info, f"digest {name} member {m.name}"))
            for m in struct.members
        )
    if spec.WhichOneof("type_spec") == "tuple":
        return tuple(
            (f"field{i}", _bitwidth(m, info, f"digest {name} member {i}"))
            for i, m in enumerate(spec.tuple.members)
        )
    return (("value", _bitwidth(spec, info, f"digest {name}")),)


_COUNTER_UNITS = {p4i.CounterSpec.PACKETS: "PACKETS", p4i.CounterSpec.BYTES: "BYTES"}


def _counter_unit(spec: p4i.CounterSpec) -> str:
    return _COUNTER_UNITS.get(spec.unit, "BOTH")


class P4InfoIndex:
    """Every object of one P4Info, by name and by id."""

    def __init__(self, p4info: p4i.P4Info) -> None:
        self.p4info = p4info
        direct_counters = {dc.direct_table_id: dc.preamble.id for dc in p4info.direct_counters}
        self.tables: _Namespace[TableSpec] = _Namespace(
            "table",
            (
                (
                    TableSpec(
                        id=t.preamble.id,
                        name=t.preamble.name,
                        alias=t.preamble.alias,
                        match_fields=tuple(
                            MatchFieldSpec(
                                id=f.id,
                                name=f.name,
                                bitwidth=f.bitwidth,
                                match_type=MATCH_TYPES.get(f.match_type, f.other_match_type),
                            )
                            for f in t.match_fields
                        ),
                        action_ids=tuple(ref.id for ref in t.action_refs),
                        const_default_action_id=t.const_default_action_id,
                        size=t.size,
                        supports_idle_timeout=(t.idle_timeout_behavior == p4i.Table.NOTIFY_CONTROL),
                        direct_counter_id=direct_counters.get(t.preamble.id, 0),
                    ),
                    t.preamble.alias,
                )
                for t in p4info.tables
            ),
        )
        self.actions: _Namespace[ActionSpec] = _Namespace(
            "action",
            (
                (
                    ActionSpec(
                        id=a.preamble.id,
                        name=a.preamble.name,
                        alias=a.preamble.alias,
                        params=tuple(ParamSpec(p.id, p.name, p.bitwidth) for p in a.params),
                    ),
                    a.preamble.alias,
                )
                for a in p4info.actions
            ),
        )
        self.digests: _Namespace[DigestSpec] = _Namespace(
            "digest",
            (
                (
                    DigestSpec(
                        id=d.preamble.id,
                        name=d.preamble.name,
                        alias=d.preamble.alias,
                        members=_digest_members(d, p4info),
                    ),
                    d.preamble.alias,
                )
                for d in p4info.digests
            ),
        )
        self.counters: _Namespace[CounterSpec] = _Namespace(
            "counter",
            (
                (
                    CounterSpec(
                        c.preamble.id,
                        c.preamble.name,
                        c.preamble.alias,
                        _counter_unit(c.spec),
                        c.size,
                    ),
                    c.preamble.alias,
                )
                for c in p4info.counters
            ),
        )
        self.direct_counters: _Namespace[CounterSpec] = _Namespace(
            "direct counter",
            (
                (
                    CounterSpec(
                        c.preamble.id,
                        c.preamble.name,
                        c.preamble.alias,
                        _counter_unit(c.spec),
                        0,
                        c.direct_table_id,
                    ),
                    c.preamble.alias,
                )
                for c in p4info.direct_counters
            ),
        )
        self.packet_metadata: _Namespace[PacketMetadataSpec] = _Namespace(
            "controller packet metadata",
            (
                (
                    PacketMetadataSpec(
                        id=m.preamble.id,
                        name=m.preamble.name,
                        fields=tuple(ParamSpec(f.id, f.name, f.bitwidth) for f in m.metadata),
                    ),
                    m.preamble.alias,
                )
                for m in p4info.controller_packet_metadata
            ),
        )

    def table(self, name: str) -> TableSpec:
        return self.tables.lookup(name)

    def action(self, name: str, table: TableSpec | None = None) -> ActionSpec:
        """An action by name; given a table, only that table's actions are
        candidates, so a short name is unique more often."""
        if table is None:
            return self.actions.lookup(name)
        candidates = [self.actions.get_id(action_id) for action_id in table.action_ids]
        exact = [a for a in candidates if name in (a.name, a.alias)]
        suffix = exact or [a for a in candidates if a.name.endswith("." + name)]
        if len(suffix) == 1:
            return suffix[0]
        names = ", ".join(sorted(a.name for a in candidates))
        if suffix:
            raise UnknownNameError(f"action name {name!r} is ambiguous in table {table.name}")
        raise UnknownNameError(f"table {table.name} has no action {name!r} (actions: {names})")

    def digest(self, name: str) -> DigestSpec:
        return self.digests.lookup(name)

    def counter(self, name: str) -> CounterSpec:
        return self.counters.lookup(name)

    def direct_counter_of(self, table: TableSpec) -> CounterSpec:
        if not table.direct_counter_id:
            raise UnknownNameError(f"table {table.name} has no direct counter")
        return self.direct_counters.get_id(table.direct_counter_id)

    def controller_header(self, name: str) -> PacketMetadataSpec:
        """The `packet_in` or `packet_out` header's metadata fields."""
        return self.packet_metadata.lookup(name)


def load_p4info(path: str | Path) -> p4i.P4Info:
    """P4Info from a file in text format (as p4c and `p4sim compile` write
    it) or binary format."""
    data = Path(path).read_bytes()
    p4info = p4i.P4Info()
    try:
        text_format.Parse(data.decode("utf-8"), p4info)
        return p4info
    except (UnicodeDecodeError, text_format.ParseError) as text_error:
        p4info.Clear()
        try:
            p4info.ParseFromString(data)
        except DecodeError:
            raise P4RuntimeError(f"{path}: not a P4Info file ({text_error})") from None
        return p4info
