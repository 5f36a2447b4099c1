"""The controller against the forwarder on p4sim's P4Runtime server: static
state from the topology, flow entries written and removed, reconciliation
after a restart, removal on the FIN/RST digest and on idle timeout, batched
writes. What the tests check is what the switch holds, read back over
P4Runtime."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import pytest
from controller_support import (
    B1,
    B2,
    CLIENT,
    FORWARDER,
    VIP,
    Releases,
    Switch,
    client_segment,
    encap_entries,
    start_controller,
    stop_controller,
    vip_segment,
    wait_for,
)

from controller.handoff.stats import flatten
from controller.p4rt import DirectCounterEntry, Exact, Lpm, P4RuntimeClient, Update
from controller.p4rt.entities import Entity
from controller.switch.core import REMOVAL_REASONS, Controller, FlowError
from controller.switch.flowstore import INSTALLED, PENDING, QUARANTINE, Flow
from controller.switch.tables import connection_of, flow_id_of


def handed_off(controller: Controller, sport: int, backend: str = B1) -> Flow:
    flow = controller.allocate((CLIENT, sport, VIP, 80), backend, "k1")
    controller.install(flow.forwarder, flow.backend, flow.flow_id, latency_s=0.001)
    return flow


def test_topology_state_is_installed(controller: Controller) -> None:
    topo = controller.topology
    routes = {
        e.key("dst_addr"): e.action.param("port")  # type: ignore[union-attr]
        for e in controller.switch.read_table("routes")
    }
    assert routes == {Lpm(int(h.interface.ip), 32): h.port for h in topo.hosts}
    arp = {e.key("gateway_addr") for e in controller.switch.read_table("gateway_arp")}
    assert arp == {Exact(int(h.gateway)) for h in topo.hosts}
    steering = controller.switch.read_table("vip_steering")
    assert len(steering) == 64  # one entry per bucket of the one VIP
    k1 = int(topo.host("k1").interface.ip)
    assert {e.action.param("classifier") for e in steering if e.action} == {k1}


def test_install_writes_the_entry_and_remove_deletes_it(
    controller: Controller, releases: Releases
) -> None:
    flow = controller.allocate((CLIENT, 40000, VIP, 80), B1, "k1")
    assert flow.state == PENDING
    assert encap_entries(controller) == {}

    controller.install(FORWARDER, B1, flow.flow_id)
    entry = encap_entries(controller)[(CLIENT, 40000, VIP, 80)]
    assert entry.action is not None
    assert dict(entry.action.params) == {
        "flow_id": flow.flow_id, "tunnel_src": 0x0A000001, "backend": 0x0A00020B,
    }  # fmt: skip
    assert entry.idle_timeout_ns == int(controller.settings.idle_timeout_s * 1e9)
    assert controller.store.get(*flow.key).state == INSTALLED  # type: ignore[union-attr]

    assert controller.remove(FORWARDER, B1, flow.flow_id, "test", release_agent=False)
    assert encap_entries(controller) == {}
    assert controller.store.get(*flow.key).state == QUARANTINE  # type: ignore[union-attr]
    assert releases.sent == [(FORWARDER, B1, flow.flow_id)]  # installed: the agent is told


def test_failed_handoff_gives_the_id_back_without_touching_the_switch(
    controller: Controller, releases: Releases
) -> None:
    flow = controller.allocate((CLIENT, 40001, VIP, 80), B2, "k1")
    assert not controller.remove(FORWARDER, B2, flow.flow_id, "agent refused", False)
    assert controller.store.get(*flow.key).state == QUARANTINE  # type: ignore[union-attr]
    assert releases.sent == []
    with pytest.raises(FlowError) as refused:
        controller.install(FORWARDER, B2, flow.flow_id)
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert encap_entries(controller) == {}


def test_one_live_flow_per_connection_and_unknown_flows_refused(controller: Controller) -> None:
    handed_off(controller, 40002)
    with pytest.raises(FlowError) as twice:
        controller.allocate((CLIENT, 40002, VIP, 80), B2, "k1")
    assert twice.value.code == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(FlowError) as unknown:
        controller.install(FORWARDER, B1, 0x00990099)
    assert unknown.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(FlowError) as bad:
        controller.allocate(("10.0.1.300", 1, VIP, 80), B1, "k1")
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_install_is_idempotent_for_a_classifier_retrying(controller: Controller) -> None:
    flow = handed_off(controller, 40003)
    assert controller.install(FORWARDER, B1, flow.flow_id) == 0
    assert len(encap_entries(controller)) == 1


def test_restart_reconciles_stale_and_lost_entries(
    switch: Switch, tmp_path: Path, releases: Releases
) -> None:
    db = tmp_path / "flows.sqlite"
    first = start_controller(switch, db, releases)
    kept = handed_off(first, 41000)
    lost = handed_off(first, 41001)
    stop_controller(first)

    # While no controller runs, someone else's entry appears and one of ours vanishes.
    intruder = P4RuntimeClient(switch.address, election_id=3, timeout=30)
    assert intruder.connect()
    intruder.fetch_pipeline()
    current = {connection_of(e): e for e in intruder.read_table("encap_map")}
    intruder.delete(current[(CLIENT, 41001, VIP, 80)])
    stale = intruder.entities.table_entry(
        "encap_map",
        {"ipv4_src": CLIENT, "ipv4_dst": VIP, "tcp_sport": 41999, "tcp_dport": 80},
        "encap_to_backend",
        {"flow_id": 0x00050005, "tunnel_src": FORWARDER, "backend": B2},
    )
    intruder.insert(stale)
    intruder.close()

    second = start_controller(switch, db, releases)
    try:
        plan = second.last_reconcile
        assert plan is not None
        assert (plan.kept, len(plan.delete), len(plan.insert)) == (1, 1, 1)
        after = encap_entries(second)
        assert set(after) == {(CLIENT, 41000, VIP, 80), (CLIENT, 41001, VIP, 80)}
        assert flow_id_of(after[(CLIENT, 41000, VIP, 80)]) == kept.flow_id
        assert flow_id_of(after[(CLIENT, 41001, VIP, 80)]) == lost.flow_id
    finally:
        stop_controller(second)


def test_fin_digest_removes_the_entry_after_a_quiet_grace(
    switch: Switch, tmp_path: Path, releases: Releases
) -> None:
    controller = start_controller(switch, tmp_path / "f.sqlite", releases, end_grace_s=0.3)
    try:
        flow = handed_off(controller, 42000)
        other = handed_off(controller, 42001, B2)
        switch.inject(1, client_segment(42000, "FA"))
        wait_for(lambda: (CLIENT, 42000, VIP, 80) not in encap_entries(controller), 5, "removal")
        assert (CLIENT, 42001, VIP, 80) in encap_entries(controller)  # the other flow stays
        assert controller.store.get(*flow.key).state == QUARANTINE  # type: ignore[union-attr]
        assert controller.store.get(*other.key).state == INSTALLED  # type: ignore[union-attr]
        assert releases.sent == [(FORWARDER, B1, flow.flow_id)]
        samples = flatten(controller.registry)
        assert samples['p4handoff_controller_flow_removals_total{reason="fin"}'] == 1
    finally:
        stop_controller(controller)


def test_the_fins_of_a_burst_share_counter_reads(
    switch: Switch, tmp_path: Path, releases: Releases
) -> None:
    """Connections that end close together, each reported in a digest list
    of its own, have their packet counts read together: fewer Reads than
    connections, and every connection counted once."""
    controller = start_controller(switch, tmp_path / "f.sqlite", releases, end_grace_s=2.0)
    try:
        ports = range(48000, 48006)
        for port in ports:
            handed_off(controller, port)
        reads: list[int] = []
        read = controller.switch.read

        def counting_read(*entities: Entity) -> list[Entity]:
            if any(isinstance(e, DirectCounterEntry) for e in entities):
                reads.append(len(entities))
            return read(*entities)

        controller.switch.read = counting_read  # type: ignore[method-assign]
        for n, port in enumerate(ports, 1):
            switch.inject(1, client_segment(port, "FA"))
            wait_for(lambda n=n: len(controller.store.endings()) == n, 5, f"FIN {n} to be noted")  # type: ignore[misc]
        wait_for(lambda: len(controller._due) == len(ports), 5, "the ends to be counted")
        assert sum(reads) == len(ports)
        assert len(reads) < len(ports), reads
    finally:
        stop_controller(controller)


def test_a_connection_closed_on_both_sides_ends_after_its_grace_without_counter_reads(
    switch: Switch, tmp_path: Path, releases: Releases
) -> None:
    """The back-end's FIN, then the client's (an HTTP exchange that closes):
    nothing but the last ACKs can follow, so the entry goes once the grace
    is over, with no packet count read for it. A connection that only the
    client has closed is counted as before."""
    controller = start_controller(switch, tmp_path / "f.sqlite", releases, end_grace_s=0.3)
    try:
        closed = handed_off(controller, 42050)
        half = handed_off(controller, 42051)
        counted: list[tuple[str, int, str, int]] = []
        read = controller.switch.read

        def counting_read(*entities: Entity, **options: bool) -> list[Entity]:
            counted.extend(
                connection_of(e.table_entry) for e in entities if isinstance(e, DirectCounterEntry)
            )
            return read(*entities, **options)

        controller.switch.read = counting_read  # type: ignore[method-assign]
        b1_port = controller.topology.host("b1").port
        switch.inject(b1_port, vip_segment(42050, "FA"))
        switch.inject(1, client_segment(42050, "FA"))
        switch.inject(1, client_segment(42051, "FA"))
        wait_for(lambda: not encap_entries(controller), 5, "both removals")
        assert (CLIENT, 42050, VIP, 80) not in counted
        assert counted.count((CLIENT, 42051, VIP, 80)) == 2, counted  # at its FIN and after
        assert sorted(releases.sent) == sorted(
            [(FORWARDER, B1, closed.flow_id), (FORWARDER, B1, half.flow_id)]
        )
        samples = flatten(controller.registry)
        assert samples['p4handoff_controller_flow_removals_total{reason="backend_fin"}'] == 1
        assert samples['p4handoff_controller_flow_removals_total{reason="fin"}'] == 1
    finally:
        stop_controller(controller)


def test_acks_after_fin_postpone_the_removal(
    switch: Switch, tmp_path: Path, releases: Releases
) -> None:
    """A client that half-closed still acknowledges the download: its entry
    stays while packets keep hitting it."""
    controller = start_controller(switch, tmp_path / "f.sqlite", releases, end_grace_s=0.3)
    try:
        handed_off(controller, 42100)
        switch.inject(1, client_segment(42100, "FA"))
        stop = threading.Event()
        for _ in range(8):  # 0.8 s of ACKs, well past the 0.3 s grace
            switch.inject(1, client_segment(42100, "A"))
            stop.wait(0.1)
        assert (CLIENT, 42100, VIP, 80) in encap_entries(controller)
        wait_for(lambda: (CLIENT, 42100, VIP, 80) not in encap_entries(controller), 5, "removal")
    finally:
        stop_controller(controller)


def test_rst_of_an_unknown_flow_id_is_ignored(controller: Controller) -> None:
    """A digest naming another flow id than the table's (a stale report for
    an earlier connection on the same 4-tuple) removes nothing."""
    handed_off(controller, 42200)
    controller._connection_ending(
        {"client_addr": 0x0A01010A, "vip": 0x0A000064, "client_port": 42200, "vip_port": 80,
         "flow_id": 0x12341234, "tcp_flags": 0x04}
    )  # fmt: skip
    samples = flatten(controller.registry)
    assert samples['p4handoff_controller_switch_events_total{kind="digest",result="ignored"}'] == 1
    assert (CLIENT, 42200, VIP, 80) in encap_entries(controller)


def test_idle_timeout_removes_the_entry(switch: Switch, tmp_path: Path, releases: Releases) -> None:
    controller = start_controller(switch, tmp_path / "i.sqlite", releases, idle_timeout_s=0.3)
    try:
        flow = handed_off(controller, 43000)
        assert encap_entries(controller)[(CLIENT, 43000, VIP, 80)].idle_timeout_ns == 300_000_000
        wait_for(lambda: not encap_entries(controller), 5, "idle removal")
        assert controller.store.get(*flow.key).state == QUARANTINE  # type: ignore[union-attr]
        assert releases.sent == [(FORWARDER, B1, flow.flow_id)]
    finally:
        stop_controller(controller)


def test_concurrent_installs_share_writes(controller: Controller) -> None:
    flows = [controller.allocate((CLIENT, 44000 + i, VIP, 80), B1, "k1") for i in range(60)]
    before = flatten(controller.registry)["p4handoff_controller_write_batch_size_count"]
    barrier = threading.Barrier(len(flows))
    batches: list[int] = []

    def install(flow: Flow) -> None:
        barrier.wait()
        batches.append(controller.install(FORWARDER, B1, flow.flow_id))

    threads = [threading.Thread(target=install, args=(f,)) for f in flows]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(encap_entries(controller)) == 60
    writes = flatten(controller.registry)["p4handoff_controller_write_batch_size_count"] - before
    assert writes < 60 and max(batches) > 1


def test_a_flow_removed_while_its_entry_is_written_is_taken_back_out(
    controller: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The classifier gave up on one flow of a batch while the Write carrying
    the batch was on its way: that flow is answered FAILED_PRECONDITION and its
    entry deleted again; the other flow of the batch is installed."""
    kept, given_up = (controller.allocate((CLIENT, 44100 + i, VIP, 80), B1, "k1") for i in (0, 1))
    write = controller.switch.write
    removed: list[bool] = []

    def write_then_remove(updates: list[Update]) -> None:
        write(updates)
        if not removed:
            removed.append(controller.remove(FORWARDER, B1, given_up.flow_id, "test", False))

    monkeypatch.setattr(controller.switch, "write", write_then_remove)
    results = controller.install_many([
        (FORWARDER, B1, flow.flow_id, 0.0, None) for flow in (kept, given_up)
    ])  # fmt: skip
    assert removed == [False]  # pending when removed: no entry of its own to delete yet
    assert results[0] in (1, 2)  # the size of the Write that carried it
    assert isinstance(results[1], FlowError)
    assert results[1].code == grpc.StatusCode.FAILED_PRECONDITION
    assert set(encap_entries(controller)) == {(CLIENT, 44100, VIP, 80)}
    assert controller.store.get(*kept.key).state == INSTALLED  # type: ignore[union-attr]
    assert controller.store.get(*given_up.key).state == QUARANTINE  # type: ignore[union-attr]


