"""P4Runtime TableEntry messages <-> runtime table entries.

Validation follows the P4Runtime spec's rules for a table entry: every exact
field present, don't-care fields omitted (a zero ternary mask, a /0 prefix
or a full range is not canonical and is refused), no value bits outside a
mask or prefix, a priority exactly when the table has ternary, range or
optional keys, and an action the table allows. Each error names the table
and the field so a controller author can find the culprit in a batch.
"""

from __future__ import annotations

from collections.abc import Callable

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
from p4sim.server.p4info_index import MatchFieldRef, P4InfoIndex, TableRef

Matches = tuple[FieldMatch | None, ...]
IndirectDecoder = Callable[[p4r.TableAction], ActionCall]


def _bad(message: str) -> ControlPlaneError:
    return ControlPlaneError("INVALID_ARGUMENT", message)


def decode_matches(msg: p4r.TableEntry, ref: TableRef) -> Matches:
    """The runtime key of `msg`, one slot per key field in key order.

    This runs once per written entry, so the common exact case is inlined
    and error messages are only built when there is an error."""
    matches: list[FieldMatch | None] = [None] * len(ref.ordered)
    fields = ref.fields
    seen = 0  # bit i: key position i given
    for fm in msg.match:
        field = fields.get(fm.field_id)
        if field is None:
            raise _bad(f"table {ref.name}: unknown match field id {fm.field_id}")
        bit = 1 << field.position
        if seen & bit:
            raise _bad(f"table {ref.name}: match field {field.name} given twice")
        seen |= bit
        kind = fm.WhichOneof("field_match_type")
        if kind == "exact" and field.kind == "exact":
            raw = fm.exact.value
            number = int.from_bytes(raw, "big")
            if not raw or number >> field.bitwidth:
                decode(raw, field.bitwidth, _field_what(ref, field))  # raises the precise error
            matches[field.position] = Exact(number)
        else:
            matches[field.position] = _decode_other(fm, kind, ref, field)
    if seen != (1 << len(matches)) - 1:
        for field in ref.ordered:
            if field.kind == "exact" and matches[field.position] is None:
                raise _bad(f"table {ref.name}: exact match field {field.name} missing")
    return tuple(matches)


def _field_what(ref: TableRef, field: MatchFieldRef) -> str:
    return f"table {ref.name}: match field {field.name}"


def _decode_other(
    fm: p4r.FieldMatch, kind: str | None, ref: TableRef, field: MatchFieldRef
) -> FieldMatch:
    what = _field_what(ref, field)
    if kind != field.kind:
        raise _bad(f"{what} is a {field.kind} match, got {kind}")
    width = field.bitwidth
    if kind == "lpm":
        value = decode(fm.lpm.value, width, what)
        plen = fm.lpm.prefix_len
        if not 0 < plen <= width:
            raise _bad(f"{what}: prefix length {plen} outside 1..{width} (omit the field for /0)")
        if value & ((1 << (width - plen)) - 1):
            raise _bad(f"{what}: value has bits set beyond the /{plen} prefix")
        return Lpm(value, plen)
    if kind == "ternary":
        value = decode(fm.ternary.value, width, what)
        mask = decode(fm.ternary.mask, width, what + " mask")
        if mask == 0:
            raise _bad(f"{what}: zero mask (omit the field for don't care)")
        if value & ~mask:
            raise _bad(f"{what}: value has bits set outside the mask")
        return Ternary(value, mask)
    if kind == "range":
        low = decode(fm.range.low, width, what + " low")
        high = decode(fm.range.high, width, what + " high")
        if low > high:
            raise _bad(f"{what}: range low {low} above high {high}")
        if low == 0 and high == (1 << width) - 1:
            raise _bad(f"{what}: full range (omit the field for don't care)")
        return RangeMatch(low, high)
    if kind == "optional":
        return OptionalMatch(decode(fm.optional.value, width, what))
    raise ControlPlaneError("UNIMPLEMENTED", f"{what}: match kind {kind} not supported")


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


