"""Action profiles and selectors: tables whose entries point at shared actions.

A table with `implementation = action_profile(N)` maps its key to a *member*
(an action call the control plane created once and may share between
entries); with `action_selector(algo, N, W)` an entry may also point at a
*group* of weighted members, and the packet's `selector` keys, hashed with
the selector's algorithm, pick one member per flow.

bmv2 (simple_switch with the PI P4Runtime server) is the reference:

- a group is a list of slots, one per weight unit of each member; a packet
  takes slot `hash % len(slots)`, the hash being the algorithm's output over
  the selector keys packed as bmv2 packs hash inputs (`pack_fields`);
- the slots are ordered by bmv2 member *handle*. bmv2 gives a new member the
  lowest free handle; PI programs a weight above 1 by creating extra copies
  of the member (each with its own handle, created in ascending member id
  order when a group first needs them, deleted when no group needs them any
  more). `_Handles` and `Member.handles` replay that so a flow lands on the
  same member as on bmv2;
- an entry pointing at an empty group is a hit that runs no action (bmv2
  logs "yielded empty group" and runs its empty action).

An indirect table entry stores its reference as an `ActionCall` with one of
two reserved names (`MEMBER`, `GROUP`; not P4 identifiers) and the id as its
one argument, so `MatchTable` stores, copies and undoes it like any action;
`IndirectTable` keeps the profile's reference counts in step, which is what
lets the profile refuse to delete a member or group still in use.

One-shot programming (P4Runtime's `ActionProfileActionSet`) creates a hidden
group per entry, with hidden members, ids from `ONESHOT_BASE` up (beyond
P4Runtime's uint32 ids). It is dropped by `collect()` once no entry points
at it; the server collects at the end of each Write batch, so undoing a
batch can still point entries back at the groups it had.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from p4sim.errors import ControlPlaneError
from p4sim.runtime.tables import (
    ActionCall,
    ActionSpec,
    KeySpec,
    Matches,
    MatchTable,
    TableEntry,
    check_action_args,
)

MEMBER = "<member>"
GROUP = "<group>"
ONESHOT_BASE = 1 << 32
MAX_GROUP_SIZE = 1 << 14
"""Weight units (slots) of one group: a client may not make p4sim allocate
without bound (`@max_group_size` above it does not compile)."""
MAX_SELECTOR_SLOTS = 1 << 22
"""Slots of all the groups of one selector together."""
_REF_SPEC = ActionSpec((64,), "TABLE_ONLY")
EMPTY_ACTION: tuple[str, tuple[int, ...]] = ("", ())  # an empty group: no action label matches


def member_call(member_id: int) -> ActionCall:
    return ActionCall(MEMBER, (member_id,))


def group_call(group_id: int) -> ActionCall:
    return ActionCall(GROUP, (group_id,))


class Member:
    """One member: its action (read by the pipeline) and its bmv2 handles,
    the first its own, the others the copies that weights need."""

    __slots__ = ("action_args", "action_name", "handles")

    def __init__(self, action: ActionCall, handle: int) -> None:
        self.action_name = action.action
        self.action_args = action.args
        self.handles = [handle]

    @property
    def action(self) -> ActionCall:
        return ActionCall(self.action_name, self.action_args)


@dataclass
class Group:
    """`members` maps member id to weight in the order the controller gave
    them (reads give them back so); `slots` is the selection order."""

    members: dict[int, int]
    max_size: int
    slots: list[Member] = field(default_factory=list)


class _Handles:
    """bmv2's handle allocator: a new handle is the lowest free one."""

    def __init__(self) -> None:
        self._next = 0
        self._free: list[int] = []

    def take(self) -> int:
        if self._free:
            return heapq.heappop(self._free)
        self._next += 1
        return self._next - 1

    def give_back(self, handle: int) -> None:
        heapq.heappush(self._free, handle)

    def reserve(self, used: set[int]) -> None:
        """Start over with exactly `used` taken."""
        self._next = max(used, default=-1) + 1
        self._free = [h for h in range(self._next) if h not in used]


