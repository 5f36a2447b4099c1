"""The packet replication engine: multicast groups and clone sessions.

v1model hands a packet to the PRE when ingress sets `mcast_grp` (one copy per
replica of the group, each with its `egress_rid`) or calls `clone` (one copy
per replica of the session, truncated to `packet_length_bytes` when that is
not 0). The control plane writes whole groups and sessions, as P4Runtime's
`PacketReplicationEngineEntry` does; the STF runner's node-based commands
(`mc_node_create`, `mc_node_associate`) rebuild a group's replica list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from p4sim.errors import ControlPlaneError

MAX_RID = 0xFFFF  # egress_rid is bit<16>
MAX_GROUP_ID = 0xFFFF  # mcast_grp is bit<16>

Replica = tuple[int, int]  # (egress port, replication id / clone instance)


@dataclass(frozen=True, slots=True)
class CloneSession:
    session_id: int
    replicas: tuple[Replica, ...]
    class_of_service: int = 0
    packet_length_bytes: int = 0  # 0: copies are not truncated


def _replicas(what: str, replicas: Iterable[Replica]) -> tuple[Replica, ...]:
    result = tuple((int(port), int(rid)) for port, rid in replicas)
    for port, rid in result:
        if port < 0:
            raise ControlPlaneError("INVALID_ARGUMENT", f"{what}: negative egress port {port}")
        if not 0 <= rid <= MAX_RID:
            raise ControlPlaneError(
                "INVALID_ARGUMENT", f"{what}: replica instance {rid} is outside 0..{MAX_RID}"
            )
    if len(set(result)) != len(result):
        raise ControlPlaneError("INVALID_ARGUMENT", f"{what}: a (port, instance) repeats")
    return result


class PacketReplicationEngine:
    def __init__(self) -> None:
        self._groups: dict[int, tuple[Replica, ...]] = {}
        self._sessions: dict[int, CloneSession] = {}

    # -- multicast groups -------------------------------------------------

    def create_group(self, group_id: int, replicas: Iterable[Replica] = ()) -> None:
        what = f"multicast group {group_id}"
        if not 0 < group_id <= MAX_GROUP_ID:
            raise ControlPlaneError(
                "INVALID_ARGUMENT",
                f"{what}: group ids are 1..{MAX_GROUP_ID} (0 means no multicast)",
            )
        if group_id in self._groups:
            raise ControlPlaneError("ALREADY_EXISTS", f"{what} exists")
        self._groups[group_id] = _replicas(what, replicas)

    def modify_group(self, group_id: int, replicas: Iterable[Replica]) -> None:
        what = f"multicast group {group_id}"
        if group_id not in self._groups:
            raise ControlPlaneError("NOT_FOUND", f"{what} does not exist")
        self._groups[group_id] = _replicas(what, replicas)

    def delete_group(self, group_id: int) -> None:
        if self._groups.pop(group_id, None) is None:
            raise ControlPlaneError("NOT_FOUND", f"multicast group {group_id} does not exist")

    def group(self, group_id: int) -> tuple[Replica, ...] | None:
        return self._groups.get(group_id)

    def groups(self) -> Iterator[tuple[int, tuple[Replica, ...]]]:
        return iter(list(self._groups.items()))

    def replicate(self, group_id: int) -> tuple[Replica, ...]:
        """Data plane: the copies for `mcast_grp`; an unknown group yields
        none (bmv2 drops the packet)."""
        return self._groups.get(group_id, ())

    # -- clone sessions ---------------------------------------------------

    def create_session(
        self,
        session_id: int,
        replicas: Iterable[Replica],
        class_of_service: int = 0,
        packet_length_bytes: int = 0,
    ) -> None:
        if session_id in self._sessions:
            raise ControlPlaneError("ALREADY_EXISTS", f"clone session {session_id} exists")
        self._sessions[session_id] = self._session(
            session_id, replicas, class_of_service, packet_length_bytes
        )

    def modify_session(
        self,
        session_id: int,
        replicas: Iterable[Replica],
        class_of_service: int = 0,
        packet_length_bytes: int = 0,
    ) -> None:
        if session_id not in self._sessions:
            raise ControlPlaneError("NOT_FOUND", f"clone session {session_id} does not exist")
        self._sessions[session_id] = self._session(
            session_id, replicas, class_of_service, packet_length_bytes
        )

    def delete_session(self, session_id: int) -> None:
        if self._sessions.pop(session_id, None) is None:
            raise ControlPlaneError("NOT_FOUND", f"clone session {session_id} does not exist")

    def session(self, session_id: int) -> CloneSession | None:
        """Data and control plane: the session `clone` uses; None means the
        clone is dropped, as in bmv2."""
        return self._sessions.get(session_id)

    def sessions(self) -> Iterator[CloneSession]:
        return iter(list(self._sessions.values()))

    def clear(self) -> None:
        self._groups.clear()
        self._sessions.clear()

    @staticmethod
    def _session(
        session_id: int,
        replicas: Iterable[Replica],
        class_of_service: int,
        packet_length_bytes: int,
    ) -> CloneSession:
        what = f"clone session {session_id}"
        if session_id < 0:
            raise ControlPlaneError("INVALID_ARGUMENT", f"{what}: negative session id")
        if packet_length_bytes < 0 or class_of_service < 0:
            raise ControlPlaneError(
                "INVALID_ARGUMENT", f"{what}: truncation and class of service must be >= 0"
            )
        return CloneSession(
            session_id, _replicas(what, replicas), class_of_service, packet_length_bytes
        )
