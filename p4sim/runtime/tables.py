"""Match tables: the control-plane entry store and the per-packet lookup.

A table picks one of three indexes from its key kinds, so that the hot path
(`MatchTable.lookup`, run once per packet per table) does as little Python work
as possible:

- exact keys only: one dict keyed by the key value (an int for one key, the
  value tuple for several), so a lookup is a single dict probe;
- one lpm key (plus exact keys): a dict per prefix length, probed from the
  longest present prefix down; the first hit is the longest match, so lpm
  tables take no priority;
- anything else (ternary, range, optional, several lpm keys): tuple-space
  search. Entries are grouped by their mask tuple; each group is a dict from
  masked key to the entries sharing it (highest priority first), and groups are
  probed in order of their best priority, stopping as soon as no remaining group
  can beat the best match found. Range keys are checked by a scan within the
  candidates a probe returns.

Entries must be canonical, as P4Runtime requires (no value bits outside a
ternary mask or beyond an lpm prefix); a "don't care" field is `None`, and the
equivalent explicit forms (lpm prefix 0, ternary mask 0, a range covering the
whole field) name the same entry.

`insert` takes ownership of the `TableEntry`: the stored object is the one
`lookup` returns, so the data plane updates its counters in place.
"""

from __future__ import annotations

import builtins
import heapq
import sys
from bisect import insort
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import and_
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeAlias

from p4sim.errors import ControlPlaneError, UnsupportedError
from p4sim.runtime.meters import TwoRateThreeColor


@dataclass(frozen=True, slots=True)
class Exact:
    value: int


@dataclass(frozen=True, slots=True)
class Lpm:
    value: int
    prefix_len: int


@dataclass(frozen=True, slots=True)
class Ternary:
    value: int
    mask: int


@dataclass(frozen=True, slots=True)
class RangeMatch:
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class OptionalMatch:
    value: int


FieldMatch: TypeAlias = Exact | Lpm | Ternary | RangeMatch | OptionalMatch
Matches: TypeAlias = tuple[FieldMatch | None, ...]

MATCH_KINDS = ("exact", "lpm", "ternary", "range", "optional")
MAX_PRIORITY = 2**31 - 1  # P4Runtime's priority is an int32


@dataclass(frozen=True, slots=True)
class KeySpec:
    name: str
    match_kind: str
    width: int


@dataclass(frozen=True, slots=True)
class ActionCall:
    action: str
    args: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """What a table knows about one of its actions, to validate entries:
    parameter widths in order, and the P4Info scope ("TABLE_AND_DEFAULT",
    "TABLE_ONLY" for `@tableonly`, "DEFAULT_ONLY" for `@defaultonly`)."""

    param_widths: tuple[int, ...] = ()
    scope: str = "TABLE_AND_DEFAULT"


class _Extras(NamedTuple):
    """The attributes most entries leave at their defaults, kept out of line
    so that a plain entry does not pay a slot for each."""

    idle_timeout_ns: int = 0
    metadata: bytes = b""
    is_const: bool = False
    meter: TwoRateThreeColor | None = None


_NO_EXTRAS = _Extras()