class ActionProfile:
    """Members, groups and the references table entries hold to them.

    `size` bounds the number of members and of groups; a group's weights
    add up to at most its `max_size`, else the selector's `max_group_size`,
    else `size` (a bound on the slots a group expands to)."""

    def __init__(
        self,
        name: str,
        size: int,
        *,
        actions: Mapping[str, ActionSpec],
        algorithm: str | None = None,
        max_group_size: int = 0,
    ) -> None:
        self.name = name
        self.size = size
        self.actions = dict(actions)
        self.algorithm = algorithm
        self.with_selector = algorithm is not None
        self.max_group_size = max_group_size
        self.members: dict[int, Member] = {}
        self.groups: dict[int, Group] = {}
        self.oneshots: dict[int, tuple[tuple[ActionCall, int], ...]] = {}
        self._member_groups: dict[int, dict[int, int]] = {}  # member -> {group: weight}
        self._refs: dict[tuple[str, int], int] = {}  # (MEMBER/GROUP, id) -> table entries
        self._handles = _Handles()
        self._next_hidden = ONESHOT_BASE
        self._hidden_members = 0
        self._slots = 0  # of all groups

    # -- members ---------------------------------------------------------

    def insert_member(self, member_id: int, action: ActionCall) -> None:
        if member_id in self.members:
            raise ControlPlaneError(
                "ALREADY_EXISTS", f"action profile {self.name}: member {member_id} exists"
            )
        self._check_action(action)
        if len(self.members) >= self.size:
            raise ControlPlaneError(
                "RESOURCE_EXHAUSTED",
                f"action profile {self.name} is full ({self.size} members)",
            )
        self.members[member_id] = Member(action, self._handles.take())

    def modify_member(self, member_id: int, action: ActionCall) -> ActionCall:
        """Give the member a new action (every group holding it follows);
        returns the old one."""
        member = self._member(member_id)
        self._check_action(action)
        old = member.action
        member.action_name, member.action_args = action.action, action.args
        return old

    def delete_member(self, member_id: int) -> ActionCall:
        member = self._member(member_id)
        groups = self._member_groups.get(member_id)
        if groups:
            raise ControlPlaneError(
                "FAILED_PRECONDITION",
                f"action profile {self.name}: member {member_id} is in group {min(groups)}",
            )
        if self._refs.get((MEMBER, member_id)):
            raise ControlPlaneError(
                "FAILED_PRECONDITION",
                f"action profile {self.name}: member {member_id} is used by a table entry",
            )
        del self.members[member_id]
        for handle in member.handles:
            self._handles.give_back(handle)
        return member.action

    def _member(self, member_id: int) -> Member:
        member = self.members.get(member_id)
        if member is None:
            raise ControlPlaneError(
                "NOT_FOUND", f"action profile {self.name} has no member {member_id}"
            )
        return member

    def _check_action(self, action: ActionCall) -> None:
        where = f"action profile {self.name}"
        spec = self.actions.get(action.action)
        if spec is None or action.action in (MEMBER, GROUP):
            raise ControlPlaneError(
                "INVALID_ARGUMENT",
                f"{where}: action {action.action} is not an action of its tables",
            )
        if spec.scope == "DEFAULT_ONLY":
            raise ControlPlaneError(
                "INVALID_ARGUMENT", f"{where}: action {action.action} is @defaultonly"
            )
        check_action_args(where, action, spec.param_widths)

    # -- groups ----------------------------------------------------------

    def insert_group(
        self, group_id: int, members: Sequence[tuple[int, int]], max_size: int = 0
    ) -> None:
        self._need_selector()
        if group_id in self.groups:
            raise ControlPlaneError(
                "ALREADY_EXISTS", f"action profile {self.name}: group {group_id} exists"
            )
        self._check_max_size(max_size)
        if len(self.groups) >= self.size:
            raise ControlPlaneError(
                "RESOURCE_EXHAUSTED", f"action profile {self.name} is full ({self.size} groups)"
            )
        weights = self._weights(group_id, members, max_size, 0)
        group = self.groups[group_id] = Group({}, max_size)
        self._set_membership(group_id, group, weights)

    def modify_group(
        self, group_id: int, members: Sequence[tuple[int, int]], max_size: int = 0
    ) -> tuple[tuple[int, int], ...]:
        """Replace the group's members; `max_size` 0 keeps the one given at
        insertion (as PI does), another value must equal it. Returns the
        old members."""
        group = self._group(group_id)
        if max_size and max_size != group.max_size:
            raise ControlPlaneError(
                "INVALID_ARGUMENT",
                f"action profile {self.name}: group {group_id} was created with max_size "
                f"{group.max_size}; it cannot change",
            )
        weights = self._weights(group_id, members, group.max_size, len(group.slots))
        old = tuple(group.members.items())
        self._set_membership(group_id, group, weights)
        return old

    def delete_group(self, group_id: int) -> Group:
        group = self._group(group_id)
        if self._refs.get((GROUP, group_id)):
            raise ControlPlaneError(
                "FAILED_PRECONDITION",
                f"action profile {self.name}: group {group_id} is used by a table entry",
            )
        self._set_membership(group_id, group, {})
        del self.groups[group_id]
        return group

    def _group(self, group_id: int) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise ControlPlaneError(
                "NOT_FOUND", f"action profile {self.name} has no group {group_id}"
            )
        return group

    def _need_selector(self) -> None:
        if not self.with_selector:
            raise ControlPlaneError(
                "INVALID_ARGUMENT",
                f"action profile {self.name} has no selector: it holds members only",
            )

    def _check_max_size(self, max_size: int) -> None:
        """The P4Runtime rules on a group's `max_size` (0: the most the
        target supports, here `max_group_size` or else `size`)."""
        where = f"action profile {self.name}"
        if max_size < 0:
            raise ControlPlaneError("INVALID_ARGUMENT", f"{where}: negative group max_size")
        if self.max_group_size and max_size > self.max_group_size:
            raise ControlPlaneError(
                "INVALID_ARGUMENT",
                f"{where}: group max_size {max_size} exceeds max_group_size {self.max_group_size}",
            )
        if max_size > min(self.size, MAX_GROUP_SIZE):
            raise ControlPlaneError(
                "RESOURCE_EXHAUSTED",
                f"{where}: group max_size {max_size} exceeds the most p4sim supports here "
                f"({min(self.size, MAX_GROUP_SIZE)})",
            )

    def group_limit(self, max_size: int) -> int:
        return max_size or self.max_group_size or min(self.size, MAX_GROUP_SIZE)

    def _weights(
        self, group_id: int, members: Sequence[tuple[int, int]], max_size: int, current: int
    ) -> dict[int, int]:
        """Check a new membership (`current`: the group's slots until now)."""
        where = f"action profile {self.name}: group {group_id}"
        weights: dict[int, int] = {}
        for member_id, weight in members:
            if weight <= 0:
                raise ControlPlaneError(
                    "INVALID_ARGUMENT", f"{where}: member {member_id} has weight {weight}"
                )
            if member_id in weights:
                raise ControlPlaneError(
                    "INVALID_ARGUMENT",
                    f"{where}: member {member_id} is listed twice (use its weight)",
                )
            if member_id not in self.members:
                raise ControlPlaneError("NOT_FOUND", f"{where}: no member {member_id}")
            weights[member_id] = weight
        total = sum(weights.values())
        limit = self.group_limit(max_size)
        if total > limit:
            raise ControlPlaneError(
                "RESOURCE_EXHAUSTED", f"{where}: weights add up to {total}, more than {limit}"
            )
        self._room_for_slots(total - current)
        return weights

    def _room_for_slots(self, more: int) -> None:
        if self._slots + more > MAX_SELECTOR_SLOTS:
            raise ControlPlaneError(
                "RESOURCE_EXHAUSTED",
                f"action profile {self.name}: its groups would hold over "
                f"{MAX_SELECTOR_SLOTS} weighted members",
            )

    def _set_membership(self, group_id: int, group: Group, weights: dict[int, int]) -> None:
        touched = sorted(set(group.members) | set(weights))
        for member_id in touched:
            if member_id in weights:
                self._member_groups.setdefault(member_id, {})[group_id] = weights[member_id]
                member = self.members[member_id]
                while len(member.handles) < weights[member_id]:
                    member.handles.append(self._handles.take())
            else:
                held = self._member_groups[member_id]
                del held[group_id]
                if not held:
                    del self._member_groups[member_id]
        group.members = weights
        for member_id in touched:
            self._drop_unused_copies(member_id)
        self._fill_slots(group)

    def _fill_slots(self, group: Group) -> None:
        slots = [
            (member.handles[i], member)
            for member_id, weight in group.members.items()
            for member in (self.members[member_id],)
            for i in range(weight)
        ]
        slots.sort(key=lambda slot: slot[0])
        self._slots += len(slots) - len(group.slots)
        group.slots = [member for _, member in slots]

    def _drop_unused_copies(self, member_id: int) -> None:
        member = self.members[member_id]
        needed = max(self._member_groups.get(member_id, {}).values(), default=1)
        while len(member.handles) > needed:
            self._handles.give_back(member.handles.pop())

    def copy_from(self, other: ActionProfile) -> None:
        """Take over the members, groups and one-shot groups of `other` (the
        same profile in the program a reconcile replaces), with their ids and
        handles, so every flow keeps its member."""
        if len(other.members) > self.size or len(other.groups) > self.size:
            raise ControlPlaneError(
                "RESOURCE_EXHAUSTED",
                f"action profile {self.name}: {len(other.members)} members and "
                f"{len(other.groups)} groups do not fit its size {self.size}",
            )
        for member in other.members.values():
            self._check_action(member.action)
        used: set[int] = set()
        for member_id, member in other.members.items():
            copy = self.members[member_id] = Member(member.action, member.handles[0])
            copy.handles = list(member.handles)
            used.update(member.handles)
        self._handles.reserve(used)
        for group_id, group in other.groups.items():
            mine = self.groups[group_id] = Group(dict(group.members), group.max_size)
            for member_id, weight in group.members.items():
                self._member_groups.setdefault(member_id, {})[group_id] = weight
            self._fill_slots(mine)
        self.oneshots = dict(other.oneshots)
        self._next_hidden = other._next_hidden
        self._hidden_members = other._hidden_members

    # -- one-shot groups ---------------------------------------------------

    def insert_oneshot(self, actions: Sequence[tuple[ActionCall, int]]) -> int:
        """A hidden group with one hidden member per weight unit of each
        action, in order, as PI builds a one-shot; returns its id."""
        self._need_selector()
        where = f"action profile {self.name}: one-shot action set"
        if not actions:
            raise ControlPlaneError("UNIMPLEMENTED", f"{where} is empty (an empty group)")
        for action, weight in actions:
            if weight <= 0:
                raise ControlPlaneError(
                    "INVALID_ARGUMENT", f"{where}: action {action.action} has weight {weight}"
                )
            self._check_action(action)
        total = sum(weight for _, weight in actions)
        if self.max_group_size and total > self.max_group_size:
            raise ControlPlaneError(
                "INVALID_ARGUMENT",
                f"{where}: weights add up to {total}, more than max_group_size "
                f"{self.max_group_size}",
            )
        if total > self.group_limit(0):
            raise ControlPlaneError(
                "RESOURCE_EXHAUSTED",
                f"{where}: weights add up to {total}, more than {self.group_limit(0)}",
            )
        self._room_for_slots(total)
        if len(self.members) + total > self.size or len(self.groups) >= self.size:
            raise ControlPlaneError(
                "RESOURCE_EXHAUSTED", f"action profile {self.name} is full ({self.size})"
            )
        weights: dict[int, int] = {}
        for action, weight in actions:
            for _ in range(weight):
                member_id = self._hidden_id()
                self.members[member_id] = Member(action, self._handles.take())
                weights[member_id] = 1
        self._hidden_members += total
        group_id = self._hidden_id()
        group = self.groups[group_id] = Group({}, total)
        self._set_membership(group_id, group, weights)
        self.oneshots[group_id] = tuple(actions)
        return group_id

    def _hidden_id(self) -> int:
        self._next_hidden += 1
        return self._next_hidden - 1

    def collect(self) -> None:
        """Drop the one-shot groups no table entry points at any more."""
        for group_id in [g for g in self.oneshots if not self._refs.get((GROUP, g))]:
            group = self.groups[group_id]
            hidden = list(group.members)
            self._set_membership(group_id, group, {})
            del self.groups[group_id]
            del self.oneshots[group_id]
            for member_id in hidden:
                self.delete_member(member_id)
            self._hidden_members -= len(hidden)

    def manual_in_use(self) -> bool:
        """Whether the controller created members or groups itself (P4Runtime
        forbids mixing that with one-shot programming)."""
        return len(self.members) > self._hidden_members or len(self.groups) > len(self.oneshots)

    def client_members(self) -> list[int]:
        return sorted(m for m in self.members if m < ONESHOT_BASE)

    def client_groups(self) -> list[int]:
        return sorted(g for g in self.groups if g < ONESHOT_BASE)

    # -- references from table entries ---------------------------------------

    def acquire(self, action: ActionCall) -> None:
        """Count a table entry's reference; NOT_FOUND for a missing target.
        A direct action (as STF writes) needs no bookkeeping."""
        if action.action == MEMBER:
            self._member(action.args[0])
        elif action.action == GROUP:
            self._need_selector()
            self._group(action.args[0])
        else:
            return
        key = (action.action, action.args[0])
        self._refs[key] = self._refs.get(key, 0) + 1

    def release(self, action: ActionCall) -> None:
        if action.action not in (MEMBER, GROUP):
            return
        key = (action.action, action.args[0])
        left = self._refs[key] - 1
        if left:
            self._refs[key] = left
        else:
            del self._refs[key]

    # -- data plane ----------------------------------------------------------

    def member_action(self, member_id: int) -> tuple[str, tuple[int, ...]]:
        member = self.members[member_id]
        return member.action_name, member.action_args

    def pick(self, group_id: int, hash_value: int) -> tuple[str, tuple[int, ...]]:
        slots = self.groups[group_id].slots
        if not slots:
            return EMPTY_ACTION
        member = slots[hash_value % len(slots)]
        return member.action_name, member.action_args


