"""ValueSetEntry <-> parser value sets.

A P4Runtime MODIFY replaces the whole member list of a `value_set`; reads
return it. The runtime keeps each member as one (value, mask) pair per
field, so exact fields carry a full mask, lpm fields a prefix mask and a
ternary field left out of a member is a zero mask (don't care).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from finsy.proto import p4i, p4r

from p4sim.errors import ControlPlaneError
from p4sim.runtime.support import ValueSet
from p4sim.server.codec import decode, encode

Member = tuple[tuple[int, int], ...]
_KINDS = {
    p4i.MatchField.EXACT: "exact",
    p4i.MatchField.LPM: "lpm",
    p4i.MatchField.TERNARY: "ternary",
    p4i.MatchField.RANGE: "range",
    p4i.MatchField.OPTIONAL: "optional",
}


def _bad(message: str) -> ControlPlaneError:
    return ControlPlaneError("INVALID_ARGUMENT", message)


def _fields(info: p4i.ValueSet) -> list[tuple[int, str, int]]:
    """(id, kind, bitwidth) per field, in member order."""
    return [(f.id, _KINDS.get(f.match_type, "unsupported"), f.bitwidth) for f in info.match]


def _member(msg: p4r.ValueSetMember, info: p4i.ValueSet) -> Member:
    name = info.preamble.name
    fields = _fields(info)
    position = {fid: i for i, (fid, _, _) in enumerate(fields)}
    pairs: list[tuple[int, int] | None] = [None] * len(fields)
    for fm in msg.match:
        i = position.get(fm.field_id)
        if i is None:
            raise _bad(f"value_set {name}: unknown match field id {fm.field_id}")
        if pairs[i] is not None:
            raise _bad(f"value_set {name}: match field {fm.field_id} given twice")
        _, kind, width = fields[i]
        what = f"value_set {name}: field {fm.field_id}"
        full = (1 << width) - 1
        given = fm.WhichOneof("field_match_type")
        if given != kind:
            raise _bad(f"{what} is a {kind} match, got {given}")
        if kind in ("exact", "optional"):
            value = decode(fm.exact.value if kind == "exact" else fm.optional.value, width, what)
            pairs[i] = (value, full)
        elif kind == "ternary":
            value = decode(fm.ternary.value, width, what)
            mask = decode(fm.ternary.mask, width, what + " mask")
            if value & ~mask:
                raise _bad(f"{what}: value has bits set outside the mask")
            pairs[i] = (value, mask)
        elif kind == "lpm":
            value = decode(fm.lpm.value, width, what)
            plen = fm.lpm.prefix_len
            if not 0 < plen <= width:
                raise _bad(f"{what}: prefix length {plen} outside 1..{width}")
            mask = full ^ ((1 << (width - plen)) - 1)
            if value & ~mask:
                raise _bad(f"{what}: value has bits set beyond the /{plen} prefix")
            pairs[i] = (value, mask)
        else:
            raise ControlPlaneError("UNIMPLEMENTED", f"{what}: {kind} matches in value sets")
    for i, (_, kind, _) in enumerate(fields):
        if pairs[i] is None:
            if kind == "exact":
                raise _bad(f"value_set {name}: exact field {fields[i][0]} missing")
            pairs[i] = (0, 0)
    return tuple(p for p in pairs if p is not None)


def write_value_set(
    value_set: ValueSet, info: p4i.ValueSet, msg: p4r.ValueSetEntry
) -> Callable[[], None]:
    """Replace the members; returns the inverse. All members are checked
    before the set changes."""
    members = [_member(m, info) for m in msg.members]
    before = list(value_set.members)

    def replace(new: list[Member]) -> None:
        value_set.clear()
        for member in new:
            value_set.add(member)

    try:
        replace(members)
    except ControlPlaneError:
        replace(before)
        raise
    return lambda: replace(before)


def read_value_set(value_set: ValueSet, info: p4i.ValueSet) -> Iterator[p4r.Entity]:
    fields = _fields(info)
    out = p4r.Entity()
    entry = out.value_set_entry
    entry.value_set_id = info.preamble.id
    for member in value_set.members:
        msg = entry.members.add()
        for (fid, kind, width), (value, mask) in zip(fields, member, strict=True):
            if mask == 0:
                continue
            fm = msg.match.add(field_id=fid)
            if kind == "exact":
                fm.exact.value = encode(value)
            elif kind == "optional":
                fm.optional.value = encode(value)
            elif kind == "ternary":
                fm.ternary.value = encode(value)
                fm.ternary.mask = encode(mask)
            else:
                fm.lpm.value = encode(value)
                fm.lpm.prefix_len = width - ((1 << width) - 1 ^ mask).bit_length()
    yield out
