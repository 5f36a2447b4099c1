"""Fault injection on the whole system as `handoff lab up` builds it.

One lab for the module (tests/system/faults_support.FaultLab over the lab harness
controller.lab.session: the basic topology, with a policy that lets a
request pick its back-end). Each test injects one fault
while connections are being handed off, restores the lab, and asserts:

* what each client saw: its upload and download complete with the right
  SHA-256, or it gets a clean error answer (the classifier's 503); never a
  hang (every client has a deadline), and no RST from the handoff: none
  reaches a client before its server's FIN, none leaves the classifier;
* afterwards, nothing leaked: no encap_map entry on the switch (P4Runtime
  Read), no decapsulation mapping in any back-end (nft), no flow id out of
  quarantine (the controller's ListFlows).

Where the fault itself makes a broken connection or a RST unavoidable, the
test's docstring says so. Needs root, iproute2 (ip, tc), nftables and ethtool.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import bring_up
from e2e_support import BACKENDS, PIN_POLICY
from faults_support import (
    AckStream,
    ClientBatch,
    ClientStream,
    Exchange,
    FaultLab,
    Impairment,
    LinkImpairment,
    ResetWatch,
    clients,
    netem_available,
    no_reset_from_the_handoff,
    summary,
    unexpected,
)

from controller.lab.processes import alive
from controller.lab.session import wait_for

KB, MB = 1 << 10, 1 << 20


FAULT_TOOLS = ("ip", "tc", "nft", "ethtool", "ss")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, target: str) -> Iterator[FaultLab]:
    yield from bring_up(tmp_path_factory, target, tag="f", tools=FAULT_TOOLS,
                        policy=PIN_POLICY, session=FaultLab)  # fmt: skip


@pytest.fixture
def faults(lab: FaultLab) -> Iterator[FaultLab]:
    """The module's lab, whole: a test that could not restore it fails here,
    in the next test, rather than passing on a broken lab; and afterwards
    settled, so what a failed test left held does not fail the next one."""
    lab.wait_whole()
    yield lab
    lab.settle()


@pytest.fixture
def resets(lab: FaultLab) -> Iterator[ResetWatch]:
    watch = ResetWatch(lab)
    try:
        yield watch
    finally:
        watch.close()


@pytest.fixture(scope="module")
def netem() -> bool:
    return netem_available()


def frozen(lab: FaultLab) -> int:
    """Connections the classifier has frozen (its `freeze` step count); the
    blob leaves for the agent right after. Flow ids come from blocks leased
    ahead, so the controller knows a flow only once InstallFlow binds it."""
    latency = lab.latencies("k1").get("freeze")
    return latency.count if latency is not None else 0


def agent_answers(lab: FaultLab) -> int:
    """Handoffs the agents have answered (the classifier's `agent` step count)."""
    latency = lab.latencies("k1").get("agent")
    return latency.count if latency is not None else 0


def resume_or_restart_agent(lab: FaultLab, host: str) -> None:
    """Whatever a test did to the agent, leave it running."""
    if alive(lab.record(f"agent-{host}").pid):
        lab.signal(f"agent-{host}", signal.SIGCONT)
    else:
        lab.restart_agent(host)


def changes(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


# A killed agent's sockets close at once; this is ample time for the
# classifier's event loop to see its agent connection end, so a handoff
# started after it cannot go out on the dead connection.
SEE_CLOSE_S = 0.2


# ---------------------------------------------------------------- lossy links


@pytest.mark.parametrize(
    ("host", "pinned"), [("c1", None), ("b1", "b1")], ids=["client-link", "backend-link"]
)
def test_loss_duplicates_and_reordering_on_a_link_during_handoffs(
    faults: FaultLab, resets: ResetWatch, netem: bool, host: str, pinned: str | None
) -> None:
    """1 % loss, 1 % duplicates and 25 % of the frames reordered with a 5 ms
    delay on everything `host` sends (tc netem `delay 5ms reorder 25%`; on
    kernels without sch_netem an equivalent tc/nft setup that holds a random
    quarter back a few ms), while 24 clients are handed off in the middle of
    their uploads (the classifier decides on the first bytes; the rest of the
    body is still arriving). Every byte arrives, both ways.

    On the back-end's link, duplicated or reordered segments that reach a
    connection after the server closed it are answered with a RST by the
    server's kernel, as any TCP does, handoff or not; the client has its whole
    answer by then. Those are counted apart (after the server's FIN) and
    allowed."""
    plans = [
        Exchange(upload=256 * KB, download=512 * KB, backend=pinned, seed=i) for i in range(24)
    ]
    with LinkImpairment(faults, host, Impairment(), netem=netem) as link:
        outcomes = clients(faults, plans, timeout=60)
        stats = link.stats()
    assert unexpected(outcomes, {"ok"}) == [], summary(outcomes)
    assert {o.backend for o in outcomes} == ({pinned} if pinned else set(BACKENDS))
    assert stats.dropped > 0, f"{link} dropped nothing: {stats}"
    assert stats.duplicated is None or stats.duplicated > 0, f"{link}: {stats}"
    assert stats.delayed is None or stats.delayed > 0, f"{link}: {stats}"
    no_reset_from_the_handoff(resets)
    faults.assert_nothing_leaked()


# ---------------------------------------------------------------- the agent


def test_killed_agent_costs_a_clean_503_and_its_backend_leaves_the_pools(
    faults: FaultLab, resets: ResetWatch
) -> None:
    """b1's agent is SIGKILLed between handoffs. The next handoff to it
    cannot connect: the classifier thaws that connection, answers 503 and
    takes b1 out of its pools at once; requests pinned to b1 then get the 503
    without a handoff attempt, the others go to b2 and b3. Restarted with its
    lab.json command line, the agent is back in the pools and takes
    handoffs again."""
    before = faults.outcomes()
    faults.kill("agent-b1")
    time.sleep(SEE_CLOSE_S)
    try:
        # One at a time, pinned to b1 first: the order of decisions is known.
        outcomes = [
            clients(faults, [Exchange(backend="b1" if i % 2 == 0 else None, seed=i)], 20)[0]
            for i in range(8)
        ]
        assert "b1" not in faults.live_backends()
    finally:
        faults.restart_agent("b1")
    pinned, free = outcomes[0::2], outcomes[1::2]
    assert [(o.kind, o.status, o.backend) for o in pinned] == [("refused", 503, "k1")] * 4
    assert [o.kind for o in free] == ["ok"] * 4 and {o.backend for o in free} == {"b2", "b3"}
    assert changes(before, faults.outcomes()) == {
        "recovered": 1, "no_match": 3, "handed_off": 4,
    }  # fmt: skip
    faults.wait_whole()
    (again,) = clients(faults, [Exchange(backend="b1", seed=99)], 20)
    assert (again.kind, again.backend) == ("ok", "b1"), again
    no_reset_from_the_handoff(resets)
    faults.assert_nothing_leaked()


def test_agent_killed_with_handoffs_in_flight_they_are_recovered(
    faults: FaultLab, resets: ResetWatch
) -> None:
    """b1's agent is stopped (SIGSTOP), three handoffs to it wait unread in
    its socket, then it is SIGKILLed and restarted as the lab starts it. None
    of the three was committed, so the classifier must recover all three: an
    answer (at worst its clean 503) within the clients' deadline, no RST."""
    faults.signal("agent-b1", signal.SIGSTOP)
    plans = [Exchange(upload=16 * KB, download=16 * KB, backend="b1", seed=i) for i in range(3)]
    before = frozen(faults)
    try:
        with ClientBatch(faults, plans, timeout=8) as batch:
            wait_for(lambda: frozen(faults) == before + 3, 5, "three handoffs sent to b1")
            faults.kill("agent-b1")
            faults.restart_agent("b1")
        outcomes = batch.outcomes()
    finally:
        resume_or_restart_agent(faults, "b1")
    assert unexpected(outcomes, {"ok", "refused"}) == [], summary(outcomes)
    no_reset_from_the_handoff(resets)
    faults.assert_nothing_leaked()


# ---------------------------------------------------------------- the controller


def test_controller_killed_between_blob_and_switch_write_is_restarted_and_reconciles(
    faults: FaultLab, resets: ResetWatch
) -> None:
    """The controller is stopped (SIGSTOP) before three handoffs to b1: the
    agent restores them and answers ready, but the InstallFlow calls sent
    alongside the blobs hang on a controller that cannot answer, so no entry
    is written and b1 holds no mapping (it comes with the commit). The
    controller is SIGKILLed and started again with its lab.json command line;
    it rebuilds its view from its flow table and the switch, the classifier's
    retried InstallFlow calls land on it, the commits follow, and the three
    connections carry on with every byte; their entries are on the switch
    while they last and go with them."""
    plans = [
        Exchange(upload=256 * KB, download=256 * KB, backend="b1", seed=i, pause_s=1.0)
        for i in range(3)
    ]
    before, answered = frozen(faults), agent_answers(faults)
    faults.signal("controller", signal.SIGSTOP)
    try:
        with ClientBatch(faults, plans, timeout=40) as batch:
            wait_for(lambda: frozen(faults) == before + 3, 5, "three handoffs sent to b1")
            wait_for(lambda: agent_answers(faults) == answered + 3, 5, "b1 ready for the three")
            assert faults.switch_entries() == []  # the blobs are in, the entries are not
            assert faults.decap_flow_ids("b1") == []  # nothing reaches the ready sockets
            faults.kill("controller")
            faults.restart_controller()

            def installed() -> bool:
                flows = faults.held_flows()
                return len(flows) == 3 and all(
                    f.state == "installed" and f.on_switch for f in flows
                )

            wait_for(installed, 15, "the new controller to install the three flows")
            flow_ids = sorted(f.flow_id for f in faults.held_flows())
            assert sorted(e.flow_id for e in faults.switch_entries()) == flow_ids
            wait_for(lambda: faults.decap_flow_ids("b1") == flow_ids, 10, "the three commits")
        outcomes = batch.outcomes()
    finally:
        if alive(faults.record("controller").pid):
            faults.signal("controller", signal.SIGCONT)  # still stopped if the test failed early
        else:
            faults.restart_controller()
    assert [(o.kind, o.backend) for o in outcomes] == [("ok", "b1")] * 3, summary(outcomes)
    no_reset_from_the_handoff(resets)
    faults.assert_nothing_leaked()


# ---------------------------------------------------------------- the switch


def test_restarted_switch_gets_everything_back_and_live_transfers_finish(
    faults: FaultLab, resets: ResetWatch
) -> None:
    """p4sim is SIGKILLed while three handed-off connections are between
    their upload and their download, and started again, empty, with its
    lab.json command line. Their clients send the download requests into the
    dead switch. The controller sees its stream end, reconnects and pushes
    the pipeline, the routes, gateway ARP and VIP steering, and the installed
    flows; TCP retransmits the requests and the 12 MB downloads cross the
    restarted switch with every byte. The classifier's heartbeats, cut with
    the switch, bring every back-end back, and new connections are handed
    off as before. (The connections wait for the kill: a transfer that
    finished just before it could lose its end digest with the switch, and
    then only the idle timeout, 120 s, ends its flow.)"""
    hold = threading.Event()
    plans = [Exchange(upload=512 * KB, download=12 * MB, seed=i, hold=hold) for i in range(3)]
    with ClientBatch(faults, plans, timeout=60) as batch:
        try:

            def installed() -> bool:
                flows = faults.held_flows()
                return len(flows) == 3 and all(f.state == "installed" for f in flows)

            wait_for(installed, 15, "three flows installed")
            held = faults.leaks()  # what the leak checks see while connections live
            assert len(held.entries) == 3, held
            assert sorted(len(held.decap[b]) for b in BACKENDS) == [1, 1, 1], held
            assert len(held.flows) == 3, held
            faults.kill("switch")
        finally:
            hold.set()
        faults.restart_switch()
        wait_for(lambda: sorted(faults.switch_entries()) == sorted(held.entries), 20,
                 "the controller to reinstall the three flows")  # fmt: skip
    outcomes = batch.outcomes()
    assert unexpected(outcomes, {"ok"}) == [], summary(outcomes)
    assert {o.backend for o in outcomes} == set(BACKENDS)
    faults.wait_whole()
    after = clients(faults, [Exchange(seed=10 + i) for i in range(3)], 20)
    assert [o.kind for o in after] == ["ok"] * 3, summary(after)
    no_reset_from_the_handoff(resets)
    faults.assert_nothing_leaked()


def test_restarted_switch_never_steers_a_handed_off_connection_to_the_classifier(
    faults: FaultLab, resets: ResetWatch
) -> None:
    """A handed-off connection's client keeps sending while the switch
    restarts (here a stream of ACK segments of its 4-tuple, one every
    0.5 ms, numbered outside its window so they cannot disturb it). Until its
    encap_map entry is back none may reach the classifier, which holds no
    socket for it and would answer with a RST. The window is a few
    milliseconds, and whether p4sim forwards a segment inside it depends on
    scheduling, so the switch is restarted up to four times."""
    hold = threading.Event()
    plans = [Exchange(upload=KB, download=KB, seed=30, hold=hold)]
    with ClientBatch(faults, plans, timeout=60) as batch:
        try:
            wait_for(
                lambda: [f.state for f in faults.held_flows()] == ["installed"], 10, "one flow"
            )
            (flow,) = faults.held_flows()
            with AckStream(faults, flow.client_port) as acks:
                for _ in range(4):
                    time.sleep(0.1)
                    faults.kill("switch")
                    faults.restart_switch()
                    wait_for(lambda: [e.client_port for e in faults.switch_entries()]
                             == [flow.client_port], 20, "its entry to be back")  # fmt: skip
                    time.sleep(0.1)
                    if resets.counts()["classifier_sent"]:
                        break
        finally:
            hold.set()
    outcomes = batch.outcomes()
    assert acks.sent > 0 and [o.kind for o in outcomes] == ["ok"], summary(outcomes)
    faults.assert_nothing_leaked()
    counts = resets.counts()
    assert counts["classifier_sent"] == 0, resets.report()


def test_connections_that_closed_just_before_the_switch_died_release_everything(
    faults: FaultLab, resets: ResetWatch
) -> None:
    """Three connections close; within their end grace (2 s) the switch dies,
    and it comes back 3 s later. Those connections are over: the restarted
    switch must not get their entries back, and their mappings and flow ids
    must go as they would have without the outage."""
    noted = 'p4handoff_controller_switch_events_total{kind="digest",result="scheduled"}'

    def ends_noted() -> int:
        return int(faults.controller_stats().counters.get(noted, 0))

    before = ends_noted()
    outcomes = clients(faults, [Exchange(seed=40 + i) for i in range(3)], 20)
    ports = {o.client_port for o in outcomes}
    try:
        # The premise: the controller has seen the three connections end
        # (their FIN digests) and is waiting out their grace. (A digest the
        # switch takes down with it is lost: then only the idle timeout ends
        # the flow.)
        wait_for(lambda: ends_noted() >= before + 3, 5, "the three ends to be noted")
        faults.kill("switch")
        time.sleep(3.0)
        faults.restart_switch()
        wait_for(faults.controller_serves, 20, "the controller to serve again")
        assert [o.kind for o in outcomes] == ["ok"] * 3, summary(outcomes)
        no_reset_from_the_handoff(resets)
        faults.assert_nothing_leaked(timeout=10)
    finally:
        # What the lingering entries would otherwise hold for the next tests.
        faults.end_flows(ports, "test cleanup after the switch outage")


# ---------------------------------------------------------------- a back-end goes away


def test_backend_whose_application_and_agent_die_leaves_the_pools(
    faults: FaultLab, resets: ResetWatch
) -> None:
    """b3's demo application and agent are SIGKILLed while four clients keep
    connecting (none in the middle of its handoff: the kill waits for those to
    settle). Connections b3 was serving die with it: their clients see the
    connection end early (a FIN, or a RST if the dead application left
    unread bytes), which nothing can avoid when the server is gone. Every
    other client completes with every byte or, routed to b3 before the
    classifier noticed, gets its 503; none hangs. Once the health checks took
    b3 out, connections go to b1 and b2 only. Restarted, b3 serves again."""
    make = lambda i: Exchange(upload=16 * KB, download=256 * KB, seed=i, pause_s=0.3)  # noqa: E731
    with ClientStream(faults, make, workers=4, timeout=15) as stream:
        time.sleep(1.0)
        stream.quiesce()
        killed_at = time.monotonic()
        faults.kill("agent-b3")
        faults.kill("backend-b3")
        time.sleep(SEE_CLOSE_S)
        stream.resume()
        wait_for(lambda: "b3" not in faults.live_backends(), 10, "b3 to leave the pools")
        left_at = time.monotonic()
        time.sleep(1.5)
    timeline = stream.stop()
    try:
        backend = faults.backend_by_port()
        cut = [o for t, o in timeline if t < killed_at and backend.get(o.client_port) == "b3"]
        rest = [o for t, o in timeline if t >= killed_at or backend.get(o.client_port) != "b3"]
        assert unexpected(cut, {"ok", "closed", "reset"}) == [], summary(cut)
        assert unexpected(rest, {"ok", "refused"}) == [], summary(rest)
        assert all(o.status == 503 for o in rest if o.kind == "refused"), summary(rest)
        after = [o for t, o in timeline if t >= left_at]
        assert after and {o.backend for o in after} <= {"b1", "b2"}, summary(after)
        counts = resets.counts()
        broken = [o for o in cut if o.kind != "ok"]
        assert counts["classifier_sent"] == 0 and counts["during"] <= len(broken), (
            resets.report()
        )
    finally:
        faults.restart_backend("b3")
    faults.wait_whole()
    (again,) = clients(faults, [Exchange(backend="b3", seed=77)], 20)
    assert (again.kind, again.backend) == ("ok", "b3"), again
    # A connection the dying server reset gets nothing more from its client,
    # but the switch routed that RST (from the VIP to the client) and
    # reported it: every entry goes within the end grace, none waits for
    # its idle timeout.
    faults.assert_nothing_leaked()


def test_backend_cut_off_leaves_the_pools_and_new_connections_go_elsewhere(
    faults: FaultLab, resets: ResetWatch
) -> None:
    """b3's link goes down: the host is gone from the network. Its agent
    misses its heartbeats and the classifier takes b3 out of its pools; the
    connections opened after that all go to b1 and b2 with every byte. With
    the link back, b3 answers heartbeats and serves again."""
    faults.link_down("b3")
    try:
        wait_for(lambda: "b3" not in faults.live_backends(), 10, "b3 to leave the pools")
        outcomes = clients(faults, [Exchange(seed=i) for i in range(6)], 20)
    finally:
        faults.link_up("b3")
    assert [o.kind for o in outcomes] == ["ok"] * 6, summary(outcomes)
    assert {o.backend for o in outcomes} == {"b1", "b2"}
    faults.wait_whole()
    (again,) = clients(faults, [Exchange(backend="b3", seed=78)], 20)
    assert (again.kind, again.backend) == ("ok", "b3"), again
    no_reset_from_the_handoff(resets)
    faults.assert_nothing_leaked()


def test_backend_cut_off_before_its_heartbeats_fail_no_client_hangs(
    faults: FaultLab, resets: ResetWatch
) -> None:
    """b3's link goes down and three connections are opened at once, before
    its heartbeats can fail: round robin sends one of them to b3. Its blob
    cannot reach b3; the client must still get an answer in time (the
    classifier's 503 at worst), not a hang."""
    faults.link_down("b3")
    try:
        outcomes = clients(faults, [Exchange(seed=20 + i) for i in range(3)], 8)
    finally:
        faults.link_up("b3")
    faults.wait_whole()
    assert unexpected(outcomes, {"ok", "refused"}) == [], summary(outcomes)
    no_reset_from_the_handoff(resets)
    faults.assert_nothing_leaked()