def test_list_flows_reports_switch_counters(controller: Controller, switch: Switch) -> None:
    flow = handed_off(controller, 45000)
    pending = controller.allocate((CLIENT, 45001, VIP, 80), B2, "k1")
    for _ in range(3):
        switch.inject(1, client_segment(45000, "A"))
    listed = {f.connection.client_port: f for f in controller.list_flows(False, counters=True)}
    assert listed[45000].on_switch and listed[45000].packets == 3
    assert listed[45000].bytes == 3 * len(client_segment(45000, "A"))
    assert listed[45000].backend_name == "b1" and listed[45000].ref.flow_id == flow.flow_id
    assert listed[45001].state == PENDING and not listed[45001].on_switch
    assert listed[45001].ref.flow_id == pending.flow_id


def test_a_pending_flow_whose_classifier_vanished_is_given_back(
    switch: Switch, tmp_path: Path, releases: Releases
) -> None:
    controller = start_controller(switch, tmp_path / "p.sqlite", releases, pending_timeout_s=0.2)
    try:
        flow = controller.allocate((CLIENT, 46000, VIP, 80), B1, "k1")
        wait_for(
            lambda: controller.store.get(*flow.key).state == QUARANTINE,  # type: ignore[union-attr]
            5,
            "pending timeout",
        )
        assert releases.sent == [(FORWARDER, B1, flow.flow_id)]  # the agent might hold it
    finally:
        stop_controller(controller)


