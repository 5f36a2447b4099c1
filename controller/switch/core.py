"""The controller's flow logic: what it does while it is the switch's primary.

It keeps the switch in the state the topology and the flow table call for
(controller.switch.tables), answers the service calls (allocate, install,
remove, list, stats) and ends flows: when the switch reports a FIN or RST
through the `connection_end_t` digest (after a grace period during which
the entry must see no more packets, so the last ACKs of a closing
connection still reach the back-end), when an entry's idle timeout fires,
when a classifier gives a flow id back, or when a pending id was never
installed. Ending a flow deletes its switch entry, tells the back-end's
agent to drop its decapsulation mapping and puts the id in quarantine.

Flow ids live in SQLite (controller.switch.flowstore), so a restarted controller,
or a backup that takes over, reconciles the switch against the same table
(`activate`): entries it does not know are deleted, entries the switch lost
are written again. Putting this on the wire and following primacy is the
job of controller.switch.service and controller.switch.main.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from controller.config.topology import Topology
from controller.handoff.addresses import ip_address, version
from controller.handoff.stats import LATENCY_BUCKETS, LatencyLog, stats_response
from controller.p4rt import (
    DirectCounterEntry,
    P4RuntimeClient,
    P4RuntimeError,
    TableEntry,
    Update,
    WriteError,
)
from controller.proto import handoff_pb2 as pb
from controller.switch.agent_release import Releaser
from controller.switch.flow_writer import FlowWriter
from controller.switch.flowstore import (
    INSTALLED,
    LEASED,
    PENDING,
    QUARANTINE,
    Flow,
    FlowStore,
    FlowStoreError,
)
from controller.switch.pipeline import Pipeline
from controller.switch.tables import (
    CONNECTION_END,
    CONNECTION_END6,
    ENCAP_MAP,
    ENCAP_MAP6,
    VIP_STEERING,
    VIP_STEERING6,
    Connection,
    SyncPlan,
    connection_of,
    connection_of_digest,
    encap_entry,
    encap_table,
    flow_id_of,
    host_names,
    is_encap_table,
    plan_sync,
    static_entries,
)

log = logging.getLogger("p4handoff.controller")

TCP_RST = 0x04
TCP_SYN = 0x02
# How long after its handoff a connection's own SYN may still turn up late
# (duplicated or reordered on the way) and hit its entry.
STALE_SYN_S = 10.0
# The reason of a closing connection whose 4-tuple a new SYN has reopened.
REUSED = "reused: a new connection (SYN) on its 4-tuple"
# The sides of a connection that sent a FIN, as the switch reported them.
CLIENT_FIN = 1
VIP_FIN = 2
MAX_LEASE = 1024  # flow ids per LeaseFlowIds
# (forwarder, backend, flow id, handoff latency, connection a leased id is bound to)
InstallRequest = tuple[str, str, int, float, Connection | None]
# The label values of p4handoff_controller_flow_removals_total{reason}: a
# bounded set. A reason's text may carry details (a client's address, an
# exception); they go to the log and to `handoff trace`, never to a label.
REMOVAL_REASONS = frozenset({
    "fin", "rst", "backend_fin", "backend_rst", "reused", "idle", "pending_timeout",
    "removed", "lock_failed", "freeze_failed", "agent_failed", "install_failed",
    "commit_failed", "other",
})  # fmt: skip


def removal_code(reason: str) -> str:
    """The fixed code of a removal reason: its text before the first colon,
    lower case with spaces as underscores, if that is one of REMOVAL_REASONS;
    "other" for anything else."""
    code = reason.split(":", 1)[0].strip().lower().replace(" ", "_")
    return code if code in REMOVAL_REASONS else "other"


ENDED_RING = 4096  # ended flows remembered with their reason, for `handoff trace`
# How long a connection_end digest waits for others before its connection's
# packet count is read, so that the ends of a burst share one Read (at 200
# connections/s, ten of them) rather than each costing a Read round trip of the
# controller and the switch. Its end grace starts when the count is read.
COUNT_WINDOW_S = 0.05
# How long the switch may hold a connection_end report to send it with
# others: every connection brings two (the client's FIN and the back-end's),
# each list costs a stream message, its decoding and its ack, and an end waits
# seconds (its grace) anyway. A reopening SYN, which ends its flow at once,
# is late by as much, far inside the client's 1 s SYN retransmission.
DIGEST_TIMEOUT_NS = 20_000_000


class FlowError(Exception):
    """A request the controller refuses; `code` is the gRPC status it maps to."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Settings:
    forwarder: str
    # The IPv6 tunnel source, for flows of IPv6 connections (dual stack).
    forwarder6: str | None = None
    name: str = "controller"
    idle_timeout_s: float = 120.0
    end_grace_s: float = 2.0
    pending_timeout_s: float = 30.0
    write_timeout_s: float = 5.0
    max_batch: int = 1024
    sweep_interval_s: float = 1.0


