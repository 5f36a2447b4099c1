"""The migrator agent: receives handoff blobs on a back-end and brings the connection to life.

A handoff has two phases, so that the application never answers before the
switch steers the client's packets here. For a handoff blob the agent checks
that it is authentic, fresh and well-formed, that its flow id mapping makes
sense here (forwarder and VIP served, flow id and 4-tuple not already live),
restores the socket in the kernel (out of repair mode: live) and answers
"ready" while it keeps the socket. The classifier has the switch entry
written meanwhile (the two overlap) and, once both are done, sends a commit;
on the commit the agent installs the decapsulation mapping and hands the
socket to the application. Until then the forwarder's segments of the flow
find no mapping and are dropped silently (controller.handoff.nft.DecapMap),
so a ready socket never acknowledges a byte: an abort, or no commit within
`commit_timeout_s`, closes it silently (in repair mode: no FIN, no RST), the
application never saw it, and the classifier can still thaw its own copy
with nothing lost.

A rejection is logged with its reason and changes nothing. A failure while
restoring or committing undoes what was done. A release notice removes the
mapping of a flow that ended. An abort sent by a classifier that got no
answer undoes a handoff that was not committed, or says it was; once the
socket may be in the application's hands the agent never undoes it, because
the classifier resuming it too would make two senders on one connection.
Pings (heartbeats) are answered and change nothing.

The kernel work lives in the handoff library (controller.handoff.nft,
.tcprepair, .handover) and reaches the agent through `Backends`, a set of
plain callables (controller.agent.kernel makes the real ones), so tests run
the whole agent with fakes; controller.agent.main is the process. Those calls block, so they
run on a worker thread (one by default: the back-ends need not be
thread-safe), and the event loop keeps reading and checking other blobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from controller.agent.coalesce import Coalescer
from controller.handoff.addresses import CACHED_ADDRESSES, ip_address
from controller.handoff.agent_protocol import Reply, Status, serve_frames
from controller.handoff.blob import (
    DEFAULT_MAX_SIZE,
    Abort,
    BlobError,
    Commit,
    Handoff,
    Ping,
    Reason,
    Release,
    now_ms,
    unseal,
)
from controller.handoff.handover import HandoverError
from controller.handoff.keys import Keyring
from controller.handoff.replay import (
    DEFAULT_CAPACITY,
    DEFAULT_MAX_AGE_MS,
    DEFAULT_MAX_SKEW_MS,
    ReplayWindow,
)
from controller.handoff.tcpstate import ConnectionState

log = logging.getLogger("p4handoff.agent")

T = TypeVar("T")
FlowKey = tuple[str, int]  # (forwarder address, flow id)
FourTuple = tuple[str, int, str, int]  # (client ip, client port, VIP, VIP port)
AdoptedFlow = tuple[str, int, FourTuple]  # (forwarder, flow id, 4-tuple)

# Longer than a classifier's install deadline (10 s), which rides out a
# controller restart between the ready answer and the switch write.
DEFAULT_COMMIT_TIMEOUT_S = 15.0

# Unsealing a large blob (megabytes of queued data) takes milliseconds of
# HMAC, and restoring it milliseconds of copying into the kernel's queues:
# above this size both run off the event loop. Below it they run on the loop,
# as a hop to a thread costs more than the work (a restore never blocks:
# buffers are sized first and unsent data is queued with MSG_DONTWAIT).
OFFLOAD_BYTES = 64 * 1024
# Removing this many mappings (one netlink transaction) takes well under a
# millisecond: a burst of release notices up to this size is served on the
# event loop, a larger one (a restarted controller releasing its
# quarantine) on a thread.
INLINE_REMOVALS = 64

_STATUS_OF_REASON = {
    Reason.TRUNCATED: Status.MALFORMED,
    Reason.BAD_MAGIC: Status.MALFORMED,
    Reason.BAD_VERSION: Status.MALFORMED,
    Reason.BAD_KIND: Status.MALFORMED,
    Reason.TRAILING_DATA: Status.MALFORMED,
    Reason.MALFORMED_FIELD: Status.MALFORMED,
    Reason.TOO_LARGE: Status.TOO_LARGE,
    Reason.UNKNOWN_KEY: Status.UNAUTHENTICATED,
    Reason.BAD_MAC: Status.UNAUTHENTICATED,
    Reason.REPLAYED: Status.CONFLICT,
    Reason.STALE: Status.CONFLICT,
    Reason.FUTURE: Status.CONFLICT,
}


@dataclass(frozen=True)
class DecapCounts:
    """The decapsulation table's counters, kept by the kernel."""

    decapsulated: int  # segments rewritten to a mapped flow's 4-tuple
    # Tunnelled segments from a configured forwarder dropped for want of a
    # mapping: a flow not committed yet (the client's segments between the
    # switch write and the commit), or released already.
    unmapped: int


