"""Match tables: what the control plane may write and what a packet matches."""

from __future__ import annotations

import dataclasses
import gc
import random
import tracemalloc

import pytest

from p4sim.errors import ControlPlaneError, UnsupportedError
from p4sim.runtime.tables import (
    ActionCall,
    ActionSpec,
    Exact,
    FieldMatch,
    KeySpec,
    Lpm,
    MatchTable,
    OptionalMatch,
    RangeMatch,
    TableEntry,
    Ternary,
)

NO_ACTION = ActionCall("NoAction")
FWD = ActionCall("fwd", (1,))


def table(*keys: tuple[str, int], size: int = 1024, **kwargs: object) -> MatchTable:
    specs = [KeySpec(f"k{i}", kind, width) for i, (kind, width) in enumerate(keys)]
    return MatchTable("MyIngress.t", specs, size, NO_ACTION, **kwargs)  # type: ignore[arg-type]


def code_of(excinfo: pytest.ExceptionInfo[ControlPlaneError]) -> str:
    return excinfo.value.code


# -- exact --------------------------------------------------------------------


def test_exact_hit_returns_the_inserted_entry_and_miss_returns_none() -> None:
    t = table(("exact", 32))
    entry = TableEntry((Exact(0x0A000001),), FWD)
    t.insert(entry)
    assert t.lookup((0x0A000001,)) is entry
    assert t.lookup((0x0A000002,)) is None
    assert len(t) == 1


def test_exact_with_several_keys_matches_all_of_them() -> None:
    t = table(("exact", 32), ("exact", 16))
    t.insert(TableEntry((Exact(1), Exact(80)), FWD))
    assert t.lookup((1, 80)) is not None
    assert t.lookup((1, 81)) is None
    assert t.get((Exact(1), Exact(80))) is not None


def test_duplicate_key_is_already_exists() -> None:
    t = table(("exact", 8))
    t.insert(TableEntry((Exact(5),), FWD))
    with pytest.raises(ControlPlaneError) as exc:
        t.insert(TableEntry((Exact(5),), NO_ACTION))
    assert code_of(exc) == "ALREADY_EXISTS"


def test_full_table_is_resource_exhausted() -> None:
    t = table(("exact", 8), size=2)
    t.insert(TableEntry((Exact(1),), FWD))
    t.insert(TableEntry((Exact(2),), FWD))
    with pytest.raises(ControlPlaneError) as exc:
        t.insert(TableEntry((Exact(3),), FWD))
    assert code_of(exc) == "RESOURCE_EXHAUSTED"


def test_modify_and_delete_of_a_missing_entry_are_not_found() -> None:
    t = table(("exact", 8))
    with pytest.raises(ControlPlaneError) as exc:
        t.modify(TableEntry((Exact(1),), FWD))
    assert code_of(exc) == "NOT_FOUND"
    with pytest.raises(ControlPlaneError) as exc:
        t.delete((Exact(1),))
    assert code_of(exc) == "NOT_FOUND"


def test_modify_changes_the_action_in_place_and_keeps_counters() -> None:
    t = table(("exact", 8))
    stored = TableEntry((Exact(1),), FWD)
    t.insert(stored)
    stored.packets, stored.bytes = 3, 180
    result = t.modify(TableEntry((Exact(1),), ActionCall("fwd", (2,)), metadata=b"x"))
    assert result is stored
    assert t.lookup((1,)) is stored
    assert stored.action == ActionCall("fwd", (2,))
    assert (stored.packets, stored.bytes, stored.metadata) == (3, 180, b"x")


def test_modify_sets_counters_when_given() -> None:
    t = table(("exact", 8))
    t.insert(TableEntry((Exact(1),), FWD))
    t.modify(TableEntry((Exact(1),), FWD, packets=7, bytes=70))
    stored = t.get((Exact(1),))
    assert stored is not None and (stored.packets, stored.bytes) == (7, 70)


def test_delete_returns_the_entry_and_the_key_misses_afterwards() -> None:
    t = table(("exact", 8))
    entry = TableEntry((Exact(9),), FWD)
    t.insert(entry)
    assert t.delete((Exact(9),)) is entry
    assert t.lookup((9,)) is None
    assert len(t) == 0


def test_keyless_table_only_has_its_default() -> None:
    t = table()
    assert t.lookup(()) is None
    with pytest.raises(ControlPlaneError) as exc:
        t.insert(TableEntry((), FWD))
    assert code_of(exc) == "INVALID_ARGUMENT"