class _EntryStorage:
    """How a `TableEntry` stores its match, action and rarely set attributes.

    Memory per entry is what limits a large exact table, so:
    - an exact table keeps only its dict key in `_match` once the entry is
      inserted (the int, or the tuple of ints for several keys) instead of a
      tuple of `Exact` objects; `matches` rebuilds that tuple when asked,
      which only the control plane does;
    - the action is kept as `action_name` (interned) and `action_args`, which
      the generated pipeline reads directly; `action` builds the
      `ActionCall` on demand;
    - `_extras` is None while idle timeout, metadata, const flag and direct
      meter have their defaults.
    """

    __slots__ = ("_extras", "_match", "action_args", "action_name")
    _match: Any
    _extras: _Extras | None
    action_name: str
    action_args: tuple[int, ...]

    @property
    def matches(self) -> Matches:
        m = self._match
        if isinstance(m, int):
            return (Exact(m),)
        if m and isinstance(m[0], int):
            return tuple([Exact(v) for v in m])
        return m  # type: ignore[no-any-return]

    @matches.setter
    def matches(self, value: Matches) -> None:
        self._match = value

    @property
    def action(self) -> ActionCall:
        return ActionCall(self.action_name, self.action_args)

    @action.setter
    def action(self, call: ActionCall) -> None:
        # Entries built from parsed text (STF, P4Runtime names) would
        # otherwise each hold their own copy of the name.
        self.action_name = sys.intern(call.action)
        self.action_args = call.args

    @property
    def idle_timeout_ns(self) -> int:
        return (self._extras or _NO_EXTRAS).idle_timeout_ns

    @idle_timeout_ns.setter
    def idle_timeout_ns(self, value: int) -> None:
        self._update_extras(idle_timeout_ns=value)

    @property
    def metadata(self) -> bytes:
        return (self._extras or _NO_EXTRAS).metadata

    @metadata.setter
    def metadata(self, value: bytes) -> None:
        self._update_extras(metadata=value)

    @property
    def is_const(self) -> bool:
        return (self._extras or _NO_EXTRAS).is_const

    @is_const.setter
    def is_const(self, value: bool) -> None:
        self._update_extras(is_const=value)

    @property
    def meter(self) -> TwoRateThreeColor | None:
        return (self._extras or _NO_EXTRAS).meter

    @meter.setter
    def meter(self, value: TwoRateThreeColor | None) -> None:
        self._update_extras(meter=value)

    def _update_extras(self, **changes: Any) -> None:
        extras = (self._extras or _NO_EXTRAS)._replace(**changes)
        self._extras = None if extras == _NO_EXTRAS else extras


@dataclass(init=False)
class TableEntry(_EntryStorage):
    """One table entry: a dataclass for its fields, equality and
    `dataclasses.replace`, stored as `_EntryStorage` describes."""

    __slots__ = ("bytes", "last_hit_ns", "packets", "priority")
    # The fields in the contract's order. Those under `not TYPE_CHECKING` are
    # properties of `_EntryStorage`: dataclass must see them, mypy must not
    # take them for slots.
    if not TYPE_CHECKING:
        matches: Matches
        action: ActionCall
    priority: int
    if not TYPE_CHECKING:
        idle_timeout_ns: int
        metadata: builtins.bytes
        is_const: bool
    packets: int
    bytes: int
    last_hit_ns: int
    if not TYPE_CHECKING:
        meter: TwoRateThreeColor | None

    def __init__(
        self,
        matches: Matches,
        action: ActionCall,
        priority: int = 0,
        idle_timeout_ns: int = 0,
        metadata: builtins.bytes = b"",
        is_const: bool = False,
        packets: int = 0,
        bytes: int = 0,
        last_hit_ns: int = 0,
        meter: TwoRateThreeColor | None = None,
    ) -> None:
        self._match = matches
        self.action = action
        self.priority = priority
        if idle_timeout_ns or metadata or is_const or meter is not None:
            self._extras = _Extras(idle_timeout_ns, metadata, is_const, meter)
        else:
            self._extras = None
        self.packets = packets
        self.bytes = bytes
        self.last_hit_ns = last_hit_ns


# A canonical entry key as each index understands it (see _Canonical below).
_Key: TypeAlias = Any