@dataclass(frozen=True)
class Backends:
    """The kernel operations the agent drives; every call may raise.
    `decap_add`, a restore of at most OFFLOAD_BYTES of queued data and a
    `decap_remove` of at most INLINE_REMOVALS flows run on the event loop and
    must not block; `hand_over` is a coroutine; the others run on a thread
    and may block.

    `hand_over` raises `HandoverError` with `delivered=None` when the
    application may have received the socket; any other failure means it
    certainly did not.
    """

    decap_add: Callable[[str, int, ConnectionState], None]
    # Several flows' mappings at once (one kernel transaction); per flow,
    # in order, None when removed or the exception that says why not.
    decap_remove: Callable[[list[FlowKey]], Sequence[Exception | None]]
    restore: Callable[[ConnectionState], socket.socket]
    close_silently: Callable[[socket.socket], None]
    hand_over: Callable[[socket.socket, Handoff], Awaitable[None]]
    counts: Callable[[], DecapCounts]


@dataclass(frozen=True)
class AgentConfig:
    """Limits and what this back-end serves; empty sets mean "any"."""

    max_blob: int = DEFAULT_MAX_SIZE
    max_age_ms: int = DEFAULT_MAX_AGE_MS
    max_skew_ms: int = DEFAULT_MAX_SKEW_MS
    replay_capacity: int = DEFAULT_CAPACITY
    forwarders: frozenset[str] = field(default_factory=frozenset)
    vips: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    max_in_flight_per_connection: int = 256
    max_flows: int = 1_000_000
    # How long a restored socket waits for its commit. The classifier must
    # send the commit well within it (its install deadline is shorter).
    commit_timeout_s: float = DEFAULT_COMMIT_TIMEOUT_S


class _Phase(Enum):
    INSTALLING = "installing"  # socket being restored
    READY = "ready"  # restored, no mapping yet, held until the commit (or an abort, or the timeout)
    HANDING_OVER = "handing over"  # mapping being installed, then the socket handed over
    WITHDRAWING = "withdrawing"  # ready socket being closed silently
    LIVE = "live"  # the application holds the socket
    RELEASING = "releasing"  # the flow ended: its mapping is being removed


# Phases a request about the flow waits out before it answers.
_TRANSIENT = frozenset({_Phase.INSTALLING, _Phase.HANDING_OVER, _Phase.WITHDRAWING})


@dataclass
class _Flow:
    four_tuple: FourTuple
    nonce: bytes = b""  # of the handoff that installed it; empty when adopted
    handoff: Handoff | None = None  # None when adopted
    phase: _Phase = _Phase.INSTALLING
    sock: socket.socket | None = None  # the restored socket, held while READY
    expiry: asyncio.TimerHandle | None = None  # the commit timeout, while READY
    abort_requested: bool = False
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # clear while transient

    def enter(self, phase: _Phase) -> None:
        self.phase = phase
        if phase in _TRANSIENT:
            self.settled.clear()
        else:
            self.settled.set()


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "p4handoff_agent_requests",
            "Requests answered, by message kind and status",
            ["kind", "status"],
            registry=registry,
        )
        self.rejections = Counter(
            "p4handoff_agent_rejections",
            "Requests refused or failed, by reason",
            ["reason"],
            registry=registry,
        )
        self.live_flows = Gauge(
            "p4handoff_agent_live_flows", "Flows with an installed mapping", registry=registry
        )
        self.in_progress = Gauge(
            "p4handoff_agent_handoffs_in_progress", "Handoffs being installed", registry=registry
        )
        self.ready = Gauge(
            "p4handoff_agent_ready_sockets",
            "Restored sockets held for the classifier's commit",
            registry=registry,
        )
        self.commit_timeouts = Counter(
            "p4handoff_agent_commit_timeouts",
            "Ready sockets closed silently because no commit came in time",
            registry=registry,
        )
        self.connections = Gauge(
            "p4handoff_agent_connections", "Open classifier connections", registry=registry
        )
        self.unacknowledged = Counter(
            "p4handoff_agent_unacknowledged_handovers",
            "Sockets the application may or may not have received (counted as handed over)",
            registry=registry,
        )
        self.rollback_failures = Counter(
            "p4handoff_agent_rollback_failures",
            "Undo steps that failed after a failed handoff (a mapping may be left behind)",
            registry=registry,
        )
        buckets = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 1.0)
        self.handoff_seconds = Histogram(
            "p4handoff_agent_handoff_seconds",
            "Time from blob received to the socket restored and ready",
            buckets=buckets,
            registry=registry,
        )
        self.commit_seconds = Histogram(
            "p4handoff_agent_commit_seconds",
            "Time from commit received to the application holding the socket",
            buckets=buckets,
            registry=registry,
        )


