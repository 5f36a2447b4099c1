"""P4Runtime TableEntry messages <-> runtime table entries.

Validation follows the P4Runtime spec's rules for a table entry: every exact
field present, don't-care fields omitted (a zero ternary mask, a /0 prefix
or a full range is not canonical and is refused), no value bits outside a
mask or prefix, a priority exactly when the table has ternary, range or
optional keys, and an action the table allows. Each error names the table
and the field so a controller author can find the culprit in a batch.
"""

from __future__ import annotations

from finsy.proto import p4r

from p4sim.errors import ControlPlaneError
from p4sim.runtime.tables import (
    ActionCall,
    Exact,
    FieldMatch,
    Lpm,
    OptionalMatch,
    RangeMatch,
    TableEntry,
    Ternary,
)
from p4sim.server.codec import decode, encode
from p4sim.server.p4info_index import P4InfoIndex, TableRef

Matches = tuple[FieldMatch | None, ...]


def _bad(message: str) -> ControlPlaneError:
    return ControlPlaneError("INVALID_ARGUMENT", message)


def decode_matches(msg: p4r.TableEntry, ref: TableRef) -> Matches:
    """The runtime key of `msg`, one slot per key field in key order."""
    matches: list[FieldMatch | None] = [None] * len(ref.ordered)
    seen: set[int] = set()
    for fm in msg.match:
        field = ref.fields.get(fm.field_id)
        if field is None:
            raise _bad(f"table {ref.name}: unknown match field id {fm.field_id}")
        if fm.field_id in seen:
            raise _bad(f"table {ref.name}: match field {field.name} given twice")
        seen.add(fm.field_id)
        kind = fm.WhichOneof("field_match_type")
        what = f"table {ref.name}: match field {field.name}"
        if kind != field.kind:
            raise _bad(f"{what} is a {field.kind} match, got {kind}")
        width = field.bitwidth
        if kind == "exact":
            matches[field.position] = Exact(decode(fm.exact.value, width, what))
        elif kind == "lpm":
            value = decode(fm.lpm.value, width, what)
            plen = fm.lpm.prefix_len
            if not 0 < plen <= width:
                raise _bad(
                    f"{what}: prefix length {plen} outside 1..{width} (omit the field for /0)"
                )
            if value & ((1 << (width - plen)) - 1):
                raise _bad(f"{what}: value has bits set beyond the /{plen} prefix")
            matches[field.position] = Lpm(value, plen)
        elif kind == "ternary":
            value = decode(fm.ternary.value, width, what)
            mask = decode(fm.ternary.mask, width, what + " mask")
            if mask == 0:
                raise _bad(f"{what}: zero mask (omit the field for don't care)")
            if value & ~mask:
                raise _bad(f"{what}: value has bits set outside the mask")
            matches[field.position] = Ternary(value, mask)
        elif kind == "range":
            low = decode(fm.range.low, width, what + " low")
            high = decode(fm.range.high, width, what + " high")
            if low > high:
                raise _bad(f"{what}: range low {low} above high {high}")
            if low == 0 and high == (1 << width) - 1:
                raise _bad(f"{what}: full range (omit the field for don't care)")
            matches[field.position] = RangeMatch(low, high)
        elif kind == "optional":
            matches[field.position] = OptionalMatch(decode(fm.optional.value, width, what))
        else:
            raise ControlPlaneError("UNIMPLEMENTED", f"{what}: match kind {kind} not supported")
    for field in ref.ordered:
        if field.kind == "exact" and matches[field.position] is None:
            raise _bad(f"table {ref.name}: exact match field {field.name} missing")
    return tuple(matches)


def check_priority(msg: p4r.TableEntry, ref: TableRef) -> int:
    priority = msg.priority
    if ref.needs_priority:
        if priority <= 0:
            raise _bad(
                f"table {ref.name}: entries need a priority > 0 (ternary/range/optional key)"
            )
    elif priority != 0:
        raise _bad(f"table {ref.name}: priority {priority} given but the table takes none")
    return priority


