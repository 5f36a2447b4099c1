"""Action profiles and selectors in the data plane, as bmv2 runs them: a
member entry runs the member's action, a group entry runs the member that
the selector keys' hash picks (`hash % slots`, slots ordered by bmv2 member
handle, a weight repeating its member through PI's member copies), an empty
group is a hit that runs nothing, a miss runs the default action."""

from __future__ import annotations

import functools

import pytest
from checksums import crc16_arc
from paths import P4RUNTIME_PROGRAMS
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from semantics_harness import switch

from p4sim.compiler import CompiledProgram, compile_file
from p4sim.errors import ControlPlaneError
from p4sim.runtime import action_profiles
from p4sim.runtime.action_profiles import ActionProfile, group_call, member_call
from p4sim.runtime.switch import Switch
from p4sim.runtime.tables import ActionCall, Exact, Lpm, TableEntry

PROGRAM = P4RUNTIME_PROGRAMS / "action_profiles.p4"
NHOP = "MyIngress.set_nhop"
ROUTE = (Lpm(0x0A000000, 8),)


@functools.cache
def program() -> CompiledProgram:
    return compile_file(PROGRAM)



def flow_hash(src: str, sport: int, dport: int, proto: int = 6) -> int:
    """The selector keys (srcAddr, protocol, srcPort, dstPort) packed as bmv2
    packs them: 72 bits, already whole bytes."""
    data = bytes(int(x) for x in src.split(".")) + bytes([proto])
    return crc16_arc(data + sport.to_bytes(2, "big") + dport.to_bytes(2, "big"))


def packet(src: str = "192.0.2.1", sport: int = 1000, dport: int = 80) -> bytes:
    return bytes(Ether() / IP(src=src, dst="10.1.2.3") / TCP(sport=sport, dport=dport))


def out_port(sw: Switch, frame: bytes) -> int | None:
    out = sw.process(1, frame)
    assert len(out) <= 1
    return out[0][0] if out else None


@pytest.fixture()
def sw() -> Switch:
    return Switch(program())


def selector(sw: Switch, members: int = 4) -> ActionProfile:
    """Member i sends to port i (and rewrites the MAC to 0xaa0i)."""
    profile = sw.action_profiles["MyIngress.ecmp_selector"]
    for i in range(1, members + 1):
        profile.insert_member(i, ActionCall(NHOP, (i, 0xAA00 + i)))
    return profile


def test_a_member_entry_runs_the_members_action_and_follows_its_changes(sw: Switch) -> None:
    profile = selector(sw, 2)
    sw.resolve_table("routes").insert(TableEntry(ROUTE, member_call(2)))
    out = sw.process(1, packet())
    assert [port for port, _ in out] == [2]
    assert Ether(out[0][1]).dst == "00:00:00:00:aa:02"
    profile.modify_member(2, ActionCall(NHOP, (7, 0xBB)))
    assert out_port(sw, packet()) == 7


def test_a_group_spreads_flows_by_the_hash_and_keeps_each_flow_on_one_member(
        sw: Switch) -> None:
    profile = selector(sw)
    profile.insert_group(50, [(1, 1), (2, 1), (3, 1), (4, 1)])
    sw.resolve_table("routes").insert(TableEntry(ROUTE, group_call(50)))
    seen = set()
    for i in range(40):
        src, sport = f"192.0.2.{i}", 1000 + 7 * i
        port = out_port(sw, packet(src, sport))
        # bmv2: slot hash % 4, members in handle (= creation) order.
        assert port == flow_hash(src, sport, 80) % 4 + 1
        assert out_port(sw, packet(src, sport)) == port
        seen.add(port)
    assert seen == {1, 2, 3, 4}


def test_weights_repeat_a_member_in_handle_order(sw: Switch) -> None:
    profile = selector(sw, 3)
    # Member 1 weighs 2: PI adds a copy of it, which takes the next free
    # handle (3), so the slots are [m1, m2, m3, m1 copy].
    profile.insert_group(9, [(2, 1), (1, 2), (3, 1)])
    sw.resolve_table("routes").insert(TableEntry(ROUTE, group_call(9)))
    for i in range(24):
        src = f"198.51.100.{i}"
        expected = [1, 2, 3, 1][flow_hash(src, 1000, 80) % 4]
        assert out_port(sw, packet(src)) == expected


def test_an_empty_group_is_a_hit_that_runs_no_action(sw: Switch) -> None:
    profile = selector(sw, 1)
    profile.insert_group(3, [])
    table = sw.resolve_table("routes")
    entry = TableEntry(ROUTE, group_call(3))
    table.insert(entry)
    # bmv2 runs its empty action: no drop, egress_spec stays 0.
    assert out_port(sw, packet()) == 0
    assert entry.packets == 1  # the direct counter counts the hit
    profile.modify_group(3, [(1, 1)])
    assert out_port(sw, packet()) == 1


def test_a_miss_runs_the_default_action(sw: Switch) -> None:
    selector(sw, 1)
    assert out_port(sw, packet()) is None  # default_action = drop()


def test_the_action_profile_table_maps_ports_through_members(sw: Switch) -> None:
    profile = sw.action_profiles["port_profile"]
    profile.insert_member(5, ActionCall("MyIngress.set_port", (3,)))
    sw.resolve_table("port_map").insert(TableEntry((Exact(1),), member_call(5)))
    arp = bytes(Ether(type=0x0806)) + bytes(28)
    assert out_port(sw, arp) == 3