class _DecapCollector(Collector):
    """The decapsulation table's counters, read from the kernel at each
    scrape. A failed read leaves them out of that scrape (and says why in
    the log) rather than failing the agent's other metrics."""

    FAMILIES = (
        ("p4handoff_agent_decapsulated_segments", "decapsulated",
         "Tunnelled segments rewritten to a handed-off connection's 4-tuple"),
        ("p4handoff_agent_unmapped_segments", "unmapped",
         "Tunnelled segments from a configured forwarder dropped for want of a mapping"),
    )  # fmt: skip

    def __init__(self, counts: Callable[[], DecapCounts]) -> None:
        self._counts = counts

    def describe(self) -> Iterator[Metric]:
        """The families without reading the kernel (the registry asks at registration)."""
        for name, _, documentation in self.FAMILIES:
            yield CounterMetricFamily(name, documentation)

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._counts()
        except Exception as exc:
            log.warning("reading the decapsulation counters failed: %s", exc)
            return
        for name, field_name, documentation in self.FAMILIES:
            yield CounterMetricFamily(name, documentation, value=getattr(counts, field_name))


@functools.lru_cache(maxsize=CACHED_ADDRESSES)
def _not_unicast(text: str) -> bool:
    addr = ip_address(text)
    limited_broadcast = addr == ipaddress.IPv4Address("255.255.255.255")
    return addr.is_unspecified or addr.is_multicast or limited_broadcast


