"""ActionProfileMember, ActionProfileGroup and indirect table actions <->
the runtime's action profiles (`p4sim.runtime.action_profiles`).

Status codes are the P4Runtime spec's: a duplicate id is ALREADY_EXISTS, a
missing one NOT_FOUND (also for a member or group a table entry or a group
names), a member still in a group or a member or group still named by an
entry FAILED_PRECONDITION, a profile beyond its size or a group beyond its
max_size RESOURCE_EXHAUSTED, weight 0, duplicate members, id 0 or a group on
an action profile without selector INVALID_ARGUMENT. `max_size` 0 means the
selector's max_group_size (else the profile size), and a MODIFY with
max_size 0 keeps the group's, as PI does.

One-shot programming (`ActionProfileActionSet`) is supported; reads give
the action set back as written. A selector's tables are programmed either
with one-shots or with members and groups, never both (INVALID_ARGUMENT, as
the spec and PI require); the choice is free again once the profile is
empty. v1model has no port liveness, so watch ports are UNIMPLEMENTED (as
backup replicas are), and so are the RANDOM selection mode and the
sum-of-members size semantics of an action set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from finsy.proto import p4r

from p4sim.errors import ControlPlaneError
from p4sim.runtime.action_profiles import (
    GROUP,
    MEMBER,
    ActionProfile,
    IndirectTable,
    group_call,
    member_call,
)
from p4sim.runtime.switch import Switch
from p4sim.runtime.tables import ActionCall
from p4sim.server.p4info_index import ActionProfileRef, TableRef
from p4sim.server.pipeline import Pipeline
from p4sim.server.translate import decode_action, encode_action

Undo = Callable[[], None]
Producer = Callable[[], Iterator[p4r.Entity]]
INSERT = p4r.Update.INSERT
MODIFY = p4r.Update.MODIFY
DELETE = p4r.Update.DELETE
_SET = p4r.ActionProfileActionSet


def _bad(message: str) -> ControlPlaneError:
    return ControlPlaneError("INVALID_ARGUMENT", message)


def _profile(pipeline: Pipeline, profile_id: int) -> tuple[ActionProfileRef, ActionProfile]:
    ref = pipeline.index.action_profiles.get(profile_id)
    if ref is None:
        raise ControlPlaneError("NOT_FOUND", f"action profile id {profile_id} is not in the P4Info")
    return ref, pipeline.switch.action_profiles[ref.name]


def _no_watch_port(
    msg: p4r.ActionProfileGroup.Member | p4r.ActionProfileAction, where: str
) -> None:
    kind = msg.WhichOneof("watch_kind")
    # An empty watch_port (or the deprecated watch 0, PI's "unknown port")
    # watches nothing.
    if (kind == "watch_port" and msg.watch_port) or (kind == "watch" and msg.watch):
        raise ControlPlaneError(
            "UNIMPLEMENTED", f"{where}: watch ports are not supported (v1model has no port status)"
        )


def _members_and_groups(profile: ActionProfile) -> None:
    if profile.oneshots:
        raise _bad(
            f"action profile {profile.name} is programmed with one-shot action sets: "
            "members and groups cannot be mixed in"
        )


# -- writes -------------------------------------------------------------------


def write_member(pipeline: Pipeline, kind: int, msg: p4r.ActionProfileMember) -> Undo:
    """Apply one INSERT/MODIFY/DELETE of a member; returns its inverse."""
    ref, profile = _profile(pipeline, msg.action_profile_id)
    member_id = msg.member_id
    if not member_id:
        raise _bad(f"action profile {ref.name}: member_id must not be 0")
    _members_and_groups(profile)
    if kind == DELETE:
        old = profile.delete_member(member_id)
        return lambda: profile.insert_member(member_id, old)
    if not msg.HasField("action"):
        raise _bad(f"action profile {ref.name}: member {member_id} has no action")
    action = decode_action(msg.action, pipeline.index, f"action profile {ref.name}")
    if kind == INSERT:
        profile.insert_member(member_id, action)
        return lambda: _forget_member(profile, member_id)
    previous = profile.modify_member(member_id, action)
    return lambda: _restore_member(profile, member_id, previous)


def _forget_member(profile: ActionProfile, member_id: int) -> None:
    profile.delete_member(member_id)


def _restore_member(profile: ActionProfile, member_id: int, action: ActionCall) -> None:
    profile.modify_member(member_id, action)


def write_group(pipeline: Pipeline, kind: int, msg: p4r.ActionProfileGroup) -> Undo:
    """Apply one INSERT/MODIFY/DELETE of a group; returns its inverse."""
    ref, profile = _profile(pipeline, msg.action_profile_id)
    group_id = msg.group_id
    where = f"action profile {ref.name}: group {group_id}"
    if not profile.with_selector:
        raise _bad(f"action profile {ref.name} has no selector: it holds no groups")
    if not group_id:
        raise _bad(f"action profile {ref.name}: group_id must not be 0")
    _members_and_groups(profile)
    if kind == DELETE:
        group = profile.delete_group(group_id)
        members, max_size = tuple(group.members.items()), group.max_size
        return lambda: profile.insert_group(group_id, members, max_size)
    members_given = []
    for member in msg.members:
        _no_watch_port(member, where)
        members_given.append((member.member_id, member.weight))
    if kind == INSERT:
        profile.insert_group(group_id, members_given, msg.max_size)
        return lambda: _forget_group(profile, group_id)
    before = profile.modify_group(group_id, members_given, msg.max_size)
    return lambda: _restore_group(profile, group_id, before)


def _forget_group(profile: ActionProfile, group_id: int) -> None:
    profile.delete_group(group_id)


def _restore_group(
    profile: ActionProfile, group_id: int, members: tuple[tuple[int, int], ...]
) -> None:
    profile.modify_group(group_id, members)


def indirect_action(pipeline: Pipeline, ref: TableRef, action: p4r.TableAction) -> ActionCall:
    """The runtime action of an indirect table entry: a member or group
    reference; an action set becomes a new one-shot group (which the end of
    the Write batch drops again unless an entry points at it)."""
    table = pipeline.switch.tables[ref.name]
    assert isinstance(table, IndirectTable)  # check_against matched the P4Info
    profile = table.profile
    kind = action.WhichOneof("type")
    if kind == "action_profile_member_id":
        _members_and_groups(profile)
        return member_call(action.action_profile_member_id)
    if kind == "action_profile_group_id":
        if not profile.with_selector:
            raise _bad(f"table {ref.name}: action profile {profile.name} has no groups")
        _members_and_groups(profile)
        return group_call(action.action_profile_group_id)
    if not profile.with_selector:
        raise _bad(f"table {ref.name}: action profile {profile.name} takes no action sets")
    if profile.manual_in_use():
        raise _bad(
            f"action profile {profile.name} holds members or groups: one-shot action sets "
            "cannot be mixed in"
        )
    action_set = action.action_profile_action_set
    where = f"table {ref.name}: action set"
    if action_set.action_selection_mode == _SET.RANDOM:
        raise ControlPlaneError("UNIMPLEMENTED", f"{where}: RANDOM selection is not supported")
    if action_set.size_semantics == _SET.SUM_OF_MEMBERS:
        raise ControlPlaneError("UNIMPLEMENTED", f"{where}: SUM_OF_MEMBERS is not supported")
    actions = []
    for item in action_set.action_profile_actions:
        _no_watch_port(item, where)
        if item.action.action_id not in ref.entry_actions:
            raise _bad(f"{where}: action id {item.action.action_id} is not an entry action")
        actions.append((decode_action(item.action, pipeline.index, where), item.weight))
    return group_call(profile.insert_oneshot(actions))


def collect_oneshots(switch: Switch) -> None:
    """Drop the one-shot groups no entry points at (end of a Write batch)."""
    for profile in switch.action_profiles.values():
        if profile.oneshots:
            profile.collect()


# -- reads --------------------------------------------------------------------


def encode_table_action(
    pipeline: Pipeline, ref: TableRef, call: ActionCall, out: p4r.TableAction
) -> None:
    """An entry's action as written: member id, group id, action set, or a
    direct action."""
    if call.action == MEMBER:
        out.action_profile_member_id = call.args[0]
        return
    if call.action == GROUP:
        table = pipeline.switch.tables[ref.name]
        assert isinstance(table, IndirectTable)
        actions = table.profile.oneshots.get(call.args[0])
        if actions is None:
            out.action_profile_group_id = call.args[0]
            return
        action_set = out.action_profile_action_set
        for action, weight in actions:
            item = action_set.action_profile_actions.add(weight=weight)
            encode_action(action, pipeline.index, item.action)
        return
    encode_action(call, pipeline.index, out.action)


def _profiles(pipeline: Pipeline, profile_id: int) -> list[tuple[ActionProfileRef, ActionProfile]]:
    if profile_id:
        return [_profile(pipeline, profile_id)]
    return [
        (ref, pipeline.switch.action_profiles[ref.name])
        for ref in pipeline.index.action_profiles.values()
    ]


def plan_member_read(pipeline: Pipeline, msg: p4r.ActionProfileMember) -> Producer:
    """Members selected by profile id and member id (0: all)."""
    profiles = _profiles(pipeline, msg.action_profile_id)
    wanted = msg.member_id

    def produce() -> Iterator[p4r.Entity]:
        for ref, profile in profiles:
            ids = [wanted] if wanted in profile.members else []
            for member_id in profile.client_members() if not wanted else ids:
                out = p4r.Entity()
                member = out.action_profile_member
                member.action_profile_id = ref.id
                member.member_id = member_id
                encode_action(profile.members[member_id].action, pipeline.index, member.action)
                yield out

    return produce


def plan_group_read(pipeline: Pipeline, msg: p4r.ActionProfileGroup) -> Producer:
    """Groups selected by profile id and group id (0: all)."""
    profiles = _profiles(pipeline, msg.action_profile_id)
    wanted = msg.group_id

    def produce() -> Iterator[p4r.Entity]:
        for ref, profile in profiles:
            ids = [wanted] if wanted in profile.groups else []
            for group_id in profile.client_groups() if not wanted else ids:
                group = profile.groups[group_id]
                out = p4r.Entity()
                msg_out = out.action_profile_group
                msg_out.action_profile_id = ref.id
                msg_out.group_id = group_id
                msg_out.max_size = group.max_size
                for member_id, weight in group.members.items():
                    msg_out.members.add(member_id=member_id, weight=weight)
                yield out

    return produce


# -- reconcile ----------------------------------------------------------------


def carry_profiles(old: Switch, new: Switch) -> None:
    """Give `new`'s profiles the members and groups of `old`'s with the same
    name (before table entries that point at them move over). A profile
    that holds something but is gone or changed kind fails the reconcile."""
    for name, profile in old.action_profiles.items():
        if not profile.members and not profile.groups:
            continue
        target = new.action_profiles.get(name)
        if target is None or target.with_selector != profile.with_selector:
            raise ControlPlaneError(
                "INVALID_ARGUMENT",
                f"cannot reconcile: action profile {name} holds members "
                "but the new program has no such profile",
            )
        try:
            target.copy_from(profile)
        except ControlPlaneError as error:
            raise ControlPlaneError(
                "INVALID_ARGUMENT", f"cannot reconcile: {error.message}"
            ) from error