class Scheduler:
    """Calls functions at monotonic times, one at a time, on its own thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="controller-timers", daemon=True)
        self._thread.start()

    def after(self, delay_s: float, call: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._seq), call))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, call = heapq.heappop(self._heap)
            try:
                call()
            except Exception:
                log.exception("scheduled controller task failed")


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.primary = Gauge(
            "p4handoff_controller_primary", "1 while this controller is the active primary",
            registry=registry,
        )  # fmt: skip
        self.requests = Counter(
            "p4handoff_controller_requests", "Service calls, by call and result",
            ["call", "result"], registry=registry,
        )  # fmt: skip
        self.removals = Counter(
            "p4handoff_controller_flow_removals", "Flows ended, by reason", ["reason"],
            registry=registry,
        )  # fmt: skip
        self.batch_size = Histogram(
            "p4handoff_controller_write_batch_size", "Flow updates per P4Runtime Write",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024), registry=registry,
        )  # fmt: skip
        self.write_seconds = Histogram(
            "p4handoff_controller_write_seconds", "Duration of flow-entry Writes",
            buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.events = Counter(
            "p4handoff_controller_switch_events",
            "Digests and idle-timeout reports from the switch, by kind and what they led to",
            ["kind", "result"], registry=registry,
        )  # fmt: skip
        self.reconciled = Counter(
            "p4handoff_controller_reconciled_entries",
            "Switch entries changed by reconciliation, by table and change",
            ["table", "change"], registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "p4handoff_controller_step_seconds",
            "Durations by step (handoff: classifier decision to its InstallFlow, as reported)",
            ["step"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.flows = Gauge(
            "p4handoff_controller_flows", "Flows in the flow table, by state", ["state"],
            registry=registry,
        )  # fmt: skip


class Controller:
    """The controller's logic (controller.switch.service puts it on the wire).

    `switch` must be connected; `activate` is called when it becomes the
    primary and `deactivate` when it stops being one. Service calls raise
    FlowError; while not active they answer UNAVAILABLE.
    """

    def __init__(
        self,
        topology: Topology,
        store: FlowStore,
        switch: P4RuntimeClient,
        releaser: Releaser,
        settings: Settings,
        *,
        pipeline: Pipeline | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.topology = topology
        self.store = store
        self.switch = switch
        self.releaser = releaser
        self.settings = settings
        self.pipeline = pipeline
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = _Metrics(self.registry)
        self.latencies = LatencyLog(self.metrics.latency)
        self.active = False
        self.last_reconcile: SyncPlan | None = None
        self._lock = threading.RLock()  # the FlowStore connection and `_ending`
        self._ending: dict[Connection, tuple[int | None, str]] = {}
        # (monotonic due time, flow, connection) of the endings to check, in due order
        self._due: deque[tuple[float, Flow, Connection]] = deque()
        self._released_again = False  # quarantined ids released again on the first activate
        self._check_scheduled = False
        # Endings whose packet count is still to be read (`_count_endings`).
        self._uncounted: list[tuple[Flow, Connection]] = []
        # Which sides of an ending connection sent a FIN (CLIENT_FIN | VIP_FIN).
        self._fin_sides: dict[Connection, int] = {}
        # Endings whose both sides had closed when their count was due: no
        # data can follow, so their grace ends without a counter Read.
        self._closed: set[Connection] = set()
        self._count_scheduled = False
        # connection_end digest lists that came while not active (the switch
        # sends them from the moment activate() enables the digest, before
        # encap_map is back and `active` is set): handled once active.
        self._held_digests: list[tuple[list[dict[str, int]], str]] = []
        # (flow, reason, Unix time) of the last ENDED_RING flows ended, newest last
        self.ended: deque[tuple[Flow, str, float]] = deque(maxlen=ENDED_RING)
        self._names = host_names(topology)
        # Through self.switch, which is replaced when the session is re-opened.
        self._writer = FlowWriter(
            lambda updates: self.switch.write(updates),
            max_batch=settings.max_batch,
            on_batch=self._observe_batch,
        )
        self._scheduler = Scheduler()
        self._stop = threading.Event()
        for state in (LEASED, PENDING, INSTALLED, QUARANTINE):
            self.metrics.flows.labels(state).set_function(_state_count(self, state))
        self._threads = [
            threading.Thread(target=self._digest_loop, name="controller-digests", daemon=True),
            threading.Thread(target=self._idle_loop, name="controller-idle", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._scheduler.after(settings.sweep_interval_s, self._sweep)

    # ------------------------------------------------------------ life cycle

    @property
    def idle_timeout_ns(self) -> int:
        return int(self.settings.idle_timeout_s * 1e9)

    def activate(self) -> None:
        """Push the pipeline unless the switch runs it already, bring static
        tables and encap_map in line, enable the end-of-connection digest."""
        if self.pipeline is not None:
            pushed = self.switch.ensure_pipeline(self.pipeline.p4info, self.pipeline.device_config)
            log.info("pipeline %s", "pushed" if pushed else "already running, entries kept")
        else:
            self.switch.fetch_pipeline()
        entities = self.switch.entities
        static = static_entries(self.topology, entities)
        # VIP steering goes in last: until encap_map holds the handed-off
        # connections again, steering would send their segments to a
        # classifier, whose kernel answers them with a RST. The program
        # looks steering up before encap_map (forwarder.p4), so a packet
        # whose lookups straddle these writes cannot find steering without
        # its connection's entry either.
        steering = {t: d for t, d in static.items() if t in (VIP_STEERING, VIP_STEERING6)}
        for table, desired in static.items():
            if table not in steering:
                self._sync(table, desired)
        self._configure_digest()
        self.last_reconcile = self.reconcile_flows()
        for table, desired in steering.items():
            self._sync(table, desired)
        with self._lock:
            self.active = True
            # Connection ends noted before the switch was lost: their grace
            # has passed or goes on; the counters of entries written again
            # start at zero, so any packet since is the client's.
            for index, (_, flow, conn) in enumerate(self._due):
                noted, reason = self._ending.get(conn, (None, "fin"))
                if noted is not None:
                    self._ending[conn] = (0, reason)
                self._due[index] = (min(self._due[index][0], time.monotonic()), flow, conn)
            # ... and those a previous run of the controller had noted.
            stale = []
            for key, reason in self.store.endings():
                held = self.store.get(*key)
                if held is None or held.state != INSTALLED:
                    stale.append(key)
                    continue
                conn = (held.client_ip, held.client_port, held.vip, held.vip_port)
                if conn not in self._ending:
                    self._ending[conn] = (0, reason)
                    self._due.append((time.monotonic(), held, conn))
            self.store.drop_endings(stale)
            self._schedule_check()
            quarantined = [] if self._released_again else self.store.flows(QUARANTINE)
            self._released_again = True
            early, self._held_digests = self._held_digests, []
        for records, digest in early:
            self._connections_ending(records, digest)
        # Release notices a previous run still had to send died with it: the
        # ids in quarantine are released again (an agent that has dropped the
        # mapping already answers unknown_flow).
        self.releaser.release([flow.key for flow in quarantined])
        self.metrics.primary.set(1)
        log.info("active as primary (election id %d)", self.switch.election_id)

    def deactivate(self) -> None:
        self.active = False
        self.metrics.primary.set(0)

    def close(self) -> None:
        self.deactivate()
        self._stop.set()
        self._scheduler.stop()
        self._writer.stop()
        for thread in self._threads:
            thread.join(timeout=5)

    def _sync(self, table: str, desired: list[TableEntry]) -> SyncPlan:
        current = self.switch.read_table(table)
        plan = plan_sync(current, desired)
        self.switch.write(plan.updates())
        short = table.rsplit(".", 1)[-1]
        for change, count in (
            ("deleted", len(plan.delete)), ("modified", len(plan.modify)),
            ("inserted", len(plan.insert)),
        ):  # fmt: skip
            if count:
                self.metrics.reconciled.labels(short, change).inc(count)
        return plan

    def reconcile_flows(self) -> SyncPlan:
        """Make encap_map hold exactly the installed flows of the flow table."""
        with self._lock:
            flows = [f for f in self.store.flows(INSTALLED) if f.forwarder in self.forwarders]
        entities = self.switch.entities
        plan = SyncPlan()
        for table in (ENCAP_MAP, ENCAP_MAP6):
            part = self._sync(
                table,
                [
                    encap_entry(entities, f, self.idle_timeout_ns)
                    for f in flows
                    if encap_table(f) == table
                ],
            )
            plan.delete += part.delete
            plan.modify += part.modify
            plan.insert += part.insert
            plan.kept += part.kept
        log.info(
            "encap_map reconciled: %d kept, %d stale deleted, %d lost reinstalled, %d modified",
            plan.kept, len(plan.delete), len(plan.insert), len(plan.modify),
        )  # fmt: skip
        return plan

    def _configure_digest(self) -> None:
        for digest in (CONNECTION_END, CONNECTION_END6):
            entry = self.switch.entities.digest_entry(
                digest, max_timeout_ns=DIGEST_TIMEOUT_NS, max_list_size=64
            )
            try:
                self.switch.insert(entry)
            except WriteError:
                self.switch.modify(entry)  # a kept pipeline keeps its digest configuration

    @property
    def forwarder(self) -> str:
        return self.settings.forwarder

    @property
    def forwarders(self) -> frozenset[str]:
        """This controller's tunnel sources: IPv4, and IPv6 when dual stack."""
        return frozenset(a for a in (self.settings.forwarder, self.settings.forwarder6) if a)

    def _forwarder_for(self, backend: str, forwarder: str) -> str:
        """The tunnel source of flows to `backend`: of the back-end's family.
        A forwarder the caller names must be that one."""
        v6 = version(backend) == 6
        own = self.settings.forwarder6 if v6 else self.settings.forwarder
        if own is None:
            raise FlowError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"back-end {backend} is IPv6 but this controller has no IPv6 forwarder address",
            )
        if forwarder and _address(forwarder, "forwarder") != own:
            raise FlowError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"forwarder {forwarder} is not this controller's ({own})",
            )
        return own

    def _require_active(self) -> None:
        if not self.active:
            raise FlowError(
                grpc.StatusCode.UNAVAILABLE,
                f"controller {self.settings.name} is not the primary of the switch",
            )

    # ------------------------------------------------------------ the service calls

    def allocate(
        self, connection: Connection, backend: str, classifier: str, forwarder: str = ""
    ) -> Flow:
        self._require_active()
        client_ip, client_port, vip, vip_port = _canonical(connection)
        backend = _address(backend, "backend")
        if version(backend) != version(client_ip):
            raise FlowError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"back-end {backend} and client {client_ip} are of different address families",
            )
        own = self._forwarder_for(backend, forwarder)
        with self._lock:
            live = self.store.find_connection((client_ip, client_port), (vip, vip_port))
            if live is not None:
                raise FlowError(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"connection {client_ip}:{client_port} -> {vip}:{vip_port} already has "
                    f"flow {live.flow_id:#010x} to {live.backend} ({live.state})",
                )
            try:
                return self.store.allocate(
                    own, backend, (client_ip, client_port), (vip, vip_port), classifier
                )
            except FlowStoreError as exc:
                raise FlowError(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)) from None

    def lease(self, backend: str, classifier: str, count: int, forwarder: str = "") -> list[Flow]:
        """Reserve up to MAX_LEASE fresh ids for `classifier`'s coming
        handoffs to `backend`; InstallFlow with the connection binds one."""
        self._require_active()
        backend = _address(backend, "backend")
        own = self._forwarder_for(backend, forwarder)
        count = max(1, min(count, MAX_LEASE))
        with self._lock:
            try:
                return self.store.lease(own, backend, classifier, count)
            except FlowStoreError as exc:
                raise FlowError(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)) from None

    def install(
        self, forwarder: str, backend: str, flow_id: int, latency_s: float = 0.0,
        connection: Connection | None = None,
    ) -> int:  # fmt: skip
        """Write the flow's encap_map entry; returns the size of the Write
        batch that carried it (0 when it was installed already). With
        `connection`, a leased id is bound to that connection first."""
        result = self.install_many([(forwarder, backend, flow_id, latency_s, connection)])[0]
        if isinstance(result, FlowError):
            raise result
        return result

    def install_many(self, requests: list[InstallRequest]) -> list[int | FlowError]:
        """`install` of several flows at once, answered one by one: their
        entries go to the writer together (one Write when it is idle)."""
        self._require_active()
        results: list[int | FlowError] = []
        writing: list[tuple[int, Flow, TableEntry]] = []
        for index, (forwarder, backend, flow_id, _, connection) in enumerate(requests):
            try:
                flow = self._flow(forwarder, backend, flow_id)
                if connection is not None:
                    flow = self._bind(flow, _canonical(connection))
            except FlowError as exc:
                results.append(exc)
                continue
            if flow.state == INSTALLED:
                results.append(0)
                continue
            if flow.state != PENDING:
                results.append(FlowError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"flow {flow_id:#010x} to {backend} has ended ({flow.state})",
                ))  # fmt: skip
                continue
            entry = encap_entry(self.switch.entities, flow, self.idle_timeout_ns)
            writing.append((index, flow, entry))
            results.append(0)
        futures = self._writer.submit_many([Update.insert(entry) for _, _, entry in writing])
        written: list[tuple[int, Flow, TableEntry, int]] = []
        for (index, flow, entry), future in zip(writing, futures, strict=True):
            try:
                try:
                    batch = future.result(self.settings.write_timeout_s)
                except WriteError as exc:
                    if not any(f.code == "ALREADY_EXISTS" for f in exc.failures):
                        raise
                    # A leftover entry for the same 4-tuple: this flow replaces it.
                    batch = self._writer.apply(Update.modify(entry), self.settings.write_timeout_s)
            except (P4RuntimeError, TimeoutError) as exc:
                results[index] = FlowError(
                    grpc.StatusCode.UNAVAILABLE, f"switch did not take {entry}: {exc or 'timeout'}"
                )
                continue
            written.append((index, flow, entry, batch))
        with self._lock:
            marked = self.store.mark_installed_many([flow.key for _, flow, _, _ in written])
        for (index, _, entry, batch), installed in zip(written, marked, strict=True):
            if isinstance(installed, FlowStoreError):
                # Removed while the entry was being written: take the entry back out.
                with contextlib.suppress(P4RuntimeError, TimeoutError):
                    self._writer.apply(Update.delete(entry), self.settings.write_timeout_s)
                results[index] = FlowError(grpc.StatusCode.FAILED_PRECONDITION, str(installed))
                continue
            latency_s = requests[index][3]
            if latency_s > 0:
                self.latencies.add("handoff", latency_s)
            results[index] = batch
        return results

    def _bind(self, flow: Flow, connection: Connection) -> Flow:
        """The leased `flow` now carries `connection` (a retried InstallFlow
        finds it bound already). A live flow on the same connection ended
        without our noticing: the classifier accepted the connection anew,
        so the switch no longer steers it; it is ended first."""
        client, vip = (connection[0], connection[1]), (connection[2], connection[3])
        if flow.state != LEASED:
            if flow.state != QUARANTINE and (flow.client_ip, flow.client_port) == client and (
                flow.vip, flow.vip_port
            ) == vip:
                return flow
            raise FlowError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"flow {flow.flow_id:#010x} to {flow.backend} is {flow.state}, not a lease "
                f"for {client[0]}:{client[1]}",
            )
        with self._lock:
            old = self.store.find_connection(client, vip)
        if old is not None:
            self._end(old, "reused: superseded by a new handoff", release_agent=True)
        with self._lock:
            try:
                return self.store.bind(flow.key, client, vip)
            except FlowStoreError as exc:
                raise FlowError(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from None

    def remove(
        self, forwarder: str, backend: str, flow_id: int, reason: str, release_agent: bool,
        connection: Connection | None = None,
    ) -> bool:  # fmt: skip
        """End a flow (idempotent: an ended flow stays ended); returns whether
        a switch entry was deleted. `connection`: the one a leased id was
        used for, kept with the ended flow."""
        self._require_active()
        flow = self._flow(forwarder, backend, flow_id)
        if connection is not None and flow.state == LEASED:
            client_ip, client_port, vip, vip_port = _canonical(connection)
            with self._lock, contextlib.suppress(FlowStoreError):
                # Pending for a moment; a live flow of that connection wins.
                flow = self.store.bind(flow.key, (client_ip, client_port), (vip, vip_port))
        return self._end(flow, reason or "removed", release_agent)

    def _flow(self, forwarder: str, backend: str, flow_id: int) -> Flow:
        key = (_address(forwarder, "forwarder"), _address(backend, "backend"), flow_id)
        with self._lock:
            flow = self.store.get(*key)
        if flow is None:
            raise FlowError(
                grpc.StatusCode.NOT_FOUND, f"no flow {flow_id:#010x} of {key[0]} to {key[1]}"
            )
        return flow

    def installed_per_backend(self) -> dict[str, int]:
        """The classifiers' least-connections refresh, every second: one
        grouped count of the flow table, however many flows it holds."""
        self._require_active()
        with self._lock:
            return self.store.count_by_backend(INSTALLED)

    def list_flows(self, include_ended: bool, counters: bool) -> list[pb.Flow]:
        self._require_active()
        with self._lock:
            if include_ended:
                flows = [f for f in self.store.flows() if f.state != LEASED]
            else:
                flows = self.store.live_flows()
        on_switch = self._switch_flows(counters)
        # With several switches the entry switch is named (one switch: none).
        entry_switches = [self.topology.switch.name] if self.topology.multi_switch else []
        listed = []
        for f in flows:
            conn = (f.client_ip, f.client_port, f.vip, f.vip_port)
            seen = on_switch.get(conn)
            held = seen is not None and seen[0] == f.flow_id and f.state != QUARANTINE
            listed.append(
                pb.Flow(
                    ref=pb.FlowRef(forwarder=f.forwarder, backend=f.backend, flow_id=f.flow_id),
                    connection=pb.Connection(
                        client_ip=f.client_ip, client_port=f.client_port, vip=f.vip,
                        vip_port=f.vip_port,
                    ),
                    backend_name=self._names.get(f.backend, ""),
                    classifier=f.classifier,
                    state=f.state,
                    created_at=f.created_at,
                    ended_at=f.released_at or 0.0,
                    on_switch=held,
                    packets=seen[1] if held and seen else 0,
                    bytes=seen[2] if held and seen else 0,
                    switches=entry_switches if held else [],
                )
            )  # fmt: skip
        return listed

    def _switch_flows(self, counters: bool) -> dict[Connection, tuple[int | None, int, int]]:
        """connection -> (flow id, packets, bytes) of every encap_map entry
        (one Read; with `counters` the entries carry their direct counters)."""
        try:
            entries = [
                entry
                for table in (ENCAP_MAP, ENCAP_MAP6)
                for entry in self.switch.read_table(table, counters=counters)
            ]
        except P4RuntimeError as exc:
            raise FlowError(grpc.StatusCode.UNAVAILABLE, f"reading encap_map: {exc}") from None
        out: dict[Connection, tuple[int | None, int, int]] = {}
        for entry in entries:
            data = entry.counter
            out[connection_of(entry)] = (
                flow_id_of(entry), data.packets if data else 0, data.bytes if data else 0,
            )  # fmt: skip
        return out

    def stats(self) -> pb.StatsResponse:
        return stats_response(
            "controller", self.settings.name, self.active, self.registry, self.latencies
        )

    # ------------------------------------------------------------ ending flows

    def _end(self, flow: Flow, reason: str, release_agent: bool) -> bool:
        """Quarantine the id first (so a concurrent ending is a no-op), then
        delete the entry and notify the agent."""
        return self._end_many([(flow, reason)], release_agent)[0]

    def _end_many(self, flows: list[tuple[Flow, str]], release_agent: bool) -> list[bool]:
        """`_end` of several flows: their deletes go to the writer together
        (one Write when it is idle) instead of one Write round trip each."""
        ended: list[tuple[Flow, str, TableEntry | None]] = []
        with self._lock:
            currents = [self.store.get(*flow.key) for flow, _ in flows]
            live = [c.key for c in currents if c is not None and c.state != QUARANTINE]
            released = self.store.release_many(
                live, forget_endings_of=[flow.key for flow, _ in flows]
            )
            # A flow the store refuses to release was ended by someone else meanwhile.
            refused = {
                key for key, result in zip(live, released, strict=True)
                if not isinstance(result, Flow)
            }  # fmt: skip
            for (flow, reason), current in zip(flows, currents, strict=True):
                if current is None or current.state == QUARANTINE or current.key in refused:
                    ended.append((flow, "", None))
                elif current.state == INSTALLED:
                    gone = encap_entry(self.switch.entities, current, self.idle_timeout_ns)
                    ended.append((current, reason, gone))
                else:
                    ended.append((current, reason, None))
            deleting = self._writer.submit_many(
                [Update.delete(entry) for _, _, entry in ended if entry is not None]
            )
        deleted = iter(deleting)
        results = []
        notices = []
        for current, reason, entry in ended:
            future = next(deleted) if entry is not None else None
            if not reason:  # ended already
                results.append(False)
                continue
            removed = False
            if future is not None:
                try:
                    future.result(self.settings.write_timeout_s)
                    removed = True
                except WriteError as exc:
                    if not any(f.code == "NOT_FOUND" for f in exc.failures):
                        log.warning("deleting %s failed (reconcile will retry): %s", entry, exc)
                except (P4RuntimeError, TimeoutError) as exc:
                    log.warning("deleting %s failed (reconcile will retry): %s", entry, exc)
            if current.state == INSTALLED or release_agent:
                notices.append(current.key)
            self.metrics.removals.labels(removal_code(reason)).inc()
            self.ended.append((current, reason, time.time()))
            log.info(
                "flow %#010x %s:%d -> %s:%d on %s ended (%s)", current.flow_id, current.client_ip,
                current.client_port, current.vip, current.vip_port, current.backend, reason,
            )  # fmt: skip
            results.append(removed)
        self.releaser.release(notices)
        return results

    def _digest_loop(self) -> None:
        while not self._stop.is_set():
            try:
                digests = self.switch.receive_digest(timeout=0.2)
            except P4RuntimeError:
                time.sleep(0.2)
                continue
            if digests is None or not digests.digest.endswith((CONNECTION_END, CONNECTION_END6)):
                continue
            try:
                self._connections_ending(list(digests.as_dicts()), digests.digest)
            except Exception:
                log.exception("handling connection_end digests %s failed", digests)

    def _connection_ending(self, record: dict[str, int]) -> None:
        self._connections_ending([record])

    def _connections_ending(
        self, records: list[dict[str, int]], digest: str = CONNECTION_END
    ) -> None:
        """The switch saw FIN or RST on these connections (connection_end_t,
        or connection_end6_t for IPv6): note each one's packet count (one
        Read for the digest lists of COUNT_WINDOW_S, `_count_endings`) and
        look again after the end grace (`_check_due`)."""
        with self._lock:
            if not self.active:
                # A client's FIN retransmitted into the entries activate()
                # just wrote back is seen once: ignored, its flow would leak.
                self._held_digests.append((records, digest))
                self.metrics.events.labels("digest", "held").inc(len(records))
                return
        noted: list[tuple[Flow, Connection]] = []
        reopened: list[Flow] = []
        for record in records:
            conn: Connection = connection_of_digest(digest, record)
            flags, flow_id = record["tcp_flags"], record["flow_id"]
            # Flow id 0: the VIP side's FIN or RST (vip_close), which names
            # no entry: the flow is found by its connection alone.
            from_vip = flow_id == 0
            reason = ("backend_" if from_vip else "") + ("rst" if flags & TCP_RST else "fin")
            with self._lock:
                flow = self.store.find_connection(conn[:2], conn[2:])
                if (
                    flow is None or flow.state != INSTALLED
                    or (not from_vip and flow.flow_id != flow_id)
                ):  # fmt: skip
                    self.metrics.events.labels("digest", "ignored").inc()
                    continue
                if flags & TCP_SYN and not from_vip:
                    # A new connection on this 4-tuple: the old one is over,
                    # and its entry would steer the new one's segments to the
                    # old back-end. No grace: it goes now. But a late copy of
                    # the connection's own SYN (a link that duplicates or
                    # reorders) hits the entry too: a connection that has not
                    # begun to end and is younger than STALE_SYN_S is live.
                    young = time.time() - flow.created_at < STALE_SYN_S
                    if conn not in self._ending and young:
                        self.metrics.events.labels("digest", "stale_syn").inc()
                        continue
                    if conn in self._ending:
                        # Closing already: it ends when its grace is over,
                        # no longer postponed by packets on the entry (the
                        # new connection's retransmissions bump its counter
                        # too). At once would cut a closing exchange that a
                        # late duplicate of its own SYN overtook.
                        self._ending[conn] = (self._ending[conn][0], REUSED)
                        continue
                    reopened.append(flow)
                    continue
                if not flags & TCP_RST:
                    side = VIP_FIN if from_vip else CLIENT_FIN
                    self._fin_sides[conn] = self._fin_sides.get(conn, 0) | side
                if conn in self._ending:
                    if reason == "rst":
                        self._ending[conn] = (self._ending[conn][0], reason)
                    continue
                self._ending[conn] = (None, reason)
            self.metrics.events.labels("digest", "scheduled").inc()
            noted.append((flow, conn))
        if reopened:
            self.metrics.events.labels("digest", "reopened").inc(len(reopened))
            self._end_many([(f, REUSED) for f in reopened],
                           release_agent=True)  # fmt: skip
        if not noted:
            return
        with self._lock:  # durable: a restarted controller checks them again
            self.store.note_endings([(f.key, self._ending[c][1]) for f, c in noted])
            self._uncounted.extend(noted)
            if not self._count_scheduled:
                self._count_scheduled = True
                window = min(COUNT_WINDOW_S, self.settings.end_grace_s / 4)
                self._scheduler.after(window, self._count_endings)

    def _count_endings(self) -> None:
        """Read the packet counts of the connections that began to end
        since the last call, in one Read, and start their end grace. A
        connection whose both sides have sent their FIN by now (an HTTP
        exchange that closes: the back-end's FIN and the client's follow
        each other within a round trip) carries no more data, only the last
        ACKs: it is not counted, and its grace ends without a Read either."""
        with self._lock:
            self._count_scheduled = False
            noted, self._uncounted = self._uncounted, []
            for _, conn in noted:
                if self._fin_sides.get(conn) == CLIENT_FIN | VIP_FIN:
                    self._closed.add(conn)
            counted = [flow for flow, conn in noted if conn not in self._closed]
        packets = self._packets_of(counted) if counted else {}
        due = time.monotonic() + self.settings.end_grace_s
        with self._lock:
            for flow, conn in noted:
                self._ending[conn] = (packets.get(conn), self._ending[conn][1])
                self._due.append((due, flow, conn))
            self._schedule_check()

    def _schedule_check(self) -> None:
        """One pending `_check_due` for the earliest due ending, a little
        after it so that the ends due close together share its Read (the
        caller holds the lock). None while not active: the ends wait, and
        activate() schedules the check (an overdue end would otherwise be
        checked again at once, over and over, for as long as the switch is
        gone)."""
        if self._check_scheduled or not self._due or not self.active:
            return
        self._check_scheduled = True
        delay = self._due[0][0] - time.monotonic() + min(0.1, self.settings.end_grace_s / 4)
        self._scheduler.after(max(delay, 0.0), self._check_due)

    def _check_due(self) -> None:
        """End the flows whose grace has passed unless their entries still
        carry packets (the client is still acknowledging data after its FIN;
        then look again later). One Read of their counters, one batch of
        deletes."""
        now = time.monotonic()
        checking: list[tuple[Flow, Connection, int | None, str]] = []
        with self._lock:
            self._check_scheduled = False
            # Without the switch (lost, or primacy lost) the ends wait: once
            # active again, activate() checks them (their entries were
            # written back by the reconcile, counters from zero).
            while self.active and self._due and self._due[0][0] <= now:
                _, flow, conn = self._due.popleft()
                current = self.store.get(*flow.key)
                noted, reason = self._ending.get(conn, (None, "fin"))
                if current is None or current.state != INSTALLED:
                    self._forget_ending(conn)
                    continue
                checking.append((current, conn, noted, reason))
            counted = [c[0] for c in checking if c[1] not in self._closed]
        packets = self._packets_of(counted) if counted else {}
        ending: list[tuple[Flow, str]] = []
        due = time.monotonic() + self.settings.end_grace_s
        with self._lock:
            for current, conn, noted, reason in checking:
                count = packets.get(conn)
                if count is not None and noted is not None and count > noted and reason != REUSED:
                    self._ending[conn] = (count, reason)
                    self._due.append((due, current, conn))
                else:
                    self._forget_ending(conn)
                    ending.append((current, reason))
            self._schedule_check()
        if ending:
            self._end_many(ending, release_agent=True)

    def _forget_ending(self, conn: Connection) -> None:
        self._ending.pop(conn, None)
        self._fin_sides.pop(conn, None)
        self._closed.discard(conn)

    def _packets_of(self, flows: list[Flow]) -> dict[Connection, int]:
        """Packets counted for each flow's entry, by connection, in one Read
        (entries the switch does not hold are missing; all of them are when
        the Read fails or the client has no pipeline, the switch being gone)."""
        try:
            entities = self.switch.entities
            queries = [
                entities.direct_counter(encap_entry(entities, f, self.idle_timeout_ns))
                for f in flows
            ]
            found = self.switch.read(*queries)
        except P4RuntimeError:
            return {}
        out: dict[Connection, int] = {}
        for item in found:
            if isinstance(item, DirectCounterEntry) and item.data is not None:
                out[connection_of(item.table_entry)] = item.data.packets
        return out

    def _idle_loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.switch.receive_idle_timeout(timeout=0.2)
            except P4RuntimeError:
                time.sleep(0.2)
                continue
            if report is None:
                continue
            for entry in report.entries:
                if is_encap_table(entry.table):
                    try:
                        self._entry_idle(entry)
                    except Exception:
                        log.exception("handling idle timeout of %s failed", entry)

    def _entry_idle(self, entry: TableEntry) -> None:
        if not self.active:
            return
        conn = connection_of(entry)
        with self._lock:
            flow = self.store.find_connection(conn[:2], conn[2:])
        # Notifications may carry the match only; with an action it must be this flow's.
        reported = flow_id_of(entry)
        if flow is not None and flow.state == INSTALLED and reported in (None, flow.flow_id):
            self.metrics.events.labels("idle", "ended").inc()
            self._end(flow, "idle", release_agent=True)
            return
        # Not a flow we know: a leftover, which must not stay on the switch.
        self.metrics.events.labels("idle", "unknown_entry").inc()
        with contextlib.suppress(P4RuntimeError, TimeoutError):
            self._writer.apply(Update.delete(entry), self.settings.write_timeout_s)

    def _sweep(self) -> None:
        """Give back ids of handoffs that never reached InstallFlow (their
        classifier died) and forget ids whose quarantine is over."""
        try:
            if self.active:
                limit = time.time() - self.settings.pending_timeout_s
                with self._lock:
                    stale = [f for f in self.store.flows(PENDING) if f.created_at < limit]
                    unused = [f for f in self.store.flows(LEASED) if f.created_at < limit]
                for flow in stale:
                    self._end(flow, "pending_timeout", release_agent=True)
                # A lease its classifier did not use in time (or died with):
                # the id may have reached an agent in a blob, so it is told.
                if unused:
                    expired = [(f, "pending_timeout: lease unused") for f in unused]
                    self._end_many(expired, release_agent=True)
                with self._lock:
                    self.store.expire_quarantine()
        finally:
            if not self._stop.is_set():
                self._scheduler.after(self.settings.sweep_interval_s, self._sweep)

    def _observe_batch(self, size: int, seconds: float) -> None:
        self.metrics.batch_size.observe(size)
        self.metrics.write_seconds.observe(seconds)

    def count(self, state: str) -> int:
        with self._lock:
            return self.store.count(state)


def _state_count(controller: Controller, state: str) -> Callable[[], float]:
    return lambda: float(controller.count(state))


def _address(text: str, what: str) -> str:
    try:
        return str(ip_address(text))
    except ValueError:
        raise FlowError(
            grpc.StatusCode.INVALID_ARGUMENT, f"{what} {text!r} is not an IP address"
        ) from None


def _canonical(connection: Connection) -> Connection:
    client_ip, client_port, vip, vip_port = connection
    for port, what in ((client_port, "client port"), (vip_port, "VIP port")):
        if not 0 < port <= 0xFFFF:
            raise FlowError(grpc.StatusCode.INVALID_ARGUMENT, f"{what} {port} outside 1..65535")
    client_ip, vip = _address(client_ip, "client"), _address(vip, "VIP")
    if version(client_ip) != version(vip):
        raise FlowError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"client {client_ip} and VIP {vip} are of different address families",
        )
    return client_ip, client_port, vip, vip_port
