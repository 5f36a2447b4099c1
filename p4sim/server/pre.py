"""PacketReplicationEngineEntry <-> the runtime's multicast groups and clone
sessions.

Replica ports arrive either as the deprecated `egress_port` (uint32) or as
the 1.4 `port` byte string; both are accepted, and reads answer with `port`
(the current form). Backup replicas (1.5) are refused: v1model has no port
liveness to fall back on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from finsy.proto import p4r

from p4sim.errors import ControlPlaneError
from p4sim.runtime.pre import PacketReplicationEngine, Replica
from p4sim.server.codec import decode, encode

Undo = Callable[[], None]
_PORT_BITS = 32  # P4Runtime ports are uint32 (SDN port numbers)


def _replicas(replicas: list[p4r.Replica], what: str) -> list[Replica]:
    result = []
    for replica in replicas:
        if replica.backup_replicas:
            raise ControlPlaneError("UNIMPLEMENTED", f"{what}: backup replicas are not supported")
        kind = replica.WhichOneof("port_kind")
        if kind == "port":
            port = decode(replica.port, _PORT_BITS, f"{what}: replica port")
        else:
            port = replica.egress_port
        result.append((port, replica.instance))
    return result


def apply_pre_update(
    pre: PacketReplicationEngine, kind: int, entry: p4r.PacketReplicationEngineEntry
) -> Undo:
    """Apply one INSERT/MODIFY/DELETE; returns the change's inverse."""
    which = entry.WhichOneof("type")
    if which == "multicast_group_entry":
        return _group(pre, kind, entry.multicast_group_entry)
    if which == "clone_session_entry":
        return _session(pre, kind, entry.clone_session_entry)
    raise ControlPlaneError("INVALID_ARGUMENT", "packet_replication_engine_entry is empty")


def _group(pre: PacketReplicationEngine, kind: int, msg: p4r.MulticastGroupEntry) -> Undo:
    gid = msg.multicast_group_id
    what = f"multicast group {gid}"
    if msg.metadata:
        raise ControlPlaneError("UNIMPLEMENTED", f"{what}: metadata is not stored by p4sim")
    before = pre.group(gid)
    if kind == p4r.Update.INSERT:
        pre.create_group(gid, _replicas(list(msg.replicas), what))
        return lambda: pre.delete_group(gid)
    if kind == p4r.Update.MODIFY:
        pre.modify_group(gid, _replicas(list(msg.replicas), what))
    else:
        pre.delete_group(gid)
    assert before is not None  # modify/delete raised NOT_FOUND otherwise
    restore = before
    if kind == p4r.Update.MODIFY:
        return lambda: pre.modify_group(gid, restore)
    return lambda: pre.create_group(gid, restore)


def _session(pre: PacketReplicationEngine, kind: int, msg: p4r.CloneSessionEntry) -> Undo:
    sid = msg.session_id
    what = f"clone session {sid}"
    before = pre.session(sid)
    if kind == p4r.Update.DELETE:
        pre.delete_session(sid)
    else:
        replicas = _replicas(list(msg.replicas), what)
        write = pre.create_session if kind == p4r.Update.INSERT else pre.modify_session
        write(sid, replicas, msg.class_of_service, msg.packet_length_bytes)
    if before is None:
        return lambda: pre.delete_session(sid)
    old = before
    if kind == p4r.Update.DELETE:
        return lambda: pre.create_session(
            sid, old.replicas, old.class_of_service, old.packet_length_bytes
        )
    return lambda: pre.modify_session(
        sid, old.replicas, old.class_of_service, old.packet_length_bytes
    )


def read_pre(
    pre: PacketReplicationEngine, request: p4r.PacketReplicationEngineEntry
) -> Iterator[p4r.Entity]:
    """Groups or sessions a read selects: id 0 means all of them."""
    which = request.WhichOneof("type")
    if which == "multicast_group_entry":
        wanted = request.multicast_group_entry.multicast_group_id
        for gid, replicas in pre.groups():
            if wanted and gid != wanted:
                continue
            out = p4r.Entity()
            group = out.packet_replication_engine_entry.multicast_group_entry
            group.multicast_group_id = gid
            for port, rid in replicas:
                group.replicas.add(port=encode(port), instance=rid)
            yield out
    elif which == "clone_session_entry":
        wanted = request.clone_session_entry.session_id
        for session in pre.sessions():
            if wanted and session.session_id != wanted:
                continue
            out = p4r.Entity()
            clone = out.packet_replication_engine_entry.clone_session_entry
            clone.session_id = session.session_id
            clone.class_of_service = session.class_of_service
            clone.packet_length_bytes = session.packet_length_bytes
            for port, rid in session.replicas:
                clone.replicas.add(port=encode(port), instance=rid)
            yield out
    else:
        raise ControlPlaneError("INVALID_ARGUMENT", "packet_replication_engine_entry is empty")