class MatchTable:
    """One P4 table's entries, default action and lookup.

    `actions` (optional) lets the table reject entries that name an action the
    table does not list, pass the wrong number of arguments, pass an argument
    wider than its parameter, or break the action's scope. `is_const_table`
    marks a table whose entries come from `const entries`: only entries
    flagged `is_const` may be inserted, and none may be modified or deleted.
    """

    lookup: Callable[[tuple[int, ...]], TableEntry | None]
    """Hot path: the entry matching `values` (one int per key, in key order,
    each already within its key's width), or None on a miss."""
    lookup_one: Callable[[int], TableEntry | None]
    """`lookup((value,))` for a table with one key, without the tuple (for
    an exact key, the dict's own `get`)."""

    def __init__(
        self,
        name: str,
        keys: Sequence[KeySpec],
        size: int,
        default_action: ActionCall,
        default_is_const: bool = False,
        *,
        actions: Mapping[str, ActionSpec] | None = None,
        is_const_table: bool = False,
    ) -> None:
        self.name = name
        self.keys = tuple(keys)
        self.size = size
        self.actions = dict(actions) if actions is not None else None
        self.is_const_table = is_const_table
        for spec in self.keys:
            if spec.match_kind not in MATCH_KINDS:
                raise UnsupportedError(
                    None, f"match kind '{spec.match_kind}' of key {spec.name} in table {name}"
                )
        self._canonical = _Canonical(name, self.keys)
        self._index = _make_index(self.keys)
        self.needs_priority = isinstance(self._index, _PriorityIndex)
        self._exact_limits: tuple[int, ...] = ()
        if isinstance(self._index, _ExactIndex):
            self._exact_limits = tuple((1 << k.width) - 1 for k in self.keys)
        self.lookup = self._index.lookup
        self.lookup_one = self._index.lookup_one
        self._check_action(default_action, default=True)
        self.default = TableEntry(matches=(), action=default_action, is_const=default_is_const)

    def __len__(self) -> int:
        return self._index.count

    def insert(self, entry: TableEntry) -> None:
        if self.is_const_table and not entry.is_const:
            raise ControlPlaneError(
                "FAILED_PRECONDITION", f"table {self.name} is const: its entries cannot change"
            )
        key = self._key(entry.matches, entry.priority)
        self._check_action(entry.action, default=False)
        if self._index.find(key) is not None:
            raise ControlPlaneError(
                "ALREADY_EXISTS", f"table {self.name}: an entry with this match key exists"
            )
        if 0 < self.size <= self._index.count:
            raise ControlPlaneError(
                "RESOURCE_EXHAUSTED", f"table {self.name} is full ({self.size} entries)"
            )
        self._index.add(key, entry)

    def modify(self, entry: TableEntry) -> TableEntry:
        """Give the stored entry with `entry`'s key the new action, timeout,
        metadata and (when given: non-None meter, non-zero counters) runtime
        state; the stored object stays the same so the pipeline sees it."""
        stored = self._existing(entry.matches, entry.priority)
        self._check_action(entry.action, default=False)
        stored.action = entry.action
        stored.idle_timeout_ns = entry.idle_timeout_ns
        stored.metadata = entry.metadata
        if entry.meter is not None:
            stored.meter = entry.meter
        if entry.packets or entry.bytes:
            stored.packets = entry.packets
            stored.bytes = entry.bytes
        return stored

    def delete(self, matches: Matches, priority: int = 0) -> TableEntry:
        stored = self._existing(matches, priority)
        self._index.remove(self._key(matches, priority), stored)
        return stored

    def get(self, matches: Matches, priority: int = 0) -> TableEntry | None:
        return self._index.find(self._key(matches, priority))

    def entries(self) -> Iterator[TableEntry]:
        return self._index.entries()

    def set_default(self, action: ActionCall) -> None:
        if self.default.is_const:
            raise ControlPlaneError(
                "FAILED_PRECONDITION", f"table {self.name}: the default action is const"
            )
        self._check_action(action, default=True)
        self.default.action = action

    def clear(self) -> None:
        """Remove every entry the control plane added; const entries and the
        default action stay."""
        for entry in [e for e in self._index.entries() if not e.is_const]:
            self._index.remove(self._key(entry.matches, entry.priority), entry)

    def _existing(self, matches: Matches, priority: int) -> TableEntry:
        stored = self._index.find(self._key(matches, priority))
        if stored is None:
            raise ControlPlaneError("NOT_FOUND", f"table {self.name}: no entry with this match key")
        if stored.is_const:
            raise ControlPlaneError("FAILED_PRECONDITION", f"table {self.name}: the entry is const")
        return stored

    def _key(self, matches: Matches, priority: int) -> _Key:
        if self._exact_limits and not priority and len(matches) == len(self._exact_limits):
            # Fast path for exact tables (bulk loads): well-formed entries
            # skip the general canonicalisation; anything else takes it and
            # gets its precise error there.
            values = []
            for m, full in zip(matches, self._exact_limits, strict=True):
                if type(m) is not Exact or not 0 <= m.value <= full:
                    break
                values.append(m.value)
            else:
                return values[0] if len(values) == 1 else tuple(values)
        if self.needs_priority:
            if not 0 < priority <= MAX_PRIORITY:
                raise ControlPlaneError(
                    "INVALID_ARGUMENT",
                    f"table {self.name} needs a priority in 1..{MAX_PRIORITY}, got {priority}",
                )
        elif priority != 0:
            raise ControlPlaneError(
                "INVALID_ARGUMENT",
                f"table {self.name} has only exact/lpm keys: priority must be 0, got {priority}",
            )
        return self._index.key(self._canonical(matches), priority)

    def _check_action(self, call: ActionCall, *, default: bool) -> None:
        if self.actions is None:
            return
        spec = self.actions.get(call.action)
        where = f"table {self.name}"
        if spec is None:
            raise ControlPlaneError(
                "INVALID_ARGUMENT", f"{where}: action {call.action} is not one of its actions"
            )
        if default and spec.scope == "TABLE_ONLY":
            raise ControlPlaneError(
                "INVALID_ARGUMENT", f"{where}: action {call.action} is @tableonly"
            )
        if not default and spec.scope == "DEFAULT_ONLY":
            raise ControlPlaneError(
                "INVALID_ARGUMENT", f"{where}: action {call.action} is @defaultonly"
            )
        check_action_args(where, call, spec.param_widths)


