"""P4Info from a `ProgramSchema`, shaped like p4c's output for the same program.

The layout follows p4c's `control-plane/` serializer (v1model handler):

- ids and aliases come from `p4sim.p4info.ids` (one suffix set across all
  resource types, so aliases match p4c's);
- match fields and action parameters are numbered 1.. in declaration order
  (a key element p4c does not expose, such as a `selector` key, still uses up
  its number);
- an action reference's `@defaultonly` / `@tableonly` sets its scope and stays
  among its annotations; `@name`, `@id`, `@brief` and `@description` are not
  copied as annotations (the last two become the `doc` field);
- direct counters and meters appear in the order of the tables that own
  them, each table listing its direct counter before its direct meter;
- a digest is named after its struct type, carries no annotations, and its
  struct is described in `type_info`, which p4c writes (empty if need be)
  when the program has a table or a type to describe;
- `@hidden` tables and actions are left out (a table's reference to a
  hidden action stays); other hidden objects keep the annotation;
- controller headers are named by their `@controller_header` argument but
  their id hashes the header type's name;
- objects otherwise appear in schema order: the lowering pass lists them in
  the order p4c visits them (for actions: the localized top-level actions of
  a control, such as `NoAction`, before the control's own).

- every table has an `initial_default_action` (its default action and
  arguments, each argument as many bytes as the parameter's width needs);
- the text starts with the `proto-file`/`proto-message` comment p4c writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from finsy.proto import p4i
from google.protobuf import text_format

from p4sim.errors import TypeCheckError
from p4sim.p4info.ids import SuffixSet, allocate_ids, control_plane_name
from p4sim.runtime.schema import (
    CounterInfo,
    MatchFieldInfo,
    MeterInfo,
    ProgramSchema,
    TableInfo,
)

_MATCH_TYPES = {
    "exact": p4i.MatchField.EXACT,
    "lpm": p4i.MatchField.LPM,
    "ternary": p4i.MatchField.TERNARY,
    "range": p4i.MatchField.RANGE,
    "optional": p4i.MatchField.OPTIONAL,
}
_HIDDEN_MATCH_KINDS = {"selector"}
_NOT_COPIED = {"name", "id", "brief", "description"}
_ANNOTATION_NAME = re.compile(r"@\s*([A-Za-z_][A-Za-z0-9_]*)")
_R = TypeVar("_R", CounterInfo, MeterInfo)


def p4info_to_text(p4info: p4i.P4Info) -> str:
    """Protobuf text format, as `p4c --p4runtime-files x.txt` writes it."""
    text: str = text_format.MessageToString(p4info)
    return _TEXT_HEADER + text


_TEXT_HEADER = "# proto-file: p4/config/v1/p4info.proto\n# proto-message: p4.config.v1.P4Info\n\n"


def build_p4info(schema: ProgramSchema) -> p4i.P4Info:
    return _Builder(schema).build()


class _Builder:
    def __init__(self, schema: ProgramSchema) -> None:
        self.schema = schema
        self.new_types_used: set[str] = set()
        self.direct_counters = self._by_table_order(schema.counters)
        self.direct_meters = self._by_table_order(schema.meters)
        symbols: dict[str, list[tuple[str, int | None]]] = {
            "table": [(t.name, t.explicit_id) for t in schema.tables],
            "action": [(a.name, a.explicit_id) for a in schema.actions],
            "counter": [(c.name, c.explicit_id) for c in schema.counters if not c.direct_table],
            "direct_counter": [(c.name, c.explicit_id) for _, c in self.direct_counters],
            "meter": [(m.name, m.explicit_id) for m in schema.meters if not m.direct_table],
            "direct_meter": [(m.name, m.explicit_id) for _, m in self.direct_meters],
            "register": [(r.name, r.explicit_id) for r in schema.registers],
            "digest": [(d.p4info_name or d.name, d.explicit_id) for d in schema.digests],
            "controller_header": [(h.type_name or h.name, None) for h in schema.controller_headers],
            "value_set": [(v.name, None) for v in schema.value_sets],
            "action_profile": [(p.name, p.explicit_id) for p in schema.action_profiles],
        }
        self.ids: dict[str, dict[str, int]] = {}
        self.aliases = SuffixSet()
        for kind, entries in symbols.items():
            names = [control_plane_name(n) for n, _ in entries]
            duplicates = {n for n in names if names.count(n) > 1}
            if duplicates and kind != "digest":
                raise TypeCheckError(
                    None, f"name {sorted(duplicates)[0]} is used by two {kind.replace('_', ' ')}s"
                )
            explicit = {n: i for n, i in entries if i is not None}
            self.ids[kind] = allocate_ids(kind, names, explicit)
            for name in names:
                self.aliases.add(name)

    def _by_table_order(self, resources: Sequence[_R]) -> list[tuple[str, _R]]:
        """The direct resources among `resources`, with their table, in the
        order p4c meets them: while adding their tables."""
        order = {t.name: i for i, t in enumerate(self.schema.tables)
                 if not _hidden(t.annotations)}
        # p4c drops a direct resource with the unused table that owned it.
        direct = [(r.direct_table, r) for r in resources if r.direct_table in order]
        return sorted(direct, key=lambda pair: order[pair[0]])

    def id(self, kind: str, name: str) -> int:
        try:
            return self.ids[kind][control_plane_name(name)]
        except KeyError:
            raise ValueError(f"schema names {kind} {name!r}, which it does not declare") from None

    def type_name(self, msg: Any, name: str | None, bitwidth: int) -> None:
        """A field's width and, for a `type`, its type_name (the type goes in
        type_info.new_types); a translated type shows the translated width."""
        if name is None:
            msg.bitwidth = bitwidth
            return
        new_type = self.schema.new_types[name]
        if new_type.p4info_bitwidth:
            msg.bitwidth = new_type.p4info_bitwidth
        msg.type_name.name = name
        self.new_types_used.add(name)

    def build(self) -> p4i.P4Info:
        schema = self.schema
        info = p4i.P4Info()
        info.pkg_info.arch = schema.arch
        for table in schema.tables:
            if not _hidden(table.annotations):
                self._table(info.tables.add(), table)
        for action in schema.actions:
            if _hidden(action.annotations):
                continue  # p4c lists neither; tables still refer to it by id
            msg = info.actions.add()
            self._preamble(msg.preamble, "action", action.name, action.annotations)
            for i, param in enumerate(action.params, 1):
                p = msg.params.add(id=i, name=param.name)
                self.type_name(p, param.type_name, param.bitwidth)
                p.annotations.extend(_copied(param.annotations))
                _document(p, param.annotations)
        for profile in schema.action_profiles:
            msg = info.action_profiles.add()
            self._preamble(msg.preamble, "action_profile", profile.name, profile.annotations)
            tables = sorted(profile.table_names, key=lambda n: control_plane_name(n).encode())
            msg.table_ids.extend(self.id("table", t) for t in tables)
            msg.with_selector = profile.with_selector
            msg.size = profile.size
            if profile.with_selector:
                msg.max_group_size = profile.max_group_size
                if profile.size_semantics == "sum_of_weights":
                    msg.sum_of_weights.SetInParent()
                elif profile.size_semantics == "sum_of_members":
                    msg.sum_of_members.SetInParent()
                    if profile.max_member_weight:
                        msg.sum_of_members.max_member_weight = profile.max_member_weight
        for counter in schema.counters:
            if counter.direct_table is None:
                msg = info.counters.add(size=counter.size)
                self._preamble(msg.preamble, "counter", counter.name, counter.annotations)
                msg.spec.unit = p4i.CounterSpec.Unit.Value(counter.unit)
        for table_name, counter in self.direct_counters:
            msg = info.direct_counters.add()
            self._preamble(msg.preamble, "direct_counter", counter.name, counter.annotations)
            msg.spec.unit = p4i.CounterSpec.Unit.Value(counter.unit)
            msg.direct_table_id = self.id("table", table_name)
        for meter in schema.meters:
            if meter.direct_table is None:
                msg = info.meters.add(size=meter.size)
                self._preamble(msg.preamble, "meter", meter.name, meter.annotations)
                msg.spec.unit = p4i.MeterSpec.Unit.Value(meter.unit)
        for table_name, meter in self.direct_meters:
            msg = info.direct_meters.add()
            self._preamble(msg.preamble, "direct_meter", meter.name, meter.annotations)
            msg.spec.unit = p4i.MeterSpec.Unit.Value(meter.unit)
            msg.direct_table_id = self.id("table", table_name)
        for header in schema.controller_headers:
            msg = info.controller_packet_metadata.add()
            annotations = list(header.annotations)
            if not any(_annotation_name(a) == "controller_header" for a in annotations):
                annotations.insert(0, f'@controller_header("{header.name}")')
            pre = msg.preamble
            pre.id = self.id("controller_header", header.type_name or header.name)
            pre.name = pre.alias = header.name
            pre.annotations.extend(_copied(annotations))
            _document(pre, annotations)
            type_names = header.metadata_type_names or (None,) * len(header.metadata)
            for (field_id, field_name, bitwidth), type_name in zip(
                    header.metadata, type_names, strict=True):
                self.type_name(msg.metadata.add(id=field_id, name=field_name), type_name,
                               bitwidth)
        for value_set in schema.value_sets:
            msg = info.value_sets.add(size=value_set.size)
            self._preamble(msg.preamble, "value_set", value_set.name, ())
            self._match_fields(msg.match, value_set.match_fields)
        for register in schema.registers:
            msg = info.registers.add(size=register.size)
            self._preamble(msg.preamble, "register", register.name, register.annotations)
            if register.signed:
                msg.type_spec.bitstring.int.bitwidth = register.bitwidth
            else:
                msg.type_spec.bitstring.bit.bitwidth = register.bitwidth
        for digest in schema.digests:
            shown = digest.p4info_name or digest.name
            if self.id("digest", shown) in {d.preamble.id for d in info.digests}:
                continue
            msg = info.digests.add()
            self._preamble(msg.preamble, "digest", shown, ())
            msg.type_spec.struct.name = digest.name
            struct = info.type_info.structs[digest.name]
            for member in digest.members:
                m = struct.members.add(name=member.name)
                if member.new_type is not None:
                    m.type_spec.new_type.name = member.new_type
                    self.new_types_used.add(member.new_type)
                elif member.enum is not None:
                    m.type_spec.serializable_enum.name = member.enum
                elif member.varbit:
                    m.type_spec.bitstring.varbit.max_bitwidth = member.bitwidth
                else:
                    m.type_spec.bitstring.bit.bitwidth = member.bitwidth
        for name, (width, members) in schema.serializable_enums.items():
            enum = info.type_info.serializable_enums[name]
            enum.underlying_type.bitwidth = width
            for member_name, value in members:
                raw = (value & ((1 << width) - 1)).to_bytes((width + 7) // 8, "big")
                enum.members.add(name=member_name, value=raw)
        for name in sorted(self.new_types_used):
            new_type = schema.new_types[name]
            spec = info.type_info.new_types[name]
            if new_type.uri is None:
                spec.original_type.bitstring.bit.bitwidth = new_type.bitwidth
            else:
                spec.translated_type.uri = new_type.uri
                if new_type.translated_bitwidth is not None:
                    spec.translated_type.sdn_bitwidth = new_type.translated_bitwidth
                else:
                    spec.translated_type.sdn_string.SetInParent()
        if schema.has_type_info or schema.tables or schema.counters or schema.meters or \
                schema.registers or schema.action_profiles:
            info.type_info.SetInParent()  # p4c writes it, empty if need be
        return info

    def _table(self, msg: p4i.Table, table: TableInfo) -> None:
        self._preamble(msg.preamble, "table", table.name, table.annotations)
        self._match_fields(msg.match_fields, table.match_fields)
        for ref in table.action_refs:
            annotations = list(ref.annotations)
            marker = {"DEFAULT_ONLY": "defaultonly", "TABLE_ONLY": "tableonly"}.get(ref.scope)
            if marker and not any(_annotation_name(a) == marker for a in annotations):
                annotations.insert(0, f"@{marker}")
            r = msg.action_refs.add(id=self.id("action", ref.action))
            r.scope = p4i.ActionRef.Scope.Value(ref.scope)
            r.annotations.extend(_copied(annotations))
        if table.const_default_action:
            msg.const_default_action_id = self.id("action", table.const_default_action)
        if table.default_action:
            initial = msg.initial_default_action
            initial.action_id = self.id("action", table.default_action)
            widths = [p.bitwidth for a in self.schema.actions if a.name == table.default_action
                      for p in a.params]
            for i, (value, width) in enumerate(zip(table.default_action_args, widths,
                                                   strict=False), 1):
                initial.arguments.add(param_id=i, value=value.to_bytes((width + 7) // 8, "big"))
        if table.implementation:
            msg.implementation_id = self.id("action_profile", table.implementation)
        if table.direct_counter:
            msg.direct_resource_ids.append(self.id("direct_counter", table.direct_counter))
        if table.direct_meter:
            msg.direct_resource_ids.append(self.id("direct_meter", table.direct_meter))
        msg.size = table.size
        if table.idle_timeout:
            msg.idle_timeout_behavior = p4i.Table.NOTIFY_CONTROL
        msg.is_const_table = table.is_const_table
        msg.has_initial_entries = table.has_initial_entries

    def _match_fields(self, out: Any, fields: Sequence[MatchFieldInfo]) -> None:
        for i, field in enumerate(fields, 1):
            if field.match_type in _HIDDEN_MATCH_KINDS:
                continue
            f = out.add(id=i, name=field.name)
            self.type_name(f, field.type_name, field.bitwidth)
            f.annotations.extend(_copied(field.annotations))
            _document(f, field.annotations)
            if field.match_type in _MATCH_TYPES:
                f.match_type = _MATCH_TYPES[field.match_type]
            else:
                f.other_match_type = field.match_type

    def _preamble(
        self, pre: p4i.Preamble, kind: str, name: str, annotations: Iterable[str]
    ) -> None:
        cp_name = control_plane_name(name)
        pre.id = self.id(kind, cp_name)
        pre.name = cp_name
        pre.alias = self.aliases.alias(cp_name)
        annotations = list(annotations)
        pre.annotations.extend(_copied(annotations))
        _document(pre, annotations)


def _hidden(annotations: Iterable[str]) -> bool:
    return any(_annotation_name(a) == "hidden" for a in annotations)


def _annotation_name(annotation: str) -> str:
    m = _ANNOTATION_NAME.match(annotation.strip())
    return m.group(1) if m else ""


def _copied(annotations: Iterable[str]) -> list[str]:
    return [a for a in annotations if _annotation_name(a) not in _NOT_COPIED]


def _string_argument(annotation: str) -> str:
    body = annotation[annotation.find("(") + 1 : annotation.rfind(")")].strip()
    if len(body) >= 2 and body[0] == body[-1] == '"':
        body = body[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _document(msg: Any, annotations: Iterable[str]) -> None:
    """`@brief` / `@description` fill the `doc` field, as p4c does."""
    for annotation in annotations:
        name = _annotation_name(annotation)
        if name == "brief":
            msg.doc.brief = _string_argument(annotation)
        elif name == "description":
            msg.doc.description = _string_argument(annotation)