def test_a_leftover_entry_for_the_same_connection_is_replaced(controller: Controller) -> None:
    leftover = controller.switch.entities.table_entry(
        "encap_map",
        {"ipv4_src": CLIENT, "ipv4_dst": VIP, "tcp_sport": 47000, "tcp_dport": 80},
        "encap_to_backend",
        {"flow_id": 0x00090009, "tunnel_src": FORWARDER, "backend": B2},
    )
    controller.switch.insert(leftover)
    flow = handed_off(controller, 47000)
    entry = encap_entries(controller)[(CLIENT, 47000, VIP, 80)]
    assert entry.action is not None
    assert entry.action.param("flow_id") == flow.flow_id
    assert entry.action.param("backend") == 0x0A00020B


def test_removal_reasons_are_a_bounded_set_of_labels(
    switch: Switch, tmp_path: Path, releases: Releases
) -> None:
    """Whatever text a removal carries (a client's 4-tuple, an exception),
    the metric's label is one of the fixed codes; the text goes to the log
    and to `handoff trace`."""
    controller = start_controller(switch, tmp_path / "f.sqlite", releases, end_grace_s=0.2)
    try:
        reasons = [
            "lock failed: [Errno 2] 10.0.1.10:43001 -> 10.0.0.100:80 not locked",
            "freeze failed: check state failed (TCP state 8) for 10.0.1.10:43002",
            "agent_failed: cannot connect to agent 10.0.2.11:7100: [Errno 111] refused",
            "install failed",
            "commit failed: not_ready: handoff 0a1b of flow 65537 from 10.0.0.1",
            "from a script: 10.0.1.10:43006",
            "",
        ]
        for n, reason in enumerate(reasons):
            flow = handed_off(controller, 43000 + n)
            controller.remove(flow.forwarder, flow.backend, flow.flow_id, reason, True)
        handed_off(controller, 43100)
        switch.inject(1, client_segment(43100, "FA"))
        handed_off(controller, 43101)
        switch.inject(1, client_segment(43101, "R"))
        wait_for(lambda: not encap_entries(controller), 5, "the FIN and RST to end their flows")
        prefix = 'p4handoff_controller_flow_removals_total{reason="'
        labels = {
            key[len(prefix) : -2]: value
            for key, value in flatten(controller.registry).items()
            if key.startswith(prefix)
        }
        assert labels == {
            "lock_failed": 1, "freeze_failed": 1, "agent_failed": 1, "install_failed": 1,
            "commit_failed": 1, "other": 1, "removed": 1, "fin": 1, "rst": 1,
        }  # fmt: skip
        assert set(labels) <= REMOVAL_REASONS
        # The details are kept where people read them.
        assert [r for f, r, _ in controller.ended if f.client_port == 43001] == [reasons[1]]
    finally:
        stop_controller(controller)