def test_references_keep_members_and_groups_alive(sw: Switch) -> None:
    profile = selector(sw, 2)
    profile.insert_group(1, [(1, 1)])
    table = sw.resolve_table("routes")
    table.insert(TableEntry(ROUTE, group_call(1)))
    table.insert(TableEntry((Lpm(0x0B000000, 8),), member_call(2)))
    for call in (lambda: profile.delete_member(1), lambda: profile.delete_member(2),
                 lambda: profile.delete_group(1)):
        with pytest.raises(ControlPlaneError) as info:
            call()
        assert info.value.code == "FAILED_PRECONDITION"
    table.modify(TableEntry(ROUTE, member_call(2)))
    profile.delete_group(1)
    profile.delete_member(1)
    table.delete(ROUTE)
    table.delete((Lpm(0x0B000000, 8),))
    profile.delete_member(2)
    assert not profile.members and not profile.groups


@pytest.mark.parametrize(("call", "code"), [
    (member_call(9), "NOT_FOUND"),
    (group_call(9), "NOT_FOUND"),
    (ActionCall("MyIngress.set_port", (1,)), "INVALID_ARGUMENT"),
])
def test_entries_must_point_at_something_the_profile_holds(
        sw: Switch, call: ActionCall, code: str) -> None:
    table = sw.resolve_table("routes")
    with pytest.raises(ControlPlaneError) as info:
        table.insert(TableEntry(ROUTE, call))
    assert info.value.code == code
    assert len(table) == 0


def test_a_profile_without_selector_has_no_groups(sw: Switch) -> None:
    profile = sw.action_profiles["port_profile"]
    with pytest.raises(ControlPlaneError) as info:
        profile.insert_group(1, [])
    assert info.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize(("members", "max_size", "code"), [
    ([(1, 0)], 0, "INVALID_ARGUMENT"),  # weight 0
    ([(1, 1), (1, 2)], 0, "INVALID_ARGUMENT"),  # listed twice
    ([(8, 1)], 0, "NOT_FOUND"),
    ([(1, 17)], 0, "RESOURCE_EXHAUSTED"),  # over max_group_size 16
    ([(1, 3)], 2, "RESOURCE_EXHAUSTED"),  # over the group's max_size
    ([(1, 1)], 17, "INVALID_ARGUMENT"),  # max_size over max_group_size
])
def test_group_membership_is_checked(sw: Switch, members: list[tuple[int, int]],
                                     max_size: int, code: str) -> None:
    profile = selector(sw, 1)
    with pytest.raises(ControlPlaneError) as info:
        profile.insert_group(1, members, max_size)
    assert info.value.code == code
    assert not profile.groups


def test_the_slots_of_all_groups_are_bounded(sw: Switch, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(action_profiles, "MAX_SELECTOR_SLOTS", 10)
    profile = selector(sw, 2)
    profile.insert_group(1, [(1, 6)])
    profile.modify_group(1, [(1, 4), (2, 6)])  # the old 6 slots are given back
    with pytest.raises(ControlPlaneError) as info:
        profile.insert_group(2, [(1, 1)])
    assert info.value.code == "RESOURCE_EXHAUSTED"
    profile.delete_group(1)
    profile.insert_group(2, [(2, 10)])


def test_members_beyond_the_profile_size_are_refused(sw: Switch) -> None:
    profile = sw.action_profiles["port_profile"]  # action_profile(32w8)
    for i in range(8):
        profile.insert_member(i, ActionCall("MyIngress.drop"))
    with pytest.raises(ControlPlaneError) as info:
        profile.insert_member(8, ActionCall("MyIngress.drop"))
    assert info.value.code == "RESOURCE_EXHAUSTED"


def test_a_one_shot_group_lives_while_an_entry_points_at_it(sw: Switch) -> None:
    profile = sw.action_profiles["MyIngress.ecmp_selector"]
    gid = profile.insert_oneshot([(ActionCall(NHOP, (1, 1)), 1), (ActionCall(NHOP, (2, 2)), 2)])
    table = sw.resolve_table("routes")
    table.insert(TableEntry(ROUTE, group_call(gid)))
    profile.collect()
    src = "203.0.113.9"
    assert out_port(sw, packet(src)) == [1, 2, 2][flow_hash(src, 1000, 80) % 3]
    assert not profile.manual_in_use()
    table.delete(ROUTE)
    profile.collect()
    assert not profile.members and not profile.groups


def test_action_run_names_the_members_action_and_no_label_for_an_empty_group() -> None:
    sw = switch("bit<8> a; bit<8> b;", """
        switch (t.apply().action_run) {
            set_b: { hdr.h.a = 1; }
            default: { hdr.h.a = 2; }
        }
    """, ingress_decls="""
        action set_b(bit<8> v) { hdr.h.b = v; }
        table t {
            key = { hdr.h.a: exact; hdr.h.b: selector; }
            actions = { set_b; NoAction; }
            implementation = action_selector(HashAlgorithm.identity, 32w16, 32w8);
        }
    """)
    (profile,) = sw.action_profiles.values()
    assert profile.name == "I.t"  # constructed in place without @name
    profile.insert_member(1, ActionCall("I.set_b", (9,)))
    profile.insert_group(2, [])
    table = sw.resolve_table("t")
    table.insert(TableEntry((Exact(5),), member_call(1)))
    table.insert(TableEntry((Exact(6),), group_call(2)))
    assert sw.process(0, bytes([5, 0])) == [(1, bytes([1, 9]))]
    assert sw.process(0, bytes([6, 0])) == [(1, bytes([2, 0]))]
    assert sw.process(0, bytes([7, 0])) == [(1, bytes([2, 0]))]  # miss: NoAction