# -- validation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "matches", "priority", "fragment"),
    [
        ([("exact", 8)], (Exact(256),), 0, "does not fit in 8 bits"),
        ([("exact", 8)], (Exact(-1),), 0, "does not fit"),
        ([("exact", 8)], (None,), 0, "cannot be omitted"),
        ([("exact", 8)], (Ternary(1, 1),), 0, "expected a exact match"),
        ([("exact", 8)], (Exact(1), Exact(2)), 0, "has 1 keys, got 2"),
        ([("exact", 8)], (Exact(1),), 3, "priority must be 0"),
        ([("lpm", 32)], (Lpm(0x0A000001, 24),), 0, "bits beyond its /24 prefix"),
        ([("lpm", 32)], (Lpm(0, 33),), 0, "prefix length 33 out of 0..32"),
        ([("ternary", 16)], (Ternary(0x0F0F, 0x00FF),), 1, "bits outside its mask"),
        ([("ternary", 16)], (Ternary(1, 1),), 0, "needs a priority"),
        ([("range", 16)], (RangeMatch(10, 5),), 1, "low 0xa is above high 0x5"),
        ([("optional", 4)], (OptionalMatch(16),), 1, "does not fit in 4 bits"),
    ],
)
def test_invalid_entries_are_invalid_argument(
    keys: list[tuple[str, int]], matches: tuple[object, ...], priority: int, fragment: str
) -> None:
    t = table(*keys)
    with pytest.raises(ControlPlaneError) as exc:
        t.insert(TableEntry(matches, FWD, priority=priority))  # type: ignore[arg-type]
    assert code_of(exc) == "INVALID_ARGUMENT"
    assert fragment in exc.value.message
    assert "MyIngress.t" in exc.value.message


def test_unknown_match_kind_is_unsupported() -> None:
    with pytest.raises(UnsupportedError, match="match kind 'selector'"):
        table(("selector", 8))


def test_actions_are_checked_when_the_table_knows_them() -> None:
    actions = {
        "fwd": ActionSpec((9,)),
        "NoAction": ActionSpec(),
        "miss_only": ActionSpec(scope="DEFAULT_ONLY"),
    }
    t = table(("exact", 8), actions=actions)
    bad = [
        (ActionCall("nope"), "is not one of its actions"),
        (ActionCall("fwd"), "takes 1 arguments, got 0"),
        (ActionCall("fwd", (512,)), "does not fit in 9 bits"),
        (ActionCall("miss_only"), "is @defaultonly"),
    ]
    for call, fragment in bad:
        with pytest.raises(ControlPlaneError, match=fragment):
            t.insert(TableEntry((Exact(1),), call))
    t.insert(TableEntry((Exact(1),), ActionCall("fwd", (511,))))
    t.set_default(ActionCall("miss_only"))
    assert t.default.action == ActionCall("miss_only")


# -- const rules -----------------------------------------------------------


def test_const_default_action_cannot_change() -> None:
    t = MatchTable("t", [KeySpec("k", "exact", 8)], 16, NO_ACTION, default_is_const=True)
    with pytest.raises(ControlPlaneError) as exc:
        t.set_default(FWD)
    assert code_of(exc) == "FAILED_PRECONDITION"
    assert t.default.action == NO_ACTION


def test_const_table_rejects_writes_but_takes_its_const_entries() -> None:
    t = table(("exact", 8), is_const_table=True)
    t.insert(TableEntry((Exact(1),), FWD, is_const=True))
    for attempt in (
        lambda: t.insert(TableEntry((Exact(2),), FWD)),
        lambda: t.modify(TableEntry((Exact(1),), NO_ACTION)),
        lambda: t.delete((Exact(1),)),
    ):
        with pytest.raises(ControlPlaneError) as exc:
            attempt()
        assert code_of(exc) == "FAILED_PRECONDITION"
    assert t.lookup((1,)) is not None


def test_clear_removes_control_plane_entries_only() -> None:
    t = table(("ternary", 8))
    t.insert(TableEntry((Ternary(1, 0xFF),), FWD, priority=5, is_const=True))
    t.insert(TableEntry((Ternary(2, 0xFF),), FWD, priority=5))
    t.set_default(FWD)
    t.clear()
    assert [e.matches for e in t.entries()] == [(Ternary(1, 0xFF),)]
    assert t.lookup((2,)) is None
    assert t.default.action == FWD


# -- lpm -------------------------------------------------------------------


def test_lpm_longest_prefix_wins_and_delete_falls_back() -> None:
    t = table(("lpm", 32))
    default_route = TableEntry((None,), ActionCall("fwd", (0,)))
    slash8 = TableEntry((Lpm(0x0A000000, 8),), ActionCall("fwd", (8,)))
    slash24 = TableEntry((Lpm(0x0A000100, 24),), ActionCall("fwd", (24,)))
    for e in (slash8, default_route, slash24):
        t.insert(e)
    assert t.lookup((0x0A000105,)) is slash24
    assert t.lookup((0x0A020304,)) is slash8
    assert t.lookup((0xC0A80001,)) is default_route
    t.delete((Lpm(0x0A000100, 24),))
    assert t.lookup((0x0A000105,)) is slash8


