"""Flow ids leased to classifiers in blocks (LeaseFlowIds) and bound to
their connection by InstallFlow, against the forwarder on p4sim: no id is
live twice, a leased id is no flow until it is bound, an InstallFlow retry
is idempotent, a connection taken anew supersedes its old flow, and unused
leases expire like pending ids."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from controller_support import (
    B1,
    CLIENT,
    FORWARDER,
    VIP,
    Releases,
    Switch,
    encap_entries,
    start_controller,
    stop_controller,
    wait_for,
)

from controller.switch.core import MAX_LEASE, Controller, FlowError
from controller.switch.flowstore import INSTALLED, LEASED, QUARANTINE
from controller.switch.tables import flow_id_of


def test_leased_ids_are_distinct_from_each_other_and_from_allocated_ones(
    controller: Controller,
) -> None:
    allocated = controller.allocate((CLIENT, 45000, VIP, 80), B1, "k1")
    leased = controller.lease(B1, "k1", 50) + controller.lease(B1, "k2", 50)
    ids = [f.flow_id for f in leased] + [allocated.flow_id]
    assert len(set(ids)) == 101
    assert all(f.state == LEASED and f.forwarder == FORWARDER for f in leased)
    assert len(controller.lease(B1, "k1", 10 * MAX_LEASE)) == MAX_LEASE
    # A lease is no flow: not listed, nothing on the switch.
    assert [f.ref.flow_id for f in controller.list_flows(True, False)] == [allocated.flow_id]


def test_install_with_the_connection_binds_a_lease_and_writes_the_entry(
    controller: Controller,
) -> None:
    lease = controller.lease(B1, "k1", 2)[0]
    conn = (CLIENT, 45100, VIP, 80)
    assert controller.install(FORWARDER, B1, lease.flow_id, 0.001, conn) >= 1
    flow = controller.store.get(*lease.key)
    assert flow is not None and flow.state == INSTALLED
    assert (flow.client_ip, flow.client_port, flow.vip, flow.vip_port) == conn
    assert flow_id_of(encap_entries(controller)[conn]) == lease.flow_id
    # A retried InstallFlow (its answer lost) is answered without a change.
    assert controller.install(FORWARDER, B1, lease.flow_id, 0.001, conn) == 0
    # The bound id cannot be bound to another connection.
    with pytest.raises(FlowError) as refused:
        controller.install(FORWARDER, B1, lease.flow_id, 0.001, (CLIENT, 45101, VIP, 80))
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_a_new_handoff_of_a_connection_supersedes_its_old_flow(
    controller: Controller, releases: Releases
) -> None:
    conn = (CLIENT, 45200, VIP, 80)
    first, second = controller.lease(B1, "k1", 2)
    controller.install(FORWARDER, B1, first.flow_id, 0.0, conn)
    controller.install(FORWARDER, B1, second.flow_id, 0.0, conn)
    old = controller.store.get(*first.key)
    assert old is not None and old.state == QUARANTINE
    assert (FORWARDER, B1, first.flow_id) in releases.sent
    assert flow_id_of(encap_entries(controller)[conn]) == second.flow_id


def test_a_removed_lease_is_quarantined_and_cannot_be_installed(controller: Controller) -> None:
    lease = controller.lease(B1, "k1", 1)[0]
    assert controller.remove(FORWARDER, B1, lease.flow_id, "agent_failed: refused", False) is False
    with pytest.raises(FlowError) as refused:
        controller.install(FORWARDER, B1, lease.flow_id, 0.0, (CLIENT, 45300, VIP, 80))
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert not encap_entries(controller)


def test_unused_leases_expire_like_pending_ids(
    switch: Switch, tmp_path: Path, releases: Releases
) -> None:
    controller = start_controller(
        switch, tmp_path / "l.sqlite", releases, pending_timeout_s=0.3
    )
    try:
        leased = controller.lease(B1, "k1", 3)
        expected = sorted((FORWARDER, B1, f.flow_id) for f in leased)
        # The ids are quarantined first and their agent told after, so the
        # wait is for the notices; the states must be final by then.
        wait_for(lambda: sorted(releases.sent) == expected, 5, "the agent to be told")
        for lease in leased:
            ended = controller.store.get(*lease.key)
            assert ended is not None and ended.state == QUARANTINE
    finally:
        stop_controller(controller)


def test_a_lease_given_back_keeps_the_connection_it_was_used_for(
    controller: Controller,
) -> None:
    """A handoff that failed before InstallFlow names its connection in
    RemoveFlow, so the ended flow is listed (and traced) by it."""
    lease = controller.lease(B1, "k1", 1)[0]
    conn = (CLIENT, 45400, VIP, 80)
    assert controller.remove(FORWARDER, B1, lease.flow_id, "agent_failed: x", False, conn) is False
    ended = controller.store.get(*lease.key)
    assert ended is not None and ended.state == QUARANTINE
    assert (ended.client_ip, ended.client_port, ended.vip, ended.vip_port) == conn
    listed = [(f.connection.client_port, f.state) for f in controller.list_flows(True, False)]
    assert listed == [(45400, QUARANTINE)]