class _Field(NamedTuple):
    """One validated field: `mask` covers the bits that must equal `value`;
    `bounds` is a (low, high) range that is not the whole field (else None)."""

    value: int
    mask: int
    prefix_len: int
    bounds: tuple[int, int] | None


class _Canonical:
    """Validates a match tuple against the table's keys and reduces it to
    masks and values, so every spelling of one entry gives one key."""

    def __init__(self, table: str, keys: tuple[KeySpec, ...]) -> None:
        self.table = table
        self.keys = keys

    def __call__(self, matches: Matches) -> tuple[_Field, ...]:
        if len(matches) != len(self.keys):
            raise ControlPlaneError(
                "INVALID_ARGUMENT",
                f"table {self.table} has {len(self.keys)} keys, got {len(matches)} matches",
            )
        return tuple([self._field(spec, m) for spec, m in zip(self.keys, matches, strict=True)])

    def _field(self, spec: KeySpec, m: FieldMatch | None) -> _Field:
        full = (1 << spec.width) - 1
        kind = spec.match_kind
        if m is None:
            if kind == "exact":
                raise self._error(spec, "an exact key cannot be omitted")
            return _Field(0, 0, 0, None)
        expected = _MATCH_TYPES[kind]
        if not isinstance(m, expected):
            raise self._error(spec, f"expected a {kind} match, got {type(m).__name__}")
        if isinstance(m, Exact | OptionalMatch):
            self._fits(spec, m.value, full)
            return _Field(m.value, full, spec.width, None)
        if isinstance(m, Lpm):
            if not 0 <= m.prefix_len <= spec.width:
                raise self._error(spec, f"prefix length {m.prefix_len} out of 0..{spec.width}")
            self._fits(spec, m.value, full)
            mask = full ^ ((1 << (spec.width - m.prefix_len)) - 1)
            if m.value & ~mask:
                raise self._error(
                    spec, f"value {m.value:#x} has bits beyond its /{m.prefix_len} prefix"
                )
            return _Field(m.value, mask, m.prefix_len, None)
        if isinstance(m, Ternary):
            self._fits(spec, m.value, full)
            self._fits(spec, m.mask, full)
            if m.value & ~m.mask:
                raise self._error(spec, f"value {m.value:#x} has bits outside its mask {m.mask:#x}")
            return _Field(m.value, m.mask, 0, None)
        self._fits(spec, m.low, full)
        self._fits(spec, m.high, full)
        if m.low > m.high:
            raise self._error(spec, f"range low {m.low:#x} is above high {m.high:#x}")
        whole = m.low == 0 and m.high == full
        return _Field(0, 0, 0, None if whole else (m.low, m.high))

    def _fits(self, spec: KeySpec, value: int, full: int) -> None:
        if not 0 <= value <= full:
            raise self._error(spec, f"value {value:#x} does not fit in {spec.width} bits")

    def _error(self, spec: KeySpec, what: str) -> ControlPlaneError:
        return ControlPlaneError(
            "INVALID_ARGUMENT", f"table {self.table}, key {spec.name} ({spec.match_kind}): {what}"
        )


