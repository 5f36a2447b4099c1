"""Ids to names: the P4Info a controller pushed, indexed for the server.

Every P4Runtime message addresses objects by P4Info id; the runtime knows
them by fully qualified name and positional order (key order, parameter
order). The index is built from the P4Info the *client* sent, not from one we
generate, so a controller holding p4c's P4Info for the same program works
even where our id allocation would differ. `check_against` proves that the
P4Info describes the compiled program before the server accepts it.
"""

from __future__ import annotations

from dataclasses import dataclass

from finsy.proto import p4i, p4t

from p4sim.errors import ControlPlaneError
from p4sim.runtime.schema import MatchFieldInfo, ProgramSchema

_MATCH_KINDS = {
    p4i.MatchField.EXACT: "exact",
    p4i.MatchField.LPM: "lpm",
    p4i.MatchField.TERNARY: "ternary",
    p4i.MatchField.RANGE: "range",
    p4i.MatchField.OPTIONAL: "optional",
}
# Keys of these kinds make a table a TCAM: entries need a priority.
PRIORITY_KINDS = frozenset({"ternary", "range", "optional"})

_COUNTER_UNITS = {
    p4i.CounterSpec.BYTES: "BYTES",
    p4i.CounterSpec.PACKETS: "PACKETS",
    p4i.CounterSpec.BOTH: "BOTH",
}


@dataclass(frozen=True, slots=True)
class MatchFieldRef:
    id: int
    name: str
    kind: str
    bitwidth: int
    position: int  # index in the runtime table's key tuple


@dataclass(frozen=True, slots=True)
class ParamRef:
    id: int
    name: str
    bitwidth: int
    position: int  # index in the runtime ActionCall.args tuple


@dataclass(frozen=True, slots=True)
class ActionRef:
    id: int
    name: str
    params: dict[int, ParamRef]
    ordered: tuple[ParamRef, ...]  # by position


@dataclass(frozen=True, slots=True)
class TableRef:
    id: int
    name: str
    fields: dict[int, MatchFieldRef]
    ordered: tuple[MatchFieldRef, ...]  # by position
    needs_priority: bool
    entry_actions: frozenset[int]
    default_actions: frozenset[int]
    const_default: bool
    direct_counter_id: int  # 0: none
    direct_meter_id: int  # 0: none
    supports_timeout: bool
    is_const: bool
    size: int
    implementation_id: int


@dataclass(frozen=True, slots=True)
class ActionProfileRef:
    id: int
    name: str
    with_selector: bool


@dataclass(frozen=True, slots=True)
class CounterRef:
    id: int
    name: str
    unit: str
    size: int
    direct_table_id: int  # 0 for an indirect counter


@dataclass(frozen=True, slots=True)
class MeterRef:
    id: int
    name: str
    size: int
    direct_table_id: int


@dataclass(frozen=True, slots=True)
class RegisterRef:
    id: int
    name: str
    bitwidth: int
    size: int


@dataclass(frozen=True, slots=True)
class DigestRef:
    id: int
    name: str
    bitwidths: tuple[int, ...]
    is_struct: bool


@dataclass(frozen=True, slots=True)
class PacketMetadataRef:
    """A `@controller_header` header: fields in header (wire) order."""

    name: str
    fields: tuple[tuple[int, str, int], ...]  # (id, name, bitwidth)

    @property
    def header_bytes(self) -> int:
        return (sum(width for _, _, width in self.fields) + 7) // 8


def _bitstring_width(spec: p4t.P4DataTypeSpec, info: p4i.P4Info, what: str) -> int:
    if spec.WhichOneof("type_spec") == "bitstring":
        bits = spec.bitstring
        kind = bits.WhichOneof("type_spec")
        if kind == "bit":
            return int(bits.bit.bitwidth)
        if kind == "int":
            return int(bits.int.bitwidth)
        if kind == "varbit":
            return int(bits.varbit.max_bitwidth)
    if spec.WhichOneof("type_spec") == "serializable_enum":
        name = spec.serializable_enum.name
        return int(info.type_info.serializable_enums[name].underlying_type.bitwidth)
    if spec.WhichOneof("type_spec") == "bool":
        return 1
    raise ControlPlaneError("INVALID_ARGUMENT", f"P4Info: {what}: type not a bit string")