def test_lpm_prefix_zero_and_omitted_field_are_the_same_entry() -> None:
    t = table(("lpm", 32))
    t.insert(TableEntry((Lpm(0, 0),), FWD))
    with pytest.raises(ControlPlaneError) as exc:
        t.insert(TableEntry((None,), FWD))
    assert code_of(exc) == "ALREADY_EXISTS"
    assert t.get((None,)) is t.get((Lpm(0, 0),)) is not None


def test_lpm_with_an_exact_key_needs_both_to_match() -> None:
    t = table(("exact", 16), ("lpm", 32))
    vrf1 = TableEntry((Exact(1), Lpm(0x0A000000, 8)), ActionCall("fwd", (1,)))
    vrf2 = TableEntry((Exact(2), Lpm(0x0A000000, 16)), ActionCall("fwd", (2,)))
    t.insert(vrf1)
    t.insert(vrf2)
    assert t.lookup((1, 0x0A000001)) is vrf1
    assert t.lookup((2, 0x0A000001)) is vrf2
    assert t.lookup((2, 0x0A010001)) is None


def test_lpm_matches_a_linear_reference_on_random_routes() -> None:
    rng = random.Random(7)
    t = table(("lpm", 32))
    routes: dict[tuple[int, int], TableEntry] = {}
    for _ in range(400):
        plen = rng.choice([0, 8, 12, 16, 20, 24, 28, 32])
        value = rng.getrandbits(32) & (((1 << plen) - 1) << (32 - plen))
        if (value, plen) in routes:
            continue
        entry = TableEntry((Lpm(value, plen),), ActionCall("fwd", (plen,)))
        t.insert(entry)
        routes[(value, plen)] = entry
    for _ in range(2000):
        addr = rng.getrandbits(32)
        matching = [
            (plen, e)
            for (value, plen), e in routes.items()
            if addr >> (32 - plen) << (32 - plen) == value or plen == 0
        ]
        expected = max(matching, key=lambda m: m[0])[1] if matching else None
        assert t.lookup((addr,)) is expected


# -- ternary / range / optional ----------------------------------------------


def test_ternary_highest_priority_wins_across_masks() -> None:
    t = table(("ternary", 16))
    low = TableEntry((Ternary(0x0800, 0xFF00),), ActionCall("fwd", (1,)), priority=10)
    high = TableEntry((Ternary(0x0806, 0xFFFF),), ActionCall("fwd", (2,)), priority=20)
    catch_all = TableEntry((None,), ActionCall("fwd", (3,)), priority=1)
    for e in (low, high, catch_all):
        t.insert(e)
    assert t.lookup((0x0806,)) is high
    assert t.lookup((0x0801,)) is low
    assert t.lookup((0x86DD,)) is catch_all
    t.delete((Ternary(0x0806, 0xFFFF),), priority=20)
    assert t.lookup((0x0806,)) is low


def test_same_match_with_two_priorities_are_two_entries() -> None:
    t = table(("ternary", 8))
    t.insert(TableEntry((Ternary(1, 0xFF),), FWD, priority=1))
    t.insert(TableEntry((Ternary(1, 0xFF),), NO_ACTION, priority=2))
    hit = t.lookup((1,))
    assert hit is not None and hit.action == NO_ACTION
    t.delete((Ternary(1, 0xFF),), priority=2)
    hit = t.lookup((1,))
    assert hit is not None and hit.action == FWD


def test_range_and_optional_keys() -> None:
    t = table(("optional", 8), ("range", 16))
    web = TableEntry((OptionalMatch(6), RangeMatch(80, 90)), ActionCall("fwd", (1,)), priority=5)
    any_proto = TableEntry((None, RangeMatch(0, 1023)), ActionCall("fwd", (2,)), priority=3)
    t.insert(web)
    t.insert(any_proto)
    assert t.lookup((6, 85)) is web
    assert t.lookup((17, 85)) is any_proto
    assert t.lookup((6, 100)) is any_proto
    assert t.lookup((6, 2000)) is None


def test_whole_field_range_is_dont_care() -> None:
    t = table(("range", 8))
    t.insert(TableEntry((RangeMatch(0, 255),), FWD, priority=1))
    assert t.get((None,), priority=1) is not None


