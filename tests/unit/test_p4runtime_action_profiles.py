"""P4Runtime action profiles and selectors: members, groups, one-shot action
sets and the indirect table entries that point at them, driven through the
gRPC server with packets in and out of memory ports. The program is
p4runtime_programs/action_profiles.p4: `routes` (lpm on the IPv4 destination,
selector keys srcAddr, protocol, ports) behind `MyIngress.ecmp_selector`
(crc16, size 64, @max_group_size(16)); `port_map` behind `port_profile`
(an action_profile of size 8)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from checksums import crc16_arc
from finsy.proto import p4r, rpc_code
from p4rt_support import (
    PROGRAMS,
    Client,
    Names,
    compiled,
    inject,
    pipeline_config,
    sent,
    start_switch,
    update,
    write_errors,
)
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from p4sim.compiler import CompiledProgram
from p4sim.server.server import ServerThread

INSERT, MODIFY, DELETE = p4r.Update.INSERT, p4r.Update.MODIFY, p4r.Update.DELETE
SET = p4r.SetForwardingPipelineConfigRequest
PORTS = (1, 2, 3, 4, 5)
SELECTOR = "MyIngress.ecmp_selector"
PROFILE = "port_profile"


def program() -> CompiledProgram:
    return compiled(PROGRAMS / "action_profiles.p4")


@pytest.fixture(scope="module")
def switch() -> Iterator[ServerThread]:
    server = start_switch(PORTS, cpu_port=None)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def names() -> Names:
    return Names(program().p4info)


@pytest.fixture()
def client(switch: ServerThread) -> Iterator[Client]:
    """The primary, with a freshly committed pipeline (nothing installed)."""
    c = Client(switch.address, election=10)
    assert c.arbitrate().status.code == rpc_code.OK
    c.set_pipeline(pipeline_config(program()), SET.VERIFY_AND_COMMIT)
    for port in PORTS:
        sent(switch, port)
    yield c
    c.close()


def profile_id(names: Names, name: str) -> int:
    return int(Names._find(names.info.action_profiles, name).preamble.id)


def member(names: Names, mid: int, port: int, profile: str = SELECTOR) -> dict[str, Any]:
    if profile == SELECTOR:
        action = names.action_msg("set_nhop", port=port, dmac=0xAA00 + port)
    else:
        action = names.action_msg("set_port", port=port)
    return {"action_profile_member": p4r.ActionProfileMember(
        action_profile_id=profile_id(names, profile), member_id=mid, action=action)}


def group(names: Names, gid: int, members: list[tuple[int, int]], max_size: int = 0,
          profile: str = SELECTOR) -> dict[str, Any]:
    msg = p4r.ActionProfileGroup(
        action_profile_id=profile_id(names, profile), group_id=gid, max_size=max_size)
    for mid, weight in members:
        msg.members.add(member_id=mid, weight=weight)
    return {"action_profile_group": msg}


def route(names: Names, prefix: int = 0x0A000000, plen: int = 8, **action: Any) -> p4r.TableEntry:
    entry = names.entry("routes", {"hdr.ipv4.dstAddr": ("lpm", prefix, plen)})
    for field, value in action.items():
        if field == "action_profile_action_set":
            entry.action.action_profile_action_set.CopyFrom(value)
        else:
            setattr(entry.action, field, value)
    return entry


def failed(client: Client, updates: list[p4r.Update], atomicity: int = 0) -> list[tuple[int, str]]:
    with pytest.raises(grpc.RpcError) as info:
        client.write(updates, atomicity)
    assert info.value.code() == grpc.StatusCode.UNKNOWN
    return write_errors(info.value)


def code_of(client: Client, u: p4r.Update) -> int:
    [(code, _)] = failed(client, [u])
    return code



def flow_hash(src: str, sport: int) -> int:
    """bmv2's selector input: srcAddr, protocol (TCP), srcPort, dstPort 80."""
    data = bytes(int(x) for x in src.split(".")) + bytes([6])
    return crc16_arc(data + sport.to_bytes(2, "big") + (80).to_bytes(2, "big"))


def send_flow(switch: ServerThread, src: str, sport: int) -> list[int]:
    """Inject one TCP packet on port 1; the ports it left through."""
    frame = Ether() / IP(src=src, dst="10.9.8.7") / TCP(sport=sport, dport=80)
    inject(switch, 1, bytes(frame))
    return [port for port in PORTS if sent(switch, port)]