_MATCH_TYPES: dict[str, type] = {
    "exact": Exact,
    "lpm": Lpm,
    "ternary": Ternary,
    "range": RangeMatch,
    "optional": OptionalMatch,
}


class _Index(Protocol):
    """The storage behind one table; `key` turns canonical fields into the
    index's own key, the other methods work on that key."""

    lookup: Callable[[tuple[int, ...]], TableEntry | None]
    lookup_one: Callable[[int], TableEntry | None]

    @property
    def count(self) -> int: ...

    def key(self, fields: tuple[_Field, ...], priority: int) -> _Key: ...

    def find(self, key: _Key) -> TableEntry | None: ...

    def add(self, key: _Key, entry: TableEntry) -> None: ...

    def remove(self, key: _Key, entry: TableEntry) -> None: ...

    def entries(self) -> Iterator[TableEntry]: ...


def _make_index(keys: tuple[KeySpec, ...]) -> _Index:
    kinds = [k.match_kind for k in keys]
    if all(k == "exact" for k in kinds):
        return _ExactIndex(len(keys))
    if kinds.count("lpm") == 1 and all(k in ("exact", "lpm") for k in kinds):
        return _LpmIndex(keys)
    return _PriorityIndex()


class _ExactIndex:
    """One dict; an entry costs a dict slot and no wrapper object. With one
    key the dict is keyed by the int itself, else by the value tuple, which
    makes the multi-key lookup the dict's own `get`."""

    lookup: Callable[[tuple[int, ...]], TableEntry | None]
    lookup_one: Callable[[int], TableEntry | None]

    def __init__(self, nkeys: int) -> None:
        self.nkeys = nkeys
        self.by_key: dict[_Key, TableEntry] = {}
        get = self.by_key.get
        if nkeys == 1:
            self.lookup = lambda values: get(values[0])
            self.lookup_one = get
        elif nkeys > 1:
            self.lookup = get
            self.lookup_one = lambda value: get((value,))
        else:
            self.lookup = _never
            self.lookup_one = _never

    @property
    def count(self) -> int:
        return len(self.by_key)

    def key(self, fields: tuple[_Field, ...], priority: int) -> _Key:
        if self.nkeys == 0:
            raise ControlPlaneError("INVALID_ARGUMENT", "a table without keys takes no entries")
        if self.nkeys == 1:
            return fields[0].value
        return tuple(f.value for f in fields)

    def find(self, key: _Key) -> TableEntry | None:
        return self.by_key.get(key)

    def add(self, key: _Key, entry: TableEntry) -> None:
        self.by_key[key] = entry
        entry._match = key  # the compact form `TableEntry.matches` expands

    def remove(self, key: _Key, entry: TableEntry) -> None:
        del self.by_key[key]

    def entries(self) -> Iterator[TableEntry]:
        return iter(list(self.by_key.values()))


def _never(values: object) -> TableEntry | None:
    return None


