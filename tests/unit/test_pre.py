"""The packet replication engine: multicast groups and clone sessions."""

from __future__ import annotations

import pytest

from p4sim.errors import ControlPlaneError
from p4sim.runtime.pre import CloneSession, PacketReplicationEngine


def code(call: object) -> str:
    assert callable(call)
    with pytest.raises(ControlPlaneError) as exc:
        call()
    return exc.value.code


def test_a_group_replicates_in_the_order_written() -> None:
    pre = PacketReplicationEngine()
    pre.create_group(1, [(3, 10), (1, 11), (2, 12)])
    assert pre.replicate(1) == ((3, 10), (1, 11), (2, 12))


def test_unknown_group_replicates_nothing() -> None:
    assert PacketReplicationEngine().replicate(7) == ()


def test_group_writes_report_duplicates_and_unknown_ids() -> None:
    pre = PacketReplicationEngine()
    pre.create_group(5, [(1, 0)])
    assert code(lambda: pre.create_group(5, [])) == "ALREADY_EXISTS"
    assert code(lambda: pre.modify_group(6, [])) == "NOT_FOUND"
    assert code(lambda: pre.delete_group(6)) == "NOT_FOUND"
    assert code(lambda: pre.create_group(0, [])) == "INVALID_ARGUMENT"
    assert code(lambda: pre.create_group(8, [(1, 0), (1, 0)])) == "INVALID_ARGUMENT"
    assert code(lambda: pre.create_group(8, [(1, 0x10000)])) == "INVALID_ARGUMENT"
    pre.modify_group(5, [(2, 1), (2, 2)])
    assert pre.group(5) == ((2, 1), (2, 2))
    pre.delete_group(5)
    assert pre.group(5) is None


def test_clone_sessions_keep_truncation_and_class_of_service() -> None:
    pre = PacketReplicationEngine()
    pre.create_session(100, [(64, 1)], class_of_service=2, packet_length_bytes=128)
    assert pre.session(100) == CloneSession(100, ((64, 1),), 2, 128)
    assert code(lambda: pre.create_session(100, [])) == "ALREADY_EXISTS"
    pre.modify_session(100, [(5, 0), (6, 0)])
    session = pre.session(100)
    assert session is not None
    assert session.replicas == ((5, 0), (6, 0)) and session.packet_length_bytes == 0
    pre.delete_session(100)
    assert pre.session(100) is None
    assert code(lambda: pre.delete_session(100)) == "NOT_FOUND"
    assert code(lambda: pre.modify_session(1, [])) == "NOT_FOUND"
    assert code(lambda: pre.create_session(1, [], packet_length_bytes=-1)) == "INVALID_ARGUMENT"


def test_clear_forgets_groups_and_sessions() -> None:
    pre = PacketReplicationEngine()
    pre.create_group(1, [(1, 1)])
    pre.create_session(1, [(1, 1)])
    pre.clear()
    assert list(pre.groups()) == [] and list(pre.sessions()) == []
