"""Client arbitration: which StreamChannel is the primary of its role.

Per P4Runtime, controllers open a StreamChannel and send a
MasterArbitrationUpdate with an election id; per role, the stream with the
highest election id is the primary and alone may write or send packets.
Streams without an election id are backups that may only read. Every change
of primary is announced to every stream of the role: the primary gets status
OK, the others ALREADY_EXISTS (a primary exists) or NOT_FOUND (none does),
all with the primary's election id (or the highest one seen, without a
primary). When the primary's stream closes the next highest takes over.

Roles are arbitrated independently, as the specification says ("The
P4Runtime server selects a primary independently for each (device_id, role)
pair"). bmv2 differs: simple_switch_grpc (PI v0.1.2) ignores role.name and
keeps one primary per device, so a named role's stream with a higher
election id demotes the default role's primary there. Where the
specification speaks p4sim follows it (test_each_role_elects_its_own_primary).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from finsy.proto import p4r, rpc_code

from p4sim.errors import ControlPlaneError


def election_value(eid: p4r.Uint128) -> int:
    return (eid.high << 64) | eid.low


def election_message(value: int) -> p4r.Uint128:
    return p4r.Uint128(high=value >> 64, low=value & ((1 << 64) - 1))


@dataclass(eq=False)
class Controller:
    """One StreamChannel, as the arbitration sees it."""

    send: Callable[[p4r.StreamMessageResponse], bool]
    role: str | None = None  # None until the first arbitration update
    election_id: int | None = None


class Arbitration:
    def __init__(self, device_id: int) -> None:
        self.device_id = device_id
        self._roles: dict[str, list[Controller]] = {}
        self._highest: dict[str, int] = {}

    def primary(self, role: str = "") -> Controller | None:
        best: Controller | None = None
        for c in self._roles.get(role, ()):
            if c.election_id is not None and (
                best is None or c.election_id > (best.election_id or 0)
            ):
                best = c
        return best

    def primaries(self) -> list[Controller]:
        return [p for role in self._roles if (p := self.primary(role)) is not None]

    def update(self, controller: Controller, msg: p4r.MasterArbitrationUpdate) -> None:
        """Apply one arbitration request; raises the error that ends the stream."""
        if msg.device_id != self.device_id:
            raise ControlPlaneError(
                "NOT_FOUND", f"device id {msg.device_id} is not {self.device_id}"
            )
        if msg.role.HasField("config"):
            raise ControlPlaneError("UNIMPLEMENTED", "role config is not supported")
        role = msg.role.name
        if controller.role is not None and controller.role != role:
            raise ControlPlaneError("FAILED_PRECONDITION", "a stream cannot change its role")
        election = election_value(msg.election_id) if msg.HasField("election_id") else None
        members = self._roles.setdefault(role, [])
        if election is not None and any(
            c is not controller and c.election_id == election for c in members
        ):
            raise ControlPlaneError(
                "INVALID_ARGUMENT", f"election id {election} is already used in role {role!r}"
            )
        before = self.primary(role)
        before_id = before.election_id if before else None
        controller.role = role
        controller.election_id = election
        if controller not in members:
            members.append(controller)
        if election is not None:
            self._highest[role] = max(self._highest.get(role, 0), election)
        after = self.primary(role)
        if after is not before or (after is not None and after.election_id != before_id):
            self._announce(role)
        else:
            self._tell(controller, role)

    def remove(self, controller: Controller) -> None:
        role = controller.role
        if role is None:
            return
        members = self._roles.get(role, [])
        was_primary = self.primary(role) is controller
        if controller in members:
            members.remove(controller)
        if not members:
            self._roles.pop(role, None)
            self._highest.pop(role, None)
        elif was_primary:
            self._announce(role)

    def check_write(self, device_id: int, role: str, election_id: p4r.Uint128 | None) -> None:
        """PERMISSION_DENIED unless the request comes from the role's primary."""
        if device_id != self.device_id:
            raise ControlPlaneError("NOT_FOUND", f"device id {device_id} is not {self.device_id}")
        primary = self.primary(role)
        if primary is None:
            raise ControlPlaneError("PERMISSION_DENIED", f"role {role!r} has no primary controller")
        if election_id is None or election_value(election_id) != primary.election_id:
            raise ControlPlaneError(
                "PERMISSION_DENIED", "only the primary controller (highest election id) may write"
            )

    def _announce(self, role: str) -> None:
        for c in list(self._roles.get(role, ())):
            self._tell(c, role)

    def _tell(self, controller: Controller, role: str) -> None:
        primary = self.primary(role)
        msg = p4r.StreamMessageResponse()
        arb = msg.arbitration
        arb.device_id = self.device_id
        if role:
            arb.role.name = role
        shown = primary.election_id if primary else self._highest.get(role)
        if shown is not None:
            arb.election_id.CopyFrom(election_message(shown))
        if primary is controller:
            arb.status.code = rpc_code.OK
            arb.status.message = "primary"
        elif primary is not None:
            arb.status.code = rpc_code.ALREADY_EXISTS
            arb.status.message = "a primary controller exists"
        else:
            arb.status.code = rpc_code.NOT_FOUND
            arb.status.message = "no primary controller"
        controller.send(msg)