def flows(n: int) -> list[tuple[str, int]]:
    return [(f"192.0.2.{i}", 2000 + 13 * i) for i in range(n)]


def test_a_member_entry_forwards_through_the_member_and_follows_its_modify(
        client: Client, names: Names, switch: ServerThread) -> None:
    client.write([update(INSERT, **member(names, 1, 2)), update(INSERT, **member(names, 2, 3))])
    client.write([update(INSERT, table_entry=route(names, action_profile_member_id=1))])
    frame = Ether() / IP(src="192.0.2.1", dst="10.9.8.7") / TCP()
    inject(switch, 1, bytes(frame))
    [out] = sent(switch, 2)
    assert Ether(out).dst == "00:00:00:00:aa:02"
    client.write([update(MODIFY, **member(names, 1, 4))])
    assert send_flow(switch, "192.0.2.1", 1) == [4]
    [read] = [e.table_entry for e in client.read(p4r.Entity(table_entry=route(names)))]
    assert read.action.action_profile_member_id == 1


def test_a_group_entry_spreads_flows_by_hash_and_pins_each_flow(
        client: Client, names: Names, switch: ServerThread) -> None:
    client.write([update(INSERT, **member(names, i, i + 1)) for i in range(1, 5)])
    client.write([update(INSERT, **group(names, 10, [(1, 1), (2, 1), (3, 1), (4, 1)]))])
    client.write([update(INSERT, table_entry=route(names, action_profile_group_id=10))])
    used = set()
    for src, sport in flows(32):
        ports = send_flow(switch, src, sport)
        # As bmv2: slot hash % 4 in member handle order (members 1..4).
        assert ports == [flow_hash(src, sport) % 4 + 2]
        assert send_flow(switch, src, sport) == ports
        used.update(ports)
    assert used == {2, 3, 4, 5}
    counters = client.read(p4r.Entity(direct_counter_entry=p4r.DirectCounterEntry(
        table_entry=route(names))))
    assert counters[0].direct_counter_entry.data.packet_count == 64


def test_shrinking_a_group_moves_only_the_flows_of_the_removed_member(
        client: Client, names: Names, switch: ServerThread) -> None:
    client.write([update(INSERT, **member(names, i, i + 1)) for i in range(1, 3)])
    client.write([update(INSERT, **group(names, 5, [(1, 1), (2, 1)]))])
    client.write([update(INSERT, table_entry=route(names, action_profile_group_id=5))])
    client.write([update(MODIFY, **group(names, 5, [(1, 1)]))])
    assert {tuple(send_flow(switch, src, sport)) for src, sport in flows(8)} == {(2,)}


def test_reads_give_members_and_groups_back_as_written(client: Client, names: Names) -> None:
    client.write([update(INSERT, **member(names, 3, 2)), update(INSERT, **member(names, 1, 3)),
                  update(INSERT, **member(names, 6, 4, PROFILE))])
    client.write([update(INSERT, **group(names, 8, [(3, 2), (1, 1)], max_size=4))])
    everything = client.read(p4r.Entity(action_profile_member=p4r.ActionProfileMember()))
    assert {(e.action_profile_member.action_profile_id, e.action_profile_member.member_id)
            for e in everything} == {(profile_id(names, SELECTOR), 1),
                                     (profile_id(names, SELECTOR), 3),
                                     (profile_id(names, PROFILE), 6)}
    one = client.read(p4r.Entity(**member(names, 3, 0)))
    assert [e.action_profile_member for e in one] == [member(names, 3, 2)["action_profile_member"]]
    [read] = client.read(p4r.Entity(action_profile_group=p4r.ActionProfileGroup(
        action_profile_id=profile_id(names, SELECTOR))))
    assert read.action_profile_group == group(names, 8, [(3, 2), (1, 1)], 4)[
        "action_profile_group"]
    assert client.read(p4r.Entity(**group(names, 99, []))) == []