def decode_action(action: p4r.Action, index: P4InfoIndex, what: str) -> ActionCall:
    ref = index.actions.get(action.action_id)
    if ref is None:
        raise _bad(f"{what}: unknown action id {action.action_id}")
    args = [0] * len(ref.ordered)
    seen: set[int] = set()
    for param in action.params:
        pref = ref.params.get(param.param_id)
        if pref is None:
            raise _bad(f"{what}: action {ref.name}: unknown param id {param.param_id}")
        if param.param_id in seen:
            raise _bad(f"{what}: action {ref.name}: param {pref.name} given twice")
        seen.add(param.param_id)
        args[pref.position] = decode(param.value, pref.bitwidth, f"{what}: param {pref.name}")
    if len(seen) != len(ref.ordered):
        missing = [p.name for p in ref.ordered if p.id not in seen]
        raise _bad(f"{what}: action {ref.name}: missing params {', '.join(missing)}")
    return ActionCall(ref.name, tuple(args))


def decode_table_action(msg: p4r.TableEntry, ref: TableRef, index: P4InfoIndex) -> ActionCall:
    what = f"table {ref.name}"
    kind = msg.action.WhichOneof("type")
    if kind is None:
        raise _bad(f"{what}: action missing")
    if kind != "action":
        if ref.implementation_id:
            raise ControlPlaneError("UNIMPLEMENTED", f"{what}: action profiles are not supported")
        raise _bad(f"{what}: {kind} given but the table has no action profile")
    allowed = ref.default_actions if msg.is_default_action else ref.entry_actions
    if msg.action.action.action_id not in allowed:
        name = index.actions.get(msg.action.action.action_id)
        shown = name.name if name else f"id {msg.action.action.action_id}"
        role = "default action" if msg.is_default_action else "entry action"
        raise _bad(f"{what}: action {shown} is not allowed as {role}")
    return decode_action(msg.action.action, index, what)


def decode_entry(msg: p4r.TableEntry, ref: TableRef, index: P4InfoIndex) -> TableEntry:
    """A complete runtime entry for INSERT or MODIFY."""
    matches = decode_matches(msg, ref)
    priority = check_priority(msg, ref)
    action = decode_table_action(msg, ref, index)
    timeout = msg.idle_timeout_ns
    if timeout < 0:
        raise _bad(f"table {ref.name}: negative idle_timeout_ns")
    if timeout and not ref.supports_timeout:
        raise _bad(f"table {ref.name}: idle_timeout_ns set but the table has no support_timeout")
    if msg.HasField("counter_data") and not ref.direct_counter_id:
        raise _bad(f"table {ref.name}: counter_data set but the table has no direct counter")
    if msg.HasField("meter_config") and not ref.direct_meter_id:
        raise _bad(f"table {ref.name}: meter_config set but the table has no direct meter")
    if msg.controller_metadata:
        raise ControlPlaneError(
            "UNIMPLEMENTED", f"table {ref.name}: controller_metadata is deprecated, use metadata"
        )
    return TableEntry(
        matches=matches,
        action=action,
        priority=priority,
        idle_timeout_ns=timeout,
        metadata=bytes(msg.metadata),
    )


def encode_matches(matches: Matches, ref: TableRef, out: p4r.TableEntry) -> None:
    for field in ref.ordered:
        match = matches[field.position]
        if match is None:
            continue
        fm = out.match.add(field_id=field.id)
        if isinstance(match, Exact):
            fm.exact.value = encode(match.value)
        elif isinstance(match, Lpm):
            if match.prefix_len == 0:
                out.match.pop()
                continue
            fm.lpm.value = encode(match.value)
            fm.lpm.prefix_len = match.prefix_len
        elif isinstance(match, Ternary):
            if match.mask == 0:
                out.match.pop()
                continue
            fm.ternary.value = encode(match.value)
            fm.ternary.mask = encode(match.mask)
        elif isinstance(match, RangeMatch):
            fm.range.low = encode(match.low)
            fm.range.high = encode(match.high)
        else:
            fm.optional.value = encode(match.value)


def encode_action(call: ActionCall, index: P4InfoIndex, out: p4r.Action) -> None:
    ref = index.action_by_name(call.action)
    out.action_id = ref.id
    for pref in ref.ordered:
        out.params.add(param_id=pref.id, value=encode(call.args[pref.position]))