class _LpmIndex:
    """A dict per present prefix length; `probes` lists (mask, dict) pairs,
    longest prefix first, so a lookup stops at the first hit."""

    def __init__(self, keys: tuple[KeySpec, ...]) -> None:
        self.pos = next(i for i, k in enumerate(keys) if k.match_kind == "lpm")
        self.width = keys[self.pos].width
        self.full_masks = tuple((1 << k.width) - 1 for k in keys)
        self.by_len: dict[int, dict[_Key, TableEntry]] = {}
        self.probes: list[tuple[Any, dict[_Key, TableEntry]]] = []
        self.count = 0
        self.single = len(keys) == 1
        self.lookup: Callable[[tuple[int, ...]], TableEntry | None]
        self.lookup_one: Callable[[int], TableEntry | None]
        if self.single:
            self.lookup_one = self._lookup_value
            self.lookup = lambda values: self._lookup_value(values[0])
        else:
            self.lookup = self._lookup_tuple
            self.lookup_one = lambda value: self._lookup_tuple((value,))

    def _lookup_value(self, v: int) -> TableEntry | None:
        for mask, table in self.probes:
            entry = table.get(v & mask)
            if entry is not None:
                return entry
        return None

    def _lookup_tuple(self, values: tuple[int, ...]) -> TableEntry | None:
        for masks, table in self.probes:
            entry = table.get(tuple(map(and_, values, masks)))
            if entry is not None:
                return entry
        return None

    def _mask(self, prefix_len: int) -> Any:
        full = (1 << self.width) - 1
        mask = full ^ ((1 << (self.width - prefix_len)) - 1)
        if self.single:
            return mask
        masks = list(self.full_masks)
        masks[self.pos] = mask
        return tuple(masks)

    def key(self, fields: tuple[_Field, ...], priority: int) -> _Key:
        plen = fields[self.pos].prefix_len
        if self.single:
            return plen, fields[0].value
        return plen, tuple(f.value for f in fields)

    def find(self, key: _Key) -> TableEntry | None:
        table = self.by_len.get(key[0])
        return None if table is None else table.get(key[1])

    def add(self, key: _Key, entry: TableEntry) -> None:
        plen, k = key
        table = self.by_len.get(plen)
        if table is None:
            table = self.by_len[plen] = {}
            self._reprobe()
        table[k] = entry
        self.count += 1

    def remove(self, key: _Key, entry: TableEntry) -> None:
        plen, k = key
        table = self.by_len[plen]
        del table[k]
        self.count -= 1
        if not table:
            del self.by_len[plen]
            self._reprobe()

    def _reprobe(self) -> None:
        self.probes[:] = [
            (self._mask(plen), self.by_len[plen]) for plen in sorted(self.by_len, reverse=True)
        ]

    def entries(self) -> Iterator[TableEntry]:
        return iter([e for _, table in self.probes for e in table.values()])


# In a priority group, each candidate carries the range checks it needs:
# (key position, low, high) for every range key that is not "don't care".
_Checks: TypeAlias = tuple[tuple[int, int, int], ...]
_Candidate: TypeAlias = tuple[TableEntry, _Checks]


class _Group:
    """Entries sharing one mask tuple (and the same set of range keys)."""

    __slots__ = ("buckets", "count", "heap", "masks", "max_priority", "priorities")

    def __init__(self, masks: tuple[int, ...]) -> None:
        self.masks = masks
        self.buckets: dict[tuple[int, ...], list[_Candidate]] = {}
        self.priorities: dict[int, int] = {}  # priority -> number of entries
        self.heap: list[int] = []  # negated priorities, stale ones dropped lazily
        self.max_priority = 0
        self.count = 0

    def add(self, masked: tuple[int, ...], candidate: _Candidate) -> None:
        bucket = self.buckets.setdefault(masked, [])
        insort(bucket, candidate, key=_candidate_rank)
        priority = candidate[0].priority
        seen = self.priorities.get(priority, 0)
        if not seen:
            heapq.heappush(self.heap, -priority)
        self.priorities[priority] = seen + 1
        self.max_priority = max(self.max_priority, priority)
        self.count += 1

    def remove(self, masked: tuple[int, ...], entry: TableEntry) -> None:
        bucket = self.buckets[masked]
        bucket[:] = [c for c in bucket if c[0] is not entry]
        if not bucket:
            del self.buckets[masked]
        left = self.priorities[entry.priority] - 1
        if left:
            self.priorities[entry.priority] = left
        else:
            del self.priorities[entry.priority]
        while self.heap and -self.heap[0] not in self.priorities:
            heapq.heappop(self.heap)
        self.max_priority = -self.heap[0] if self.heap else 0
        self.count -= 1