def test_member_and_group_errors_carry_the_spec_codes(client: Client, names: Names) -> None:
    client.write([update(INSERT, **member(names, 1, 2)), update(INSERT, **member(names, 2, 3))])
    client.write([update(INSERT, **group(names, 1, [(1, 1)]))])
    client.write([update(INSERT, table_entry=route(names, action_profile_member_id=2))])
    client.write([update(INSERT, table_entry=route(names, 0x0B000000, 8,
                                                   action_profile_group_id=1))])
    watched = group(names, 7, [(1, 1)])
    watched["action_profile_group"].members[0].watch_port = b"\x02"
    foreign = member(names, 9, 1)
    foreign["action_profile_member"].action.CopyFrom(names.action_msg("set_port", port=1))
    cases = [
        (update(INSERT, **member(names, 1, 2)), rpc_code.ALREADY_EXISTS),
        (update(MODIFY, **member(names, 5, 2)), rpc_code.NOT_FOUND),
        (update(DELETE, **member(names, 1, 0)), rpc_code.FAILED_PRECONDITION),  # in a group
        (update(DELETE, **member(names, 2, 0)), rpc_code.FAILED_PRECONDITION),  # in an entry
        (update(DELETE, **group(names, 1, [])), rpc_code.FAILED_PRECONDITION),  # in an entry
        (update(DELETE, **group(names, 4, [])), rpc_code.NOT_FOUND),
        (update(INSERT, **group(names, 1, [])), rpc_code.ALREADY_EXISTS),
        (update(INSERT, **group(names, 2, [(5, 1)])), rpc_code.NOT_FOUND),
        (update(INSERT, **group(names, 2, [(1, 0)])), rpc_code.INVALID_ARGUMENT),
        (update(INSERT, **group(names, 2, [(1, 1), (1, 1)])), rpc_code.INVALID_ARGUMENT),
        (update(INSERT, **group(names, 2, [(1, 17)])), rpc_code.RESOURCE_EXHAUSTED),
        (update(INSERT, **group(names, 2, [(1, 3)], max_size=2)), rpc_code.RESOURCE_EXHAUSTED),
        (update(INSERT, **group(names, 2, [], max_size=17)), rpc_code.INVALID_ARGUMENT),
        (update(MODIFY, **group(names, 1, [(1, 1)], max_size=3)), rpc_code.INVALID_ARGUMENT),
        (update(INSERT, **group(names, 2, [], profile=PROFILE)), rpc_code.INVALID_ARGUMENT),
        (update(INSERT, **watched), rpc_code.UNIMPLEMENTED),
        (update(INSERT, **foreign), rpc_code.INVALID_ARGUMENT),
        (update(INSERT, **member(names, 0, 2)), rpc_code.INVALID_ARGUMENT),
        (update(INSERT, action_profile_member=p4r.ActionProfileMember(
            action_profile_id=1, member_id=1)), rpc_code.NOT_FOUND),
    ]
    errors = failed(client, [u for u, _ in cases])
    assert [code for code, _ in errors] == [code for _, code in cases]


def test_entries_must_name_what_the_profile_holds(client: Client, names: Names) -> None:
    client.write([update(INSERT, **member(names, 1, 2))])
    direct = route(names)
    direct.action.action.CopyFrom(names.action_msg("drop"))
    default = names.entry("routes", is_default_action=True)
    default.action.action.CopyFrom(names.action_msg("drop"))
    cases = [
        (route(names, action_profile_member_id=7), rpc_code.NOT_FOUND),
        (route(names, action_profile_group_id=7), rpc_code.NOT_FOUND),
        (direct, rpc_code.INVALID_ARGUMENT),
    ]
    errors = failed(client, [update(INSERT, table_entry=e) for e, _ in cases])
    assert [code for code, _ in errors] == [code for _, code in cases]
    assert code_of(client, update(MODIFY, table_entry=default)) == rpc_code.INVALID_ARGUMENT
    ports = names.entry("port_map", {"sm.ingress_port": ("exact", 1)})
    ports.action.action_profile_group_id = 1
    assert code_of(client, update(INSERT, table_entry=ports)) == rpc_code.INVALID_ARGUMENT


def test_a_profile_holds_at_most_its_size_in_members(client: Client, names: Names) -> None:
    client.write([update(INSERT, **member(names, i, 2, PROFILE)) for i in range(1, 9)])
    assert code_of(client, update(INSERT, **member(names, 9, 2, PROFILE))) == \
        rpc_code.RESOURCE_EXHAUSTED