def test_the_vip_sides_rst_and_a_reopening_syn_end_the_flow(
    switch: Switch, tmp_path: Path, releases: Releases
) -> None:
    """A back-end's RST (from the VIP to the client, flow id 0 in the digest)
    ends its flow after the grace; a SYN hitting the entry of a connection
    that is closing (a new connection on its 4-tuple) ends it at once, while
    a late copy of a live young connection's own SYN changes nothing; FINs
    and RSTs from the VIP for connections that are no flow change nothing."""
    controller = start_controller(switch, tmp_path / "f.sqlite", releases, end_grace_s=2.0)
    try:
        handed_off(controller, 44000)
        reopened = handed_off(controller, 44001)
        live = handed_off(controller, 44002)
        controller._connections_ending([
            {"client_addr": 0x0A00010A, "vip": 0x0A000064, "client_port": port, "vip_port": 80,
             "flow_id": 0, "tcp_flags": 0x04}
            for port in (44000, 44999)
        ])  # fmt: skip
        switch.inject(1, client_segment(44002, "S"))
        stale = 'p4handoff_controller_switch_events_total{kind="digest",result="stale_syn"}'
        wait_for(lambda: flatten(controller.registry).get(stale) == 1, 5, "the stale SYN")
        switch.inject(1, client_segment(44001, "FA"))
        wait_for(lambda: controller.store.endings(), 5, "the FIN to be noted")
        switch.inject(1, client_segment(44001, "S"))
        for _ in range(5):  # the new connection's segments bump the old entry's counter
            switch.inject(1, client_segment(44001, "A"))
        wait_for(lambda: (CLIENT, 44001, VIP, 80) not in encap_entries(controller), 3.0,
                 "the reopened entry to go at its grace's end, not postponed")  # fmt: skip
        assert controller.store.get(*reopened.key).state == QUARANTINE  # type: ignore[union-attr]
        wait_for(lambda: (CLIENT, 44000, VIP, 80) not in encap_entries(controller), 5,
                 "the back-end's RST to end its flow")  # fmt: skip
        reasons = {f.client_port: r for f, r, _ in controller.ended}
        assert reasons == {44000: "backend_rst", 44001: reasons[44001]}
        assert controller.store.get(*live.key).state == INSTALLED  # type: ignore[union-attr]
        assert (CLIENT, 44002, VIP, 80) in encap_entries(controller)
        assert reasons[44001].startswith("reused:")
        samples = flatten(controller.registry)
        assert samples['p4handoff_controller_flow_removals_total{reason="backend_rst"}'] == 1
        assert samples['p4handoff_controller_flow_removals_total{reason="reused"}'] == 1
        ignored = 'p4handoff_controller_switch_events_total{kind="digest",result="ignored"}'
        assert samples[ignored] == 1
    finally:
        stop_controller(controller)