def _candidate_rank(candidate: _Candidate) -> int:
    return -candidate[0].priority


class _PriorityIndex:
    """Tuple-space search over mask groups, best group first."""

    def __init__(self) -> None:
        self.groups: dict[tuple[tuple[int, ...], tuple[int, ...]], _Group] = {}
        self.order: list[_Group] = []
        self.dirty = False
        self.by_key: dict[_Key, TableEntry] = {}
        self.lookup: Callable[[tuple[int, ...]], TableEntry | None] = self._lookup
        self.lookup_one: Callable[[int], TableEntry | None] = lambda value: self._lookup((value,))

    @property
    def count(self) -> int:
        return len(self.by_key)

    def _lookup(self, values: tuple[int, ...]) -> TableEntry | None:
        if self.dirty:
            self._reorder()
        best = None
        best_priority = 0
        for group in self.order:
            if group.max_priority <= best_priority:
                break
            bucket = group.buckets.get(tuple(map(and_, values, group.masks)))
            if bucket is None:
                continue
            for entry, checks in bucket:
                if entry.priority <= best_priority:
                    break
                for pos, low, high in checks:
                    if not low <= values[pos] <= high:
                        break
                else:
                    best = entry
                    best_priority = entry.priority
                    break
        return best

    def key(self, fields: tuple[_Field, ...], priority: int) -> _Key:
        masks = tuple(f.mask for f in fields)
        masked = tuple(f.value for f in fields)
        checks = tuple(
            (pos, f.bounds[0], f.bounds[1]) for pos, f in enumerate(fields) if f.bounds is not None
        )
        return masks, masked, checks, priority

    def find(self, key: _Key) -> TableEntry | None:
        return self.by_key.get(key)

    def add(self, key: _Key, entry: TableEntry) -> None:
        masks, masked, checks, _ = key
        signature = (masks, tuple(pos for pos, _, _ in checks))
        group = self.groups.get(signature)
        if group is None:
            group = self.groups[signature] = _Group(masks)
        before = group.max_priority
        group.add(masked, (entry, checks))
        self.by_key[key] = entry
        if group.max_priority != before or group.count == 1:
            self.dirty = True

    def remove(self, key: _Key, entry: TableEntry) -> None:
        masks, masked, checks, _ = key
        signature = (masks, tuple(pos for pos, _, _ in checks))
        group = self.groups[signature]
        before = group.max_priority
        group.remove(masked, entry)
        del self.by_key[key]
        if not group.count:
            del self.groups[signature]
            self.dirty = True
        elif group.max_priority != before:
            self.dirty = True

    def _reorder(self) -> None:
        self.order[:] = sorted(self.groups.values(), key=lambda g: -g.max_priority)
        self.dirty = False

    def entries(self) -> Iterator[TableEntry]:
        return iter(list(self.by_key.values()))


def check_action_args(where: str, call: ActionCall, widths: Sequence[int]) -> None:
    """The arguments of `call` are as many as its action's parameters and fit them."""
    if len(call.args) != len(widths):
        raise ControlPlaneError(
            "INVALID_ARGUMENT",
            f"{where}: action {call.action} takes {len(widths)} arguments, got {len(call.args)}",
        )
    for i, (arg, width) in enumerate(zip(call.args, widths, strict=True)):
        if not 0 <= arg < 1 << width:
            raise ControlPlaneError(
                "INVALID_ARGUMENT",
                f"{where}: argument {i + 1} of {call.action} ({arg:#x}) "
                f"does not fit in {width} bits",
            )