def test_a_failed_atomic_batch_leaves_no_member_group_or_entry(
        client: Client, names: Names) -> None:
    client.write([update(INSERT, **member(names, 1, 2))])
    batch = [
        update(INSERT, **member(names, 7, 3)),
        update(INSERT, **group(names, 20, [(7, 1), (1, 2)])),
        update(MODIFY, **member(names, 1, 5)),
        update(INSERT, table_entry=route(names, action_profile_group_id=20)),
        update(DELETE, **member(names, 1, 0)),  # fails: in group 20
    ]
    errors = failed(client, batch, p4r.WriteRequest.ROLLBACK_ON_ERROR)
    assert errors[-1][0] == rpc_code.FAILED_PRECONDITION
    members = client.read(p4r.Entity(action_profile_member=p4r.ActionProfileMember()))
    assert [e.action_profile_member for e in members] == [member(names, 1, 2)[
        "action_profile_member"]]
    assert client.read(p4r.Entity(action_profile_group=p4r.ActionProfileGroup())) == []
    assert client.read(p4r.Entity(table_entry=route(names))) == []


def action_set(names: Names, *ports_and_weights: tuple[int, int]) -> p4r.ActionProfileActionSet:
    out = p4r.ActionProfileActionSet()
    for port, weight in ports_and_weights:
        out.action_profile_actions.add(
            action=names.action_msg("set_nhop", port=port, dmac=0xAA00 + port), weight=weight)
    return out


def test_one_shot_action_sets_program_groups_that_read_back_as_written(
        client: Client, names: Names, switch: ServerThread) -> None:
    one_shot = action_set(names, (2, 1), (3, 2))
    client.write([update(INSERT, table_entry=route(names, action_profile_action_set=one_shot))])
    for src, sport in flows(12):
        # PI creates one member per weight unit, in order: slots [2, 3, 3].
        assert send_flow(switch, src, sport) == [[2, 3, 3][flow_hash(src, sport) % 3]]
    [read] = client.read(p4r.Entity(table_entry=route(names)))
    assert read.table_entry.action.action_profile_action_set == one_shot
    # Hidden members and groups are not the controller's to read or mix with.
    assert client.read(p4r.Entity(action_profile_member=p4r.ActionProfileMember())) == []
    assert code_of(client, update(INSERT, **member(names, 1, 2))) == rpc_code.INVALID_ARGUMENT
    client.write([update(MODIFY, table_entry=route(
        names, action_profile_action_set=action_set(names, (4, 1))))])
    assert send_flow(switch, "192.0.2.1", 9) == [4]
    client.write([update(DELETE, table_entry=route(names))])
    client.write([update(INSERT, **member(names, 1, 2))])  # the profile is free again


def test_bad_one_shots_are_refused(client: Client, names: Names) -> None:
    watched = action_set(names, (2, 1))
    watched.action_profile_actions[0].watch_port = b"\x02"
    cases = [
        (action_set(names), rpc_code.UNIMPLEMENTED),  # empty
        (action_set(names, (2, 0)), rpc_code.INVALID_ARGUMENT),
        (action_set(names, (2, 10), (3, 7)), rpc_code.INVALID_ARGUMENT),  # over 16
        (watched, rpc_code.UNIMPLEMENTED),
    ]
    updates = [update(INSERT, table_entry=route(names, action_profile_action_set=s))
               for s, _ in cases]
    assert [code for code, _ in failed(client, updates)] == [code for _, code in cases]
    client.write([update(INSERT, **member(names, 1, 2))])  # nothing was left behind


def test_reconcile_keeps_members_groups_and_the_flow_mapping(
        client: Client, names: Names, switch: ServerThread) -> None:
    client.write([update(INSERT, **member(names, i, i + 1)) for i in range(1, 4)])
    client.write([update(INSERT, **group(names, 4, [(1, 1), (2, 2), (3, 1)]))])
    client.write([update(INSERT, table_entry=route(names, action_profile_group_id=4))])
    before = [send_flow(switch, src, sport) for src, sport in flows(10)]
    client.set_pipeline(pipeline_config(program()), SET.RECONCILE_AND_COMMIT)
    assert [send_flow(switch, src, sport) for src, sport in flows(10)] == before
    assert len(client.read(p4r.Entity(action_profile_member=p4r.ActionProfileMember()))) == 3
    assert code_of(client, update(DELETE, **group(names, 4, []))) == rpc_code.FAILED_PRECONDITION