def test_ends_pending_when_the_switch_is_lost_are_checked_once_active(
    switch: Switch, tmp_path: Path, releases: Releases
) -> None:
    """A FIN still in its end grace when the controller loses the switch is
    not forgotten: once active again (entries written back), the flow ends.
    Meanwhile the overdue end is not looked at again and again."""
    controller = start_controller(switch, tmp_path / "f.sqlite", releases, end_grace_s=0.3)
    try:
        flow = handed_off(controller, 45000)
        switch.inject(1, client_segment(45000, "FA"))
        wait_for(lambda: bool(controller._due), 5, "the FIN to be noted")
        checks: list[float] = []
        check_due = controller._check_due

        def counted_check() -> None:
            checks.append(time.monotonic())
            check_due()

        controller._check_due = counted_check  # type: ignore[method-assign]
        controller.deactivate()  # the switch is gone for longer than the grace
        threading.Event().wait(0.6)  # the grace passes while inactive: nothing may end
        assert controller.store.get(*flow.key).state == INSTALLED  # type: ignore[union-attr]
        assert len(checks) <= 1, f"{len(checks)} checks while inactive"
        controller.activate()
        wait_for(lambda: controller.store.get(*flow.key).state == QUARANTINE, 5,  # type: ignore[union-attr]
                 "the pending end to be checked once active")  # fmt: skip
        assert (CLIENT, 45000, VIP, 80) not in encap_entries(controller)
        assert releases.sent == [(FORWARDER, B1, flow.flow_id)]
    finally:
        stop_controller(controller)