def test_priority_lookup_matches_a_linear_reference() -> None:
    rng = random.Random(11)
    t = table(("ternary", 8), ("range", 8), ("exact", 4))
    entries: list[TableEntry] = []
    priorities = rng.sample(range(1, 100_000), 600)
    for priority in priorities:
        mask = rng.choice([0x00, 0xF0, 0xFF, 0x0F, 0xC3])
        low = rng.randrange(256)
        high = min(255, low + rng.randrange(64))
        entry = TableEntry(
            (
                Ternary(rng.randrange(256) & mask, mask),
                RangeMatch(low, high),
                Exact(rng.randrange(4)),
            ),
            ActionCall("fwd", (priority,)),
            priority=priority,
        )
        t.insert(entry)
        entries.append(entry)
    for e in entries[::3]:
        t.delete(e.matches, e.priority)
    live = [e for i, e in enumerate(entries) if i % 3]

    def reference(values: tuple[int, int, int]) -> TableEntry | None:
        best = None
        for e in live:
            tern, rng_, ex = e.matches
            assert isinstance(tern, Ternary) and isinstance(rng_, RangeMatch)
            assert isinstance(ex, Exact)
            if (
                values[0] & tern.mask == tern.value
                and rng_.low <= values[1] <= rng_.high
                and values[2] == ex.value
                and (best is None or e.priority > best.priority)
            ):
                best = e
        return best

    for _ in range(1500):
        values = (rng.randrange(256), rng.randrange(256), rng.randrange(4))
        assert t.lookup(values) is reference(values)


def test_entries_lists_every_entry_once() -> None:
    t = table(("lpm", 16))
    t.insert(TableEntry((Lpm(0x0A00, 8),), FWD))
    t.insert(TableEntry((Lpm(0x0A0B, 16),), FWD))
    assert sorted(e.matches[0].prefix_len for e in t.entries()) == [8, 16]  # type: ignore[union-attr]


# -- entry storage ------------------------------------------------------------


def test_a_stored_exact_entry_still_reports_its_matches_and_copies_whole() -> None:
    t = table(("exact", 32), ("exact", 8))
    entry = TableEntry((Exact(0x0A000001), Exact(7)), FWD, metadata=b"cookie")
    t.insert(entry)
    assert entry.matches == (Exact(0x0A000001), Exact(7))
    assert t.get(entry.matches) is entry
    copy = dataclasses.replace(entry)
    assert copy == entry and copy is not entry
    assert (copy.action, copy.metadata, copy.idle_timeout_ns) == (FWD, b"cookie", 0)
    t.delete(entry.matches)
    assert t.lookup((0x0A000001, 7)) is None


def test_setting_an_entry_action_is_what_the_pipeline_reads() -> None:
    t = table(("exact", 16))
    entry = TableEntry((Exact(5),), FWD)
    t.insert(entry)
    entry.action = ActionCall("fwd", (9,))
    hit = t.lookup((5,))
    assert hit is not None
    assert (hit.action_name, hit.action_args) == ("fwd", (9,))
    assert hit.action == ActionCall("fwd", (9,))


def test_entries_share_one_copy_of_an_action_name() -> None:
    t = table(("exact", 16))
    for i in range(3):
        t.insert(TableEntry((Exact(i),), ActionCall("".join(["f", "w", "d"]), (i,))))
    names = {id(e.action_name) for e in t.entries()}
    assert len(names) == 1


def test_an_exact_entry_with_its_own_key_and_arguments_costs_under_300_bytes() -> None:
    """The issue's budget, for entries as P4Runtime builds them: a fresh key
    int and a fresh argument tuple per entry."""
    t = table(("exact", 32), size=0)
    keys = [(0x0A000000 + 7919 * i).to_bytes(4, "big") for i in range(20_000)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i, raw in enumerate(keys):
        t.insert(TableEntry((Exact(int.from_bytes(raw, "big")),), ActionCall("fwd", (i,))))
    gc.collect()
    per_entry = (tracemalloc.get_traced_memory()[0] - before) / len(keys)
    tracemalloc.stop()
    assert per_entry < 300


@pytest.mark.parametrize("kind", ["exact", "lpm", "ternary"])
def test_lookup_one_is_lookup_of_a_one_key_tuple(kind: str) -> None:
    t = table((kind, 8))
    matches: dict[str, FieldMatch] = {
        "exact": Exact(0x12), "lpm": Lpm(0x10, 4), "ternary": Ternary(0x10, 0xF0)}
    match = matches[kind]
    entry = TableEntry((match,), FWD, priority=1 if t.needs_priority else 0)
    t.insert(entry)
    for value in (0x12, 0x1F, 0x21):
        assert t.lookup_one(value) is t.lookup((value,))
    assert t.lookup_one(0x12) is entry
    assert t.lookup_one(0x21) is None