def decode_action(action: p4r.Action, index: P4InfoIndex, where: str) -> ActionCall:
    """The runtime call of `action`; `where` names its owner in errors
    ("table X", "action profile Y")."""
    ref = index.actions.get(action.action_id)
    if ref is None:
        raise _bad(f"{where}: unknown action id {action.action_id}")
    args = [0] * len(ref.ordered)
    params = ref.params
    seen = 0
    for param in action.params:
        pref = params.get(param.param_id)
        if pref is None:
            raise _bad(f"{where}: action {ref.name}: unknown param id {param.param_id}")
        bit = 1 << pref.position
        if seen & bit:
            raise _bad(f"{where}: action {ref.name}: param {pref.name} given twice")
        seen |= bit
        raw = param.value
        number = int.from_bytes(raw, "big")
        if not raw or number >> pref.bitwidth:
            decode(raw, pref.bitwidth, f"{where}: param {pref.name}")  # raises
        args[pref.position] = number
    if seen != (1 << len(args)) - 1:
        missing = [p.name for p in ref.ordered if not seen & (1 << p.position)]
        raise _bad(f"{where}: action {ref.name}: missing params {', '.join(missing)}")
    return ActionCall(ref.name, tuple(args))


def decode_table_action(
    msg: p4r.TableEntry, ref: TableRef, index: P4InfoIndex, indirect: IndirectDecoder | None = None
) -> ActionCall:
    """The runtime action of an entry; an indirect table's member, group or
    one-shot action set goes to `indirect` (the server's action profiles)."""
    table_action = msg.action
    kind = table_action.WhichOneof("type")
    if kind is None:
        raise _bad(f"table {ref.name}: action missing")
    if kind != "action":
        if not ref.implementation_id:
            raise _bad(f"table {ref.name}: {kind} given but the table has no action profile")
        if indirect is None:
            raise ControlPlaneError(
                "UNIMPLEMENTED", f"table {ref.name}: {kind} is not supported here"
            )
        return indirect(table_action)
    if ref.implementation_id:
        raise _bad(
            f"table {ref.name} has an action profile: its entries give a member id, "
            "a group id or an action set, not an action"
        )
    action = table_action.action
    allowed = ref.default_actions if msg.is_default_action else ref.entry_actions
    if action.action_id not in allowed:
        name = index.actions.get(action.action_id)
        shown = name.name if name else f"id {action.action_id}"
        role = "default action" if msg.is_default_action else "entry action"
        raise _bad(f"table {ref.name}: action {shown} is not allowed as {role}")
    return decode_action(action, index, f"table {ref.name}")


def decode_entry(
    msg: p4r.TableEntry, ref: TableRef, index: P4InfoIndex, indirect: IndirectDecoder | None = None
) -> TableEntry:
    """A complete runtime entry for INSERT or MODIFY."""
    matches = decode_matches(msg, ref)
    priority = check_priority(msg, ref)
    action = decode_table_action(msg, ref, index, indirect)
    timeout = msg.idle_timeout_ns
    if timeout < 0:
        raise _bad(f"table {ref.name}: negative idle_timeout_ns")
    if timeout and not ref.supports_timeout:
        raise _bad(f"table {ref.name}: idle_timeout_ns set but the table has no support_timeout")
    if msg.HasField("counter_data") and not ref.direct_counter_id:
        raise _bad(f"table {ref.name}: counter_data set but the table has no direct counter")
    if msg.HasField("meter_config") and not ref.direct_meter_id:
        raise _bad(f"table {ref.name}: meter_config set but the table has no direct meter")
    if msg.HasField("meter_counter_data"):
        raise ControlPlaneError(
            "UNIMPLEMENTED", f"table {ref.name}: per-color meter counters are not supported"
        )
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