def test_a_fin_seen_while_activating_ends_the_flow_once_active(
    switch: Switch, tmp_path: Path, releases: Releases
) -> None:
    """activate() enables the digest and writes encap_map back before it is
    active: a client's FIN retransmitted into that window is reported once,
    and is acted on when the controller is active, not dropped."""
    controller = start_controller(switch, tmp_path / "f.sqlite", releases, end_grace_s=0.3)
    try:
        flow = handed_off(controller, 45500)
        controller.deactivate()
        switch.inject(1, client_segment(45500, "FA"))
        held = 'p4handoff_controller_switch_events_total{kind="digest",result="held"}'
        wait_for(lambda: flatten(controller.registry).get(held) == 1, 5, "the FIN to be held")
        assert controller.store.get(*flow.key).state == INSTALLED  # type: ignore[union-attr]
        controller.activate()
        wait_for(lambda: controller.store.get(*flow.key).state == QUARANTINE, 5,  # type: ignore[union-attr]
                 "the held FIN to end the flow once active")  # fmt: skip
        assert (CLIENT, 45500, VIP, 80) not in encap_entries(controller)
        assert releases.sent == [(FORWARDER, B1, flow.flow_id)]
    finally:
        stop_controller(controller)


def test_ends_noted_by_a_controller_that_died_are_checked_by_the_next(
    switch: Switch, tmp_path: Path, releases: Releases
) -> None:
    """The FIN digests a controller noted are durable: killed within their
    end grace, the controller started next (same flow table) ends them."""
    first = start_controller(switch, tmp_path / "f.sqlite", releases, end_grace_s=60)
    try:
        flow = handed_off(first, 46000)
        switch.inject(1, client_segment(46000, "FA"))
        wait_for(lambda: bool(first.store.endings()), 5, "the FIN to be noted")
    finally:
        stop_controller(first)  # long before its 60 s grace
    second = start_controller(switch, tmp_path / "f.sqlite", releases, end_grace_s=0.3)
    try:
        wait_for(lambda: second.store.get(*flow.key).state == QUARANTINE, 5,  # type: ignore[union-attr]
                 "the next controller to end the flow")  # fmt: skip
        assert (CLIENT, 46000, VIP, 80) not in encap_entries(second)
        assert second.store.endings() == []
    finally:
        stop_controller(second)


def test_a_restarted_controller_releases_the_quarantined_ids_again(
    switch: Switch, tmp_path: Path
) -> None:
    """Release notices still queued when a controller dies are lost with it:
    the next one sends them again for every id in quarantine."""
    first_releases, second_releases = Releases(), Releases()
    first = start_controller(switch, tmp_path / "f.sqlite", first_releases)
    try:
        flow = handed_off(first, 47000)
        first.remove(flow.forwarder, flow.backend, flow.flow_id, "removed", True)
    finally:
        stop_controller(first)
    second = start_controller(switch, tmp_path / "f.sqlite", second_releases)
    try:
        assert second_releases.sent == [(FORWARDER, B1, flow.flow_id)]
    finally:
        stop_controller(second)