class Agent:
    """One back-end's migrator agent; `handle` is the whole request logic."""

    def __init__(
        self,
        keys: Keyring,
        backends: Backends,
        config: AgentConfig | None = None,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], int] = now_ms,
        executor: Executor | None = None,
    ) -> None:
        self.keys = keys
        self.backends = backends
        self.config = _canonical(config or AgentConfig())
        self.registry = registry if registry is not None else CollectorRegistry()
        self._metrics = _Metrics(self.registry)
        self.registry.register(_DecapCollector(backends.counts))
        self._clock = clock
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="agent-backend")
        # A new agent remembers no nonces, so a blob created before it started
        # could be a replay of one its predecessor accepted (the floor refuses
        # what was created at or before it, hence the -1).
        self._window = ReplayWindow(
            self.config.max_age_ms,
            self.config.max_skew_ms,
            self.config.replay_capacity,
            not_before_ms=clock() - 1,
        )
        self._flows: dict[FlowKey, _Flow] = {}
        self._tuples: dict[FourTuple, FlowKey] = {}
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[object]] = {}
        self._expiring: set[asyncio.Task[None]] = set()
        # Release notices come in bursts: their mappings go in one transaction.
        self._removals: Coalescer[FlowKey] = Coalescer(self._remove_mappings)

    # ------------------------------------------------------------ queries

    def live_flows(self) -> dict[FlowKey, FourTuple]:
        """Flows the application holds: (forwarder, flow id) -> original 4-tuple."""
        return {k: f.four_tuple for k, f in self._flows.items() if f.phase is _Phase.LIVE}

    def ready_flows(self) -> dict[FlowKey, FourTuple]:
        """Restored flows waiting for their commit."""
        return {k: f.four_tuple for k, f in self._flows.items() if f.phase is _Phase.READY}

    def adopt(self, flows: Iterable[AdoptedFlow]) -> None:
        """Take over mappings installed by a previous run (found in the kernel),
        so they are refused as duplicates and can be released."""
        for forwarder, flow_id, four in flows:
            key = (forwarder, flow_id)
            if key not in self._flows:
                flow = _Flow(four)
                flow.enter(_Phase.LIVE)
                self._flows[key] = flow
                self._tuples[four] = key
                self._metrics.live_flows.inc()

    # ------------------------------------------------------------ requests

    async def handle(self, payload: bytes, peer: str) -> Reply:
        """Check and carry out one sealed message; never raises for bad input."""
        received = time.perf_counter()
        try:
            if len(payload) > OFFLOAD_BYTES:
                envelope = await self._run(
                    partial(unseal, payload, self.keys, max_size=self.config.max_blob)
                )
            else:
                envelope = unseal(payload, self.keys, max_size=self.config.max_blob)
            self._window.admit(envelope.nonce, envelope.created_ms, self._clock())
        except BlobError as exc:
            return self._refuse("blob", peer, _STATUS_OF_REASON[exc.reason], exc.reason, exc.detail)
        message = envelope.message
        if isinstance(message, Ping):
            # Heartbeats come every second from every classifier: not INFO material.
            log.debug("ping from %s", peer)
            return self._accept("ping", "alive")
        if isinstance(message, Release):
            return await self._release(message, peer)
        if isinstance(message, Abort):
            return await self._abort(message, envelope.created_ms, peer)
        if isinstance(message, Commit):
            reply = await self._commit(message, envelope.created_ms, peer)
            if reply.ok:
                self._metrics.commit_seconds.observe(time.perf_counter() - received)
            return reply
        self._metrics.in_progress.inc()
        try:
            reply = await self._handoff(message, envelope.nonce, peer)
        finally:
            self._metrics.in_progress.dec()
        if reply.ok:
            self._metrics.handoff_seconds.observe(time.perf_counter() - received)
        return reply

    def _refuse(self, kind: str, peer: str, status: Status, reason: str, detail: str) -> Reply:
        log.warning("refused %s from %s: %s (%s)", kind, peer, reason, detail)
        self._metrics.requests.labels(kind, str(int(status))).inc()
        self._metrics.rejections.labels(reason).inc()
        return Reply(status, f"{reason}: {detail}")

    def _accept(self, kind: str, detail: str, token: str = "ok") -> Reply:
        self._metrics.requests.labels(kind, str(int(Status.OK))).inc()
        return Reply(Status.OK, f"{token}: {detail}")

    def _check_mapping(self, h: Handoff) -> tuple[Status, str, str] | None:
        s = h.state
        cfg = self.config
        if cfg.forwarders and h.forwarder_ip not in cfg.forwarders:
            return Status.FORBIDDEN, "forwarder_not_served", f"forwarder {h.forwarder_ip}"
        if cfg.vips and (s.vip_ip, s.vip_port) not in cfg.vips:
            return Status.FORBIDDEN, "vip_not_served", f"VIP {s.vip_ip}:{s.vip_port}"
        if s.client_port == 0 or s.vip_port == 0:
            return Status.MALFORMED, "bad_mapping", "port 0 in the 4-tuple"
        addresses = (("client", s.client_ip), ("VIP", s.vip_ip), ("forwarder", h.forwarder_ip))
        for name, addr in addresses:
            if _not_unicast(addr):
                return Status.MALFORMED, "bad_mapping", f"{name} address {addr} is not unicast"
        key = (h.forwarder_ip, h.flow_id)
        if key in self._flows:
            return (
                Status.CONFLICT,
                "flow_id_live",
                (
                    f"flow {h.flow_id} from {h.forwarder_ip} already maps "
                    f"{_show(self._flows[key].four_tuple)}"
                ),
            )
        four = _four_tuple(s)
        if four in self._tuples:
            fwd, fid = self._tuples[four]
            return (
                Status.CONFLICT,
                "connection_live",
                (f"{_show(four)} is already flow {fid} from {fwd}"),
            )
        if len(self._flows) >= cfg.max_flows:
            return Status.BUSY, "too_many_flows", f"{cfg.max_flows} flows held"
        return None

    async def _handoff(self, h: Handoff, nonce: bytes, peer: str) -> Reply:
        problem = self._check_mapping(h)
        if problem is not None:
            return self._refuse("handoff", peer, *problem)
        key, four = (h.forwarder_ip, h.flow_id), _four_tuple(h.state)
        # Reserve before the first await so a concurrent duplicate is refused.
        flow = self._flows[key] = _Flow(four, nonce=nonce, handoff=h)
        self._tuples[four] = key
        try:
            return await self._prepare(h, flow, peer)
        finally:
            flow.settled.set()  # ready, or gone: either way no longer installing

    async def _prepare(self, h: Handoff, flow: _Flow, peer: str) -> Reply:
        key, four = (h.forwarder_ip, h.flow_id), flow.four_tuple
        what = f"flow {h.flow_id} from {h.forwarder_ip} ({_show(four)})"
        b = self.backends
        try:
            if _queued_bytes(h.state) > OFFLOAD_BYTES:
                sock = await self._run(partial(b.restore, h.state))
            else:
                sock = b.restore(h.state)
        except Exception as exc:
            self._unreserve(key, four)
            return self._failed(peer, "restore_failed", what, exc)
        if flow.abort_requested:
            await self._undo(partial(b.close_silently, sock), what)
            self._unreserve(key, four)
            return self._refuse(
                "handoff", peer, Status.CONFLICT, "aborted", f"{what}: the classifier gave up"
            )
        flow.sock = sock
        flow.enter(_Phase.READY)
        flow.expiry = asyncio.get_running_loop().call_later(
            self.config.commit_timeout_s, self._expire, key, flow
        )
        self._metrics.ready.inc()
        log.debug("handoff from %s: %s restored, waiting for the commit", peer, what)
        return self._accept("handoff", f"{what} restored, waiting for the commit", "ready")

    async def _commit(self, c: Commit, created_ms: int, peer: str) -> Reply:
        """Hand the ready socket of the handoff `c` names to the application."""
        key = (c.forwarder_ip, c.flow_id)
        what = f"handoff {c.handoff_nonce.hex()} of flow {c.flow_id} from {c.forwarder_ip}"
        flow = await self._settled(key, c.handoff_nonce)
        if flow is None or flow.nonce != c.handoff_nonce:
            # Timed out, aborted, refused or never seen: it must stay that way.
            self._window.forbid(c.handoff_nonce, created_ms)
            return self._refuse(
                "commit", peer, Status.CONFLICT, "not_ready",
                f"{what} is not waiting for a commit (aborted, timed out or never ready)",
            )  # fmt: skip
        if flow.phase is not _Phase.READY:  # a retried commit of a live flow
            return self._accept("commit", f"{what} is already handed over")
        return await self._hand_over(key, flow, peer)

    async def _hand_over(self, key: FlowKey, flow: _Flow, peer: str) -> Reply:
        sock, h = flow.sock, flow.handoff
        assert sock is not None and h is not None  # READY flows hold both
        what = f"flow {h.flow_id} from {h.forwarder_ip} ({_show(flow.four_tuple)})"
        self._stop_waiting(flow)
        flow.enter(_Phase.HANDING_OVER)
        b = self.backends
        try:
            b.decap_add(h.forwarder_ip, h.flow_id, h.state)
        except Exception as exc:
            # The classifier has let go of its copy: the connection is lost,
            # but quietly (nothing was acknowledged here).
            await self._undo(partial(b.close_silently, sock), what)
            self._unreserve(key, flow.four_tuple)
            flow.settled.set()
            return self._failed(peer, "decap_failed", what, exc, kind="commit")
        try:
            # Other handoffs go on while the application acknowledges.
            await b.hand_over(sock, h)
        except HandoverError as exc:
            if exc.delivered is not None:
                return await self._handover_failed(key, flow, sock, peer, what, exc)
            # The application may hold the socket already. Repairing or
            # silently closing it could freeze a live connection, and undoing
            # the handoff could let the classifier resume it too: two senders.
            # So it counts as done; at worst the client loses the connection.
            self._metrics.unacknowledged.inc()
            log.warning("commit from %s: %s handed over unacknowledged: %s", peer, what, exc)
            return self._live(flow, sock, f"{what}, hand-over unacknowledged")
        except Exception as exc:
            return await self._handover_failed(key, flow, sock, peer, what, exc)
        log.info("commit from %s: %s handed to the application", peer, what)
        return self._live(flow, sock, what)

    async def _handover_failed(
        self, key: FlowKey, flow: _Flow, sock: socket.socket, peer: str, what: str, exc: Exception
    ) -> Reply:
        # The switch already steers the client here and the classifier has
        # dropped its copy: the connection is lost, but quietly.
        b = self.backends
        await self._undo(partial(b.close_silently, sock), what)
        await self._undo(partial(_remove_one, b, key), what)
        self._unreserve(key, flow.four_tuple)
        flow.settled.set()
        return self._failed(peer, "handover_failed", what, exc, kind="commit")

    def _live(self, flow: _Flow, sock: socket.socket, what: str) -> Reply:
        # The application holds its own descriptor now; ours only kept the socket alive.
        sock.close()
        flow.enter(_Phase.LIVE)
        self._metrics.live_flows.inc()
        return self._accept("commit", f"{what} handed to the application")

    def _stop_waiting(self, flow: _Flow) -> None:
        """`flow` leaves READY: no more commit timeout, one ready socket fewer."""
        if flow.expiry is not None:
            flow.expiry.cancel()
            flow.expiry = None
        flow.sock = None
        self._metrics.ready.dec()

    def _withdraw(self, key: FlowKey, flow: _Flow, why: str) -> Awaitable[None]:
        """Undo a READY handoff: the socket goes without FIN or RST (the
        application never saw it, and with no mapping installed yet it never
        acknowledged a client segment); the id is free again.
        The flow leaves READY at the call, so no commit can hand it over any
        more; the kernel steps run when the result is awaited."""
        sock = flow.sock
        assert sock is not None  # READY flows hold it
        self._stop_waiting(flow)
        flow.enter(_Phase.WITHDRAWING)
        what = f"flow {key[1]} from {key[0]} ({_show(flow.four_tuple)}), {why}"

        async def undo() -> None:
            try:
                await self._undo(partial(self.backends.close_silently, sock), what)
            finally:
                self._unreserve(key, flow.four_tuple)
                flow.settled.set()

        return undo()

    def _expire(self, key: FlowKey, flow: _Flow) -> None:
        if flow.phase is not _Phase.READY or self._flows.get(key) is not flow:
            return
        self._metrics.commit_timeouts.inc()
        log.warning(
            "flow %d from %s (%s): no commit within %g s, closed silently",
            key[1], key[0], _show(flow.four_tuple), self.config.commit_timeout_s,
        )  # fmt: skip
        task = asyncio.ensure_future(self._withdraw(key, flow, "no commit in time"))
        self._expiring.add(task)
        task.add_done_callback(self._expiring.discard)

    async def _settled(self, key: FlowKey, nonce: bytes) -> _Flow | None:
        """The flow at `key` once no step is running on it, if it is the
        handoff sealed with `nonce` (or adopted); None when there is none."""
        flow = self._flows.get(key)
        while flow is not None and flow.nonce in (nonce, b"") and not flow.settled.is_set():
            await flow.settled.wait()
            flow = self._flows.get(key)
        return flow

    async def _abort(self, a: Abort, created_ms: int, peer: str) -> Reply:
        """Answer whether the handoff `a` names was handed to the application,
        making sure that if it was not, it never will be."""
        key = (a.forwarder_ip, a.flow_id)
        what = f"handoff {a.handoff_nonce.hex()} of flow {a.flow_id} from {a.forwarder_ip}"
        flow = self._flows.get(key)
        if flow is not None and flow.nonce == a.handoff_nonce and flow.phase is _Phase.INSTALLING:
            flow.abort_requested = True  # undone before it is ever ready
        flow = await self._settled(key, a.handoff_nonce)
        if flow is not None and flow.nonce in (a.handoff_nonce, b""):
            if flow.phase is not _Phase.READY:
                return self._refuse(
                    "abort", peer, Status.CONFLICT, "committed",
                    f"{what} is handed to the application",
                )  # fmt: skip
            await self._withdraw(key, flow, "aborted")
        else:
            # Never seen, or seen and refused: make sure it is refused if it
            # is still on its way.
            self._window.forbid(a.handoff_nonce, created_ms)
        log.info("abort from %s: %s is not installed", peer, what)
        return self._accept("abort", f"{what} is not installed and will not be")

    async def _release(self, r: Release, peer: str) -> Reply:
        key = (r.forwarder_ip, r.flow_id)
        what = f"flow {r.flow_id} from {r.forwarder_ip}"
        flow = self._flows.get(key)
        if flow is None:
            return self._refuse("release", peer, Status.NOT_FOUND, "unknown_flow", f"no {what}")
        if flow.phase is _Phase.READY:
            # Given up by the controller before its commit: the classifier
            # will not commit it (or the commit finds it gone).
            await self._withdraw(key, flow, "released before its commit")
            log.info("release from %s: %s removed before its commit", peer, what)
            return self._accept("release", f"{what} removed (never handed over)")
        if flow.phase is not _Phase.LIVE:
            return self._refuse(
                "release", peer, Status.CONFLICT, "flow_busy",
                f"{what} is {flow.phase.value}",
            )  # fmt: skip
        flow.enter(_Phase.RELEASING)
        try:
            await self._removals.submit(key)
        except Exception as exc:
            flow.enter(_Phase.LIVE)
            return self._failed(peer, "decap_remove_failed", what, exc, kind="release")
        self._unreserve(key, flow.four_tuple)
        self._metrics.live_flows.dec()
        log.info("release from %s: %s removed", peer, what)
        return self._accept("release", f"{what} removed")

    def _failed(
        self, peer: str, reason: str, what: str, exc: Exception, kind: str = "handoff"
    ) -> Reply:
        return self._refuse(kind, peer, Status.FAILED, reason, f"{what}: {exc}")

    async def _undo(self, step: Callable[[], object], what: str) -> None:
        try:
            await self._run(step)
        except Exception:
            self._metrics.rollback_failures.inc()
            log.exception("undoing a failed handoff of %s failed", what)

    def _unreserve(self, key: FlowKey, four: FourTuple) -> None:
        self._flows.pop(key, None)
        if self._tuples.get(four) == key:
            del self._tuples[four]

    async def _remove_mappings(self, keys: list[FlowKey]) -> Sequence[Exception | None]:
        if len(keys) > INLINE_REMOVALS:
            return await self._run(partial(self.backends.decap_remove, keys))
        return self.backends.decap_remove(keys)

    async def _run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    # ------------------------------------------------------------ serving

    async def start(
        self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
    ) -> tuple[str, int]:
        """Listen for classifiers; returns the bound address (port 0 picks one).
        With `ssl_context` (controller.handoff.tls.TlsFiles.server_context) a peer that
        does not complete mutual TLS never gets a frame read."""
        self._server = await asyncio.start_server(self._serve, host, port, ssl=ssl_context)
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # a connection callback always runs in a task
        self._connections[writer] = task
        self._metrics.connections.inc()
        try:
            await serve_frames(
                reader,
                writer,
                self.handle,
                max_payload=self.config.max_blob,
                max_in_flight=self.config.max_in_flight_per_connection,
            )
        finally:
            self._connections.pop(writer, None)
            self._metrics.connections.dec()

    async def stop(self) -> None:
        """Stop listening, let running requests finish and answer, close
        connections, and withdraw the ready sockets: no commit can reach
        them any more, and a socket left to the process's exit would send
        the client a FIN or RST."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._connections):
            # Ending the read side stops new requests; replies still go out.
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RD)
        if self._connections:
            await asyncio.gather(*self._connections.values(), return_exceptions=True)
        for key, flow in list(self._flows.items()):
            if flow.phase is _Phase.READY:
                log.warning("flow %d from %s: stopping before its commit", key[1], key[0])
                await self._withdraw(key, flow, "the agent stopped")
        if self._expiring:
            await asyncio.gather(*self._expiring, return_exceptions=True)
        if self._own_executor:
            self._executor.shutdown(wait=True)


def _canonical(config: AgentConfig) -> AgentConfig:
    """Spell configured addresses the way unsealed blobs do (ipaddress's text form)."""
    return dataclasses.replace(
        config,
        forwarders=frozenset(str(ipaddress.ip_address(f)) for f in config.forwarders),
        vips=frozenset((str(ipaddress.ip_address(a)), p) for a, p in config.vips),
    )


def _remove_one(backends: Backends, key: FlowKey) -> None:
    (outcome,) = backends.decap_remove([key])
    if outcome is not None:
        raise outcome


def _queued_bytes(s: ConnectionState) -> int:
    return len(s.send_unacked) + len(s.send_unsent) + len(s.receive)


def _four_tuple(s: ConnectionState) -> FourTuple:
    return (s.client_ip, s.client_port, s.vip_ip, s.vip_port)


def _show(four: FourTuple) -> str:
    return f"{four[0]}:{four[1]} -> {four[2]}:{four[3]}"