class IndirectTable(MatchTable):
    """A `MatchTable` whose entries point at members or groups of `profile`
    (or hold a direct action, which is how STF fills such a table). Every
    change of an entry's action passes through here so the profile's
    reference counts stay exact; `rebind` is the way for code that restores
    a stored entry in place."""

    def __init__(
        self,
        name: str,
        keys: Sequence[KeySpec],
        size: int,
        default_action: ActionCall,
        default_is_const: bool = False,
        *,
        actions: Mapping[str, ActionSpec],
        profile: ActionProfile,
    ) -> None:
        specs = dict(actions)
        specs[MEMBER] = _REF_SPEC
        specs[GROUP] = _REF_SPEC
        super().__init__(name, keys, size, default_action, default_is_const, actions=specs)
        self.profile = profile

    def insert(self, entry: TableEntry) -> None:
        self.profile.acquire(entry.action)
        try:
            super().insert(entry)
        except ControlPlaneError:
            self.profile.release(entry.action)
            raise

    def modify(self, entry: TableEntry) -> TableEntry:
        old = self.get(entry.matches, entry.priority)
        if old is None:
            return super().modify(entry)  # raises NOT_FOUND
        before = old.action
        self.profile.acquire(entry.action)
        try:
            stored = super().modify(entry)
        except ControlPlaneError:
            self.profile.release(entry.action)
            raise
        self.profile.release(before)
        return stored

    def delete(self, matches: Matches, priority: int = 0) -> TableEntry:
        stored = super().delete(matches, priority)
        self.profile.release(stored.action)
        return stored

    def clear(self) -> None:
        removed = [e.action for e in self.entries() if not e.is_const]
        super().clear()
        for action in removed:
            self.profile.release(action)

    def rebind(self, stored: TableEntry, action: ActionCall) -> None:
        """Point a stored entry at `action` (undoing a MODIFY)."""
        self.profile.acquire(action)
        self.profile.release(stored.action)
        stored.action = action


__all__ = [
    "EMPTY_ACTION",
    "GROUP",
    "MEMBER",
    "ONESHOT_BASE",
    "ActionProfile",
    "Group",
    "IndirectTable",
    "Member",
    "group_call",
    "member_call",
]