class P4InfoIndex:
    """Lookup tables from P4Info ids to the names and positions the runtime
    uses. Unknown ids raise NOT_FOUND naming the id."""

    def __init__(self, info: p4i.P4Info, schema: ProgramSchema) -> None:
        self.info = info
        self.actions: dict[int, ActionRef] = {}
        self.actions_by_name: dict[str, ActionRef] = {}
        self.tables: dict[int, TableRef] = {}
        self.tables_by_name: dict[str, TableRef] = {}
        self.counters: dict[int, CounterRef] = {}
        self.direct_counters: dict[int, CounterRef] = {}
        self.meters: dict[int, MeterRef] = {}
        self.direct_meters: dict[int, MeterRef] = {}
        self.registers: dict[int, RegisterRef] = {}
        self.digests: dict[int, DigestRef] = {}
        self.digest_ids: dict[str, int] = {}
        self.value_sets: dict[int, p4i.ValueSet] = {v.preamble.id: v for v in info.value_sets}
        self.action_profiles: dict[int, ActionProfileRef] = {
            p.preamble.id: ActionProfileRef(p.preamble.id, p.preamble.name, p.with_selector)
            for p in info.action_profiles
        }
        self.packet_in: PacketMetadataRef | None = None
        self.packet_out: PacketMetadataRef | None = None
        self._index_actions(info, schema)
        self._index_tables(info, schema)
        self._index_externs(info, schema)
        known_headers = {h.name: {f[0]: f[2] for f in h.metadata}
                         for h in schema.controller_headers}
        for header in info.controller_packet_metadata:
            widths = known_headers.get(header.preamble.name, {})
            ref = PacketMetadataRef(
                header.preamble.name,
                tuple((m.id, m.name, widths.get(m.id, m.bitwidth) if m.HasField("type_name")
                       else m.bitwidth) for m in header.metadata),
            )
            if ref.name == "packet_in":
                self.packet_in = ref
            elif ref.name == "packet_out":
                self.packet_out = ref

    def _index_actions(self, info: p4i.P4Info, schema: ProgramSchema) -> None:
        by_name = {a.name: a for a in schema.actions}
        for action in info.actions:
            name = action.preamble.name
            known = by_name.get(name)
            order = [p.name for p in known.params] if known else []
            params = {}
            for i, p in enumerate(action.params):
                position = order.index(p.name) if p.name in order else i
                params[p.id] = ParamRef(p.id, p.name, p.bitwidth, position)
                if p.HasField("type_name") and known and p.name in order:
                    # A `type`: values travel in the program's width (a
                    # translated type's P4Info width is the controller's).
                    width = known.params[order.index(p.name)].bitwidth
                    params[p.id] = ParamRef(p.id, p.name, width, position)
            ordered = tuple(sorted(params.values(), key=lambda p: p.position))
            ref = ActionRef(action.preamble.id, name, params, ordered)
            self.actions[ref.id] = ref
            self.actions_by_name[name] = ref

    def _index_tables(self, info: p4i.P4Info, schema: ProgramSchema) -> None:
        by_name = {t.name: t for t in schema.tables}
        direct = {r.preamble.id for r in info.direct_counters}
        meters = {r.preamble.id for r in info.direct_meters}
        for table in info.tables:
            name = table.preamble.name
            known = by_name.get(name)
            order = [f.name for f in _matched(known.match_fields)] if known else []
            fields = {}
            for i, f in enumerate(table.match_fields):
                kind = _MATCH_KINDS.get(f.match_type, f.other_match_type or "unspecified")
                position = order.index(f.name) if f.name in order else i
                width = f.bitwidth
                if f.HasField("type_name") and known and f.name in order:
                    width = _matched(known.match_fields)[order.index(f.name)].bitwidth
                fields[f.id] = MatchFieldRef(f.id, f.name, kind, width, position)
            ordered = tuple(sorted(fields.values(), key=lambda f: f.position))
            entry_actions = frozenset(
                r.id for r in table.action_refs if r.scope != p4i.ActionRef.DEFAULT_ONLY
            )
            default_actions = frozenset(
                r.id for r in table.action_refs if r.scope != p4i.ActionRef.TABLE_ONLY
            )
            resources = list(table.direct_resource_ids)
            self.tables[table.preamble.id] = TableRef(
                id=table.preamble.id,
                name=name,
                fields=fields,
                ordered=ordered,
                needs_priority=any(f.kind in PRIORITY_KINDS for f in ordered),
                entry_actions=entry_actions,
                default_actions=default_actions,
                const_default=table.const_default_action_id != 0,
                direct_counter_id=next((r for r in resources if r in direct), 0),
                direct_meter_id=next((r for r in resources if r in meters), 0),
                supports_timeout=table.idle_timeout_behavior == p4i.Table.NOTIFY_CONTROL,
                is_const=table.is_const_table,
                size=table.size,
                implementation_id=table.implementation_id,
            )
            self.tables_by_name[name] = self.tables[table.preamble.id]

    def _index_externs(self, info: p4i.P4Info, schema: ProgramSchema) -> None:
        for c in info.counters:
            unit = _COUNTER_UNITS.get(c.spec.unit, "BOTH")
            self.counters[c.preamble.id] = CounterRef(
                c.preamble.id, c.preamble.name, unit, c.size, 0
            )
        for dc in info.direct_counters:
            unit = _COUNTER_UNITS.get(dc.spec.unit, "BOTH")
            self.direct_counters[dc.preamble.id] = CounterRef(
                dc.preamble.id, dc.preamble.name, unit, 0, dc.direct_table_id
            )
        for m in info.meters:
            self.meters[m.preamble.id] = MeterRef(m.preamble.id, m.preamble.name, m.size, 0)
        for dm in info.direct_meters:
            self.direct_meters[dm.preamble.id] = MeterRef(
                dm.preamble.id, dm.preamble.name, 0, dm.direct_table_id
            )
        for r in info.registers:
            width = _bitstring_width(r.type_spec, info, f"register {r.preamble.name}")
            self.registers[r.preamble.id] = RegisterRef(
                r.preamble.id, r.preamble.name, width, r.size
            )
        known_digests = {d.name: tuple(m.bitwidth for m in d.members) for d in schema.digests}
        for d in info.digests:
            widths = self._digest_widths(d, info, known_digests.get(d.preamble.name))
            self.digests[d.preamble.id] = DigestRef(
                d.preamble.id,
                d.preamble.name,
                widths,
                d.type_spec.WhichOneof("type_spec") in ("struct", "tuple"),
            )
            self.digest_ids[d.preamble.name] = d.preamble.id
            if d.type_spec.HasField("struct"):
                # The switch names a digest after its struct (P4Info may use
                # the typedef the program wrote).
                self.digest_ids.setdefault(d.type_spec.struct.name, d.preamble.id)

    @staticmethod
    def _digest_widths(
        digest: p4i.Digest, info: p4i.P4Info, known: tuple[int, ...] | None
    ) -> tuple[int, ...]:
        spec = digest.type_spec
        what = f"digest {digest.preamble.name}"
        if spec.WhichOneof("type_spec") == "struct":
            struct = info.type_info.structs[spec.struct.name]
            if known is not None and len(known) == len(struct.members):
                # The program's widths: a `type` member has no width in P4Info.
                return known
            return tuple(_bitstring_width(m.type_spec, info, what) for m in struct.members)
        if spec.WhichOneof("type_spec") == "tuple":
            return tuple(_bitstring_width(m, info, what) for m in spec.tuple.members)
        return (_bitstring_width(spec, info, what),)

    def table(self, table_id: int) -> TableRef:
        ref = self.tables.get(table_id)
        if ref is None:
            raise ControlPlaneError("NOT_FOUND", f"table id {table_id} is not in the P4Info")
        return ref

    def action(self, action_id: int) -> ActionRef:
        ref = self.actions.get(action_id)
        if ref is None:
            raise ControlPlaneError("NOT_FOUND", f"action id {action_id} is not in the P4Info")
        return ref

    def action_by_name(self, name: str) -> ActionRef:
        ref = self.actions_by_name.get(name)
        if ref is not None:
            return ref
        raise ControlPlaneError("NOT_FOUND", f"action {name} is not in the P4Info")

    def check_against(self, schema: ProgramSchema) -> None:
        """Raise INVALID_ARGUMENT unless every P4Info object exists in the
        compiled program with the same shape."""
        tables = {t.name: t for t in schema.tables}
        for ref in self.tables.values():
            known = tables.get(ref.name)
            if known is None:
                raise _mismatch(f"table {ref.name} is not in the program")
            widths = {f.name: f.bitwidth for f in _matched(known.match_fields)}
            if len(widths) != len(ref.fields):
                raise _mismatch(
                    f"table {ref.name}: {len(ref.fields)} match fields, program has {len(widths)}"
                )
            for f in ref.ordered:
                if f.name in widths and widths[f.name] != f.bitwidth:
                    raise _mismatch(
                        f"table {ref.name}: match field {f.name} is {widths[f.name]} bits"
                    )
            if bool(ref.implementation_id) != (known.implementation is not None):
                raise _mismatch(
                    f"table {ref.name}: the program "
                    f"{'has no' if known.implementation is None else 'has an'} action profile"
                )
        profiles = {p.name: p for p in schema.action_profiles}
        for profile in self.action_profiles.values():
            known_profile = profiles.get(profile.name)
            if known_profile is None or known_profile.with_selector != profile.with_selector:
                raise _mismatch(f"action profile {profile.name} is not in the program")
        actions = {a.name: a for a in schema.actions}
        for action in self.actions.values():
            known_action = actions.get(action.name)
            if known_action is None:
                raise _mismatch(f"action {action.name} is not in the program")
            if [p.bitwidth for p in known_action.params] != [p.bitwidth for p in action.ordered]:
                raise _mismatch(f"action {action.name}: parameters differ from the program")
        value_sets = {v.name for v in schema.value_sets}
        for vs in self.value_sets.values():
            if vs.preamble.name not in value_sets:
                raise _mismatch(f"value_set {vs.preamble.name} is not in the program")
        for kind, names, refs in (
            ("counter", {c.name for c in schema.counters}, self.counters),
            ("meter", {m.name for m in schema.meters}, self.meters),
            ("register", {r.name for r in schema.registers}, self.registers),
        ):
            for obj in refs.values():
                if obj.name not in names:
                    raise _mismatch(f"{kind} {obj.name} is not in the program")


def _matched(fields: tuple[MatchFieldInfo, ...]) -> list[MatchFieldInfo]:
    """The key fields a table entry gives: `selector` keys only feed an action
    selector's hash (P4Info does not list them)."""
    return [f for f in fields if f.match_type != "selector"]


def _mismatch(message: str) -> ControlPlaneError:
    return ControlPlaneError(
        "INVALID_ARGUMENT", f"P4Info does not match the device config: {message}"
    )
