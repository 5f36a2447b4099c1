"""The migrator agent with fake kernel back-ends: what it prepares, hands over,
refuses and undoes.

A handoff is two requests: the handoff blob (answered "ready": mapping and
restored socket in place, the application not told) and the commit (the
socket goes to the application). An abort, a release or the commit timeout
withdraws a ready socket silently.

The fakes stand in for nftables, TCP_REPAIR and SCM_RIGHTS (their real paths
are tested with the kernel by their own modules); they record every call, so
"a refused blob changes nothing" is checked as "no back-end call was made".
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from handoff_samples import FORWARDER, KEY, KEY_ID, KEYS, make_handoff
from kernel_lab import (
    VIP,
    Lab,
    handoff_topology,
    rst_count,
    rst_watch,
)
from prometheus_client import generate_latest

from controller.agent.core import (
    INLINE_REMOVALS,
    OFFLOAD_BYTES,
    Agent,
    AgentConfig,
    Backends,
    DecapCounts,
)
from controller.agent.kernel import hand_over_to, kernel_backends
from controller.agent.main import main
from controller.handoff import tcprepair
from controller.handoff.agent_protocol import (
    MAX_REPLY_PAYLOAD,
    AgentClient,
    HandoffOutcome,
    Reply,
    Status,
    decode_reply,
    encode_frame,
    read_frame,
)
from controller.handoff.blob import (
    HEADER_LEN,
    MAC_LEN,
    Abort,
    Commit,
    Handoff,
    Ping,
    Release,
    now_ms,
    seal,
    sealed_nonce,
    unseal,
)
from controller.handoff.cliargs import host_port
from controller.handoff.handover import (
    AsyncMigratedSocketListener,
    HandoverError,
    MigratedSocketListener,
)
from controller.handoff.keys import Keyring
from controller.handoff.nft import FlowLock, Nft
from controller.handoff.tcpstate import ConnectionState

PEER = "10.0.3.10:50000"


class FakeKernel:
    """Records decapsulation maps, restored sockets and hand-overs; can fail any step."""

    def __init__(
        self,
        fail: set[str] | None = None,
        delay: float = 0.0,
        slow: dict[str, float] | None = None,
        error: Callable[[str], Exception] = lambda name: OSError(f"fake {name} failure"),
    ) -> None:
        self.error = error
        self.fail = fail or set()
        self.delay = delay
        self.slow = slow or {}
        self.calls: list[str] = []
        self.decap: dict[tuple[str, int], ConnectionState] = {}
        self.restored: dict[int, ConnectionState] = {}
        self.app_sockets: list[tuple[socket.socket, Handoff]] = []
        self.silently_closed: list[int] = []
        self.removal_batches: list[list[tuple[str, int]]] = []
        self.removal_threads: list[str] = []
        self.decap_counts = DecapCounts(decapsulated=0, unmapped=0)
        self._lock = threading.Lock()

    def _begin(self, name: str) -> float:
        """Record the call; the seconds it takes."""
        with self._lock:
            self.calls.append(name)
        return self.slow.get(name, self.delay)

    def _end(self, name: str) -> None:
        if name in self.fail:
            raise self.error(name)

    def _step(self, name: str) -> None:
        pause = self._begin(name)
        if pause:
            time.sleep(pause)
        self._end(name)

    def decap_add(self, forwarder: str, flow_id: int, state: ConnectionState) -> None:
        self._step("decap_add")
        self.decap[(forwarder, flow_id)] = state

    def decap_remove(self, flows: list[tuple[str, int]]) -> list[Exception | None]:
        self.removal_batches.append(list(flows))
        self.removal_threads.append(threading.current_thread().name)
        outcomes: list[Exception | None] = []
        for flow in flows:
            try:
                self._step("decap_remove")
                del self.decap[flow]
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def restore(self, state: ConnectionState) -> socket.socket:
        self._step("restore")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.restored[sock.fileno()] = state
        return sock

    def close_silently(self, sock: socket.socket) -> None:
        self._step("close_silently")
        self.silently_closed.append(sock.fileno())
        sock.close()

    async def hand_over(self, sock: socket.socket, handoff: Handoff) -> None:
        pause = self._begin("hand_over")
        if pause:
            await asyncio.sleep(pause)  # the application acknowledging
        self._end("hand_over")
        # SCM_RIGHTS gives the application its own descriptor of the same socket.
        self.app_sockets.append((sock.dup(), handoff))

    def backends(self) -> Backends:
        return Backends(
            decap_add=self.decap_add,
            decap_remove=self.decap_remove,
            restore=self.restore,
            close_silently=self.close_silently,
            hand_over=self.hand_over,
            counts=self.counts,
        )

    def counts(self) -> DecapCounts:
        self._step("counts")
        return self.decap_counts

    def close(self) -> None:
        for sock, _ in self.app_sockets:
            sock.close()


_POOLS: list[ThreadPoolExecutor] = []


@pytest.fixture(autouse=True)
def _shut_down_pools() -> Iterator[None]:
    yield
    while _POOLS:
        _POOLS.pop().shutdown(wait=True)


def make_agent(kernel: FakeKernel, **config: Any) -> Agent:
    pool = ThreadPoolExecutor(1, thread_name_prefix="test-agent")
    _POOLS.append(pool)
    return Agent(KEYS, kernel.backends(), AgentConfig(**config), executor=pool)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def ask(agent: Agent, *blobs: bytes) -> Reply:
    """The reply to the last of `blobs`, sent one after the other on one event
    loop (commit timeouts are timers on it)."""

    async def go() -> Reply:
        replies = [await agent.handle(blob, PEER) for blob in blobs]
        return replies[-1]

    reply: Reply = run(go())
    return reply


def notice(kind: type[Commit] | type[Abort], blob: bytes) -> bytes:
    """A commit or abort naming the handoff `blob`."""
    handoff = unseal(blob, KEYS).message
    assert isinstance(handoff, Handoff)
    return seal(kind(handoff.flow_id, handoff.forwarder_ip, sealed_nonce(blob)), KEYS)


def commit_for(blob: bytes) -> bytes:
    return notice(Commit, blob)


def hand_off(agent: Agent, handoff: Handoff) -> Reply:
    """Both phases: the handoff (must be ready), then its commit's reply."""
    blob = seal(handoff, KEYS)

    async def go() -> Reply:
        ready = await agent.handle(blob, PEER)
        assert (ready.status, ready.code) == (Status.OK, "ready"), ready
        return await agent.handle(commit_for(blob), PEER)

    reply: Reply = run(go())
    return reply


def counter(agent: Agent, name: str, **labels: str) -> float:
    value = agent.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
def kernel() -> Iterator[FakeKernel]:
    k = FakeKernel()
    yield k
    k.close()


# ---------------------------------------------------------------- installing


def test_handoff_is_restored_and_ready_and_the_commit_hands_it_over(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    handoff = make_handoff(flow_id=0x00050006, send_unacked=b"hello")
    blob = seal(handoff, KEYS)
    ready = ask(agent, blob)
    assert (ready.status, ready.code) == (Status.OK, "ready")
    # The application knows nothing yet, and with no mapping the forwarder's
    # segments are dropped: the ready socket acknowledges nothing.
    assert kernel.calls == ["restore"]
    assert kernel.decap == {}
    assert list(kernel.restored.values()) == [handoff.state]
    four = ("10.0.1.10", 40000, "10.0.0.100", 80)
    assert agent.ready_flows() == {(FORWARDER, 0x00050006): four}
    assert agent.live_flows() == {}
    assert counter(agent, "p4handoff_agent_ready_sockets") == 1
    assert counter(agent, "p4handoff_agent_handoff_seconds_count") == 1

    committed = ask(agent, commit_for(blob))
    assert (committed.status, committed.code) == (Status.OK, "ok")
    assert kernel.calls == ["restore", "decap_add", "hand_over"]
    assert kernel.decap == {(FORWARDER, 0x00050006): handoff.state}
    app_sock, handed = kernel.app_sockets[0]
    assert handed == handoff
    assert app_sock.fileno() >= 0  # the application's copy stays open
    assert agent.live_flows() == {(FORWARDER, 0x00050006): four}
    assert agent.ready_flows() == {}
    assert counter(agent, "p4handoff_agent_requests_total", kind="handoff", status="200") == 1
    assert counter(agent, "p4handoff_agent_requests_total", kind="commit", status="200") == 1
    assert counter(agent, "p4handoff_agent_live_flows") == 1
    assert counter(agent, "p4handoff_agent_ready_sockets") == 0
    assert counter(agent, "p4handoff_agent_commit_seconds_count") == 1


def test_large_blob_is_checked_off_the_event_loop(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    handoff = make_handoff(receive=b"r" * 200_000)
    assert ask(agent, seal(handoff, KEYS)).ok
    (restored,) = kernel.restored.values()
    assert restored.receive == b"r" * 200_000


# ---------------------------------------------------------------- refusing blobs


def flipped(blob: bytes, offset: int) -> bytes:
    data = bytearray(blob)
    data[offset] ^= 0x01
    return bytes(data)


def downgraded(blob: bytes) -> bytes:
    unsigned = bytearray(blob[:-MAC_LEN])
    unsigned[4] = 0
    return bytes(unsigned) + hmac.digest(KEY, bytes(unsigned), hashlib.sha256)


NOW = now_ms()
GOOD = seal(make_handoff(), KEYS, created_ms=NOW)

REFUSALS: list[tuple[str, Callable[[], bytes], int, str]] = [
    ("forged body", lambda: flipped(GOOD, HEADER_LEN + 30), Status.UNAUTHENTICATED, "bad_mac"),
    ("forged mac", lambda: flipped(GOOD, len(GOOD) - 1), Status.UNAUTHENTICATED, "bad_mac"),
    ("forged time", lambda: flipped(GOOD, 35), Status.UNAUTHENTICATED, "bad_mac"),
    ("truncated", lambda: GOOD[:-1], Status.MALFORMED, "truncated"),
    ("trailing", lambda: GOOD + b"x", Status.MALFORMED, "trailing_data"),
    ("garbage", lambda: b"GET / HTTP/1.1\r\n\r\n", Status.MALFORMED, "bad_magic"),
    ("empty", lambda: b"", Status.MALFORMED, "truncated"),
    ("downgrade", lambda: downgraded(GOOD), Status.MALFORMED, "bad_version"),
    (
        "unknown key",
        lambda: seal(make_handoff(), Keyring({99: KEY})),
        Status.UNAUTHENTICATED,
        "unknown_key",
    ),
    (
        "stale",
        lambda: seal(make_handoff(), KEYS, created_ms=now_ms() - 60_000),
        Status.CONFLICT,
        "stale",
    ),
    (
        "future",
        lambda: seal(make_handoff(), KEYS, created_ms=now_ms() + 60_000),
        Status.CONFLICT,
        "future",
    ),
    (
        "too large",
        lambda: seal(make_handoff(receive=b"x" * 5000), KEYS),
        Status.TOO_LARGE,
        "too_large",
    ),
]


@pytest.mark.parametrize(
    ("make_blob", "status", "code"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_refused_blob_changes_nothing_and_logs_the_reason(
    kernel: FakeKernel,
    caplog: pytest.LogCaptureFixture,
    make_blob: Callable[[], bytes],
    status: int,
    code: str,
) -> None:
    agent = make_agent(kernel, max_blob=4096)
    with caplog.at_level(logging.WARNING, logger="p4handoff.agent"):
        reply = ask(agent, make_blob())
    assert (reply.status, reply.code) == (status, code)
    assert kernel.calls == []
    assert agent.live_flows() == {}
    assert counter(agent, "p4handoff_agent_rejections_total", reason=code) == 1
    assert any(f"from {PEER}: {code}" in r.getMessage() for r in caplog.records)


def test_blob_created_before_the_agent_started_is_refused_as_stale(kernel: FakeKernel) -> None:
    """A restarted agent has forgotten its nonces; older blobs could be replays."""
    blob = seal(make_handoff(), KEYS, created_ms=now_ms() - 2)
    agent = make_agent(kernel)
    reply = ask(agent, blob)
    assert (reply.status, reply.code) == (Status.CONFLICT, "stale")
    assert kernel.calls == []


def test_replayed_blob_is_refused_and_the_first_stays_installed(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    blob = seal(make_handoff(), KEYS)
    assert ask(agent, blob).ok
    calls_after_first = list(kernel.calls)
    reply = ask(agent, blob)
    assert (reply.status, reply.code) == (Status.CONFLICT, "replayed")
    assert kernel.calls == calls_after_first
    assert len(agent.ready_flows()) == 1


# ---------------------------------------------------------------- refusing mappings


MAPPING_REFUSALS: list[tuple[str, dict[str, Any], Handoff, int, str]] = [
    (
        "forwarder not served",
        {"forwarders": frozenset({"10.0.0.2"})},
        make_handoff(),
        Status.FORBIDDEN,
        "forwarder_not_served",
    ),
    (
        "vip not served",
        {"vips": frozenset({("10.0.0.100", 443)})},
        make_handoff(),
        Status.FORBIDDEN,
        "vip_not_served",
    ),
    ("client port 0", {}, make_handoff(client_port=0), Status.MALFORMED, "bad_mapping"),
    ("vip port 0", {}, make_handoff(vip_port=0), Status.MALFORMED, "bad_mapping"),
    ("client 0.0.0.0", {}, make_handoff(client_ip="0.0.0.0"), Status.MALFORMED, "bad_mapping"),
    ("multicast vip", {}, make_handoff(vip_ip="224.0.0.1"), Status.MALFORMED, "bad_mapping"),
    (
        "broadcast forwarder",
        {},
        make_handoff(forwarder="255.255.255.255"),
        Status.MALFORMED,
        "bad_mapping",
    ),
]


@pytest.mark.parametrize(
    ("config", "handoff", "status", "code"),
    [case[1:] for case in MAPPING_REFUSALS],
    ids=[case[0] for case in MAPPING_REFUSALS],
)
def test_authentic_handoff_with_an_unacceptable_mapping_changes_nothing(
    kernel: FakeKernel, config: dict[str, Any], handoff: Handoff, status: int, code: str
) -> None:
    agent = make_agent(kernel, **config)
    reply = ask(agent, seal(handoff, KEYS))
    assert (reply.status, reply.code) == (status, code)
    assert kernel.calls == []
    assert agent.live_flows() == {}


def test_served_forwarder_and_vip_are_accepted(kernel: FakeKernel) -> None:
    agent = make_agent(
        kernel, forwarders=frozenset({FORWARDER}), vips=frozenset({("10.0.0.100", 80)})
    )
    assert ask(agent, seal(make_handoff(), KEYS)).ok


def test_configured_addresses_match_however_they_are_spelled(kernel: FakeKernel) -> None:
    agent = make_agent(
        kernel,
        forwarders=frozenset({"2001:DB8::0001"}),
        vips=frozenset({("2001:db8:0::64", 80)}),
    )
    handoff = make_handoff(forwarder="2001:db8::1", client_ip="2001:db8::10", vip_ip="2001:db8::64")
    assert ask(agent, seal(handoff, KEYS)).ok


@pytest.mark.parametrize("committed", [False, True], ids=["ready", "live"])
def test_live_flow_id_or_connection_is_refused_as_conflict(
    kernel: FakeKernel, committed: bool
) -> None:
    agent = make_agent(kernel)
    first = seal(make_handoff(flow_id=1), KEYS)
    assert ask(agent, first, *([commit_for(first)] if committed else [])).ok
    before = (list(kernel.calls), dict(kernel.decap), agent.live_flows(), agent.ready_flows())

    same_flow_id = make_handoff(flow_id=1, client_port=40001)
    reply = ask(agent, seal(same_flow_id, KEYS))
    assert (reply.status, reply.code) == (Status.CONFLICT, "flow_id_live")
    assert "10.0.1.10:40000" in reply.reason

    same_connection = make_handoff(flow_id=2)
    reply = ask(agent, seal(same_connection, KEYS))
    assert (reply.status, reply.code) == (Status.CONFLICT, "connection_live")

    assert (list(kernel.calls), dict(kernel.decap), agent.live_flows(), agent.ready_flows()) == (
        before
    )
    # The same flow id from another forwarder is a different flow.
    assert ask(agent, seal(make_handoff(flow_id=1, forwarder="10.0.0.2", client_port=1), KEYS)).ok


def test_flow_table_limit_answers_busy(kernel: FakeKernel) -> None:
    agent = make_agent(kernel, max_flows=1)
    assert ask(agent, seal(make_handoff(flow_id=1), KEYS)).ok
    reply = ask(agent, seal(make_handoff(flow_id=2, client_port=2), KEYS))
    assert (reply.status, reply.code) == (Status.BUSY, "too_many_flows")


# ---------------------------------------------------------------- failures are undone


def test_failed_restore_changes_nothing_and_the_flow_can_be_retried() -> None:
    kernel = FakeKernel(fail={"restore"})
    agent = make_agent(kernel)
    reply = ask(agent, seal(make_handoff(), KEYS))
    assert (reply.status, reply.code) == (Status.FAILED, "restore_failed")
    assert "fake" in reply.reason
    assert kernel.calls == ["restore"]
    assert kernel.decap == {}
    assert agent.live_flows() == agent.ready_flows() == {}
    kernel.fail.clear()
    assert ask(agent, seal(make_handoff(), KEYS)).ok
    kernel.close()


def test_failed_hand_over_at_the_commit_is_undone_silently() -> None:
    """The classifier has let go by then: the connection is lost, but without
    a FIN or RST, and nothing is left behind."""
    kernel = FakeKernel(fail={"hand_over"})
    agent = make_agent(kernel)
    reply = hand_off(agent, make_handoff())
    assert (reply.status, reply.code) == (Status.FAILED, "handover_failed")
    assert "fake" in reply.reason
    assert kernel.calls == ["restore", "decap_add", "hand_over", "close_silently", "decap_remove"]
    assert kernel.silently_closed == list(kernel.restored)
    assert kernel.decap == {} and agent.live_flows() == agent.ready_flows() == {}
    kernel.fail.clear()
    assert hand_off(agent, make_handoff()).ok
    kernel.close()


def test_mapping_that_fails_at_the_commit_is_undone_silently() -> None:
    """The mapping goes in only on the commit; when it cannot, the restored
    socket is closed without a FIN or RST and never reaches the application."""
    kernel = FakeKernel(fail={"decap_add"})
    agent = make_agent(kernel)
    reply = hand_off(agent, make_handoff())
    assert (reply.status, reply.code) == (Status.FAILED, "decap_failed")
    assert kernel.calls == ["restore", "decap_add", "close_silently"]
    assert kernel.silently_closed == list(kernel.restored) and kernel.app_sockets == []
    assert kernel.decap == {} and agent.live_flows() == agent.ready_flows() == {}
    assert counter(agent, "p4handoff_agent_requests_total", kind="commit", status="500") == 1
    kernel.fail.clear()
    assert hand_off(agent, make_handoff()).ok
    kernel.close()


def test_hand_over_certainly_not_delivered_is_undone() -> None:
    kernel = FakeKernel(fail={"hand_over"}, error=lambda _: HandoverError("refused", False))
    agent = make_agent(kernel)
    reply = hand_off(agent, make_handoff())
    assert reply.code == "handover_failed"
    assert kernel.calls[-2:] == ["close_silently", "decap_remove"]


def test_hand_over_that_may_have_been_delivered_counts_as_done() -> None:
    """Undoing it could freeze the application's socket or make two senders."""
    kernel = FakeKernel(fail={"hand_over"}, error=lambda _: HandoverError("no ack", None))
    agent = make_agent(kernel)
    reply = hand_off(agent, make_handoff())
    assert reply.ok and "unacknowledged" in reply.reason
    assert kernel.calls == ["restore", "decap_add", "hand_over"]
    assert len(kernel.decap) == 1 and len(agent.live_flows()) == 1
    assert counter(agent, "p4handoff_agent_unacknowledged_handovers_total") == 1


def test_failed_undo_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    kernel = FakeKernel(fail={"hand_over", "decap_remove"})
    agent = make_agent(kernel)
    with caplog.at_level(logging.ERROR, logger="p4handoff.agent"):
        reply = hand_off(agent, make_handoff())
    assert reply.code == "handover_failed"
    assert counter(agent, "p4handoff_agent_rollback_failures_total") == 1
    assert "undoing a failed handoff" in caplog.text


# ---------------------------------------------------------------- releasing


def test_release_removes_the_mapping(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    assert hand_off(agent, make_handoff(flow_id=9)).ok
    reply = ask(agent, seal(Release(flow_id=9, forwarder_ip=FORWARDER), KEYS))
    assert reply.ok
    assert kernel.decap == {}
    assert agent.live_flows() == {}
    assert counter(agent, "p4handoff_agent_live_flows") == 0
    # flow id and connection are free again
    assert hand_off(agent, make_handoff(flow_id=9)).ok


def test_release_of_a_ready_flow_withdraws_it_silently(kernel: FakeKernel) -> None:
    """The controller gave the flow up before its commit."""
    agent = make_agent(kernel)
    blob = seal(make_handoff(flow_id=9), KEYS)
    reply = ask(agent, blob, seal(Release(flow_id=9, forwarder_ip=FORWARDER), KEYS))
    assert reply.ok and "never handed over" in reply.reason
    assert kernel.calls == ["restore", "close_silently"]
    assert agent.ready_flows() == {} and kernel.app_sockets == []
    late = ask(agent, commit_for(blob))
    assert (late.status, late.code) == (Status.CONFLICT, "not_ready")


def test_release_of_an_unknown_flow_is_not_found(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    reply = ask(agent, seal(Release(flow_id=9, forwarder_ip=FORWARDER), KEYS))
    assert (reply.status, reply.code) == (Status.NOT_FOUND, "unknown_flow")
    assert kernel.calls == []


def test_release_that_fails_keeps_the_flow_for_a_retry(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    assert hand_off(agent, make_handoff(flow_id=9)).ok
    kernel.fail.add("decap_remove")
    reply = ask(agent, seal(Release(flow_id=9, forwarder_ip=FORWARDER), KEYS))
    assert (reply.status, reply.code) == (Status.FAILED, "decap_remove_failed")
    assert len(agent.live_flows()) == 1
    kernel.fail.clear()
    assert ask(agent, seal(Release(flow_id=9, forwarder_ip=FORWARDER), KEYS)).ok


def test_replayed_release_is_refused(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    assert hand_off(agent, make_handoff(flow_id=9)).ok
    release = seal(Release(flow_id=9, forwarder_ip=FORWARDER), KEYS)
    assert ask(agent, release).ok
    assert hand_off(agent, make_handoff(flow_id=9)).ok
    reply = ask(agent, release)  # an old release must not tear down the new flow
    assert (reply.status, reply.code) == (Status.CONFLICT, "replayed")
    assert len(agent.live_flows()) == 1


def test_adopted_flows_are_live(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    agent.adopt([(FORWARDER, 5, ("10.0.1.10", 40000, "10.0.0.100", 80))])
    reply = ask(agent, seal(make_handoff(flow_id=6), KEYS))
    assert reply.code == "connection_live"
    kernel.decap[(FORWARDER, 5)] = make_handoff().state  # what the kernel already held
    assert ask(agent, seal(Release(flow_id=5, forwarder_ip=FORWARDER), KEYS)).ok


# ---------------------------------------------------------------- heartbeats


def test_ping_is_answered_ok_quietly_and_changes_nothing(
    kernel: FakeKernel, caplog: pytest.LogCaptureFixture
) -> None:
    agent = make_agent(kernel)
    assert ask(agent, seal(make_handoff(), KEYS)).ok
    calls, flows = list(kernel.calls), agent.live_flows()
    with caplog.at_level(logging.INFO, logger="p4handoff.agent"):
        replies = [ask(agent, seal(Ping(), KEYS)) for _ in range(3)]
    assert [(r.status, r.code) for r in replies] == [(Status.OK, "ok")] * 3
    assert caplog.records == []
    assert (kernel.calls, agent.live_flows()) == (calls, flows)
    assert counter(agent, "p4handoff_agent_requests_total", kind="ping", status="200") == 3
    assert counter(agent, "p4handoff_agent_requests_total", kind="abort", status="200") == 0


def test_ping_from_a_classifier_with_another_key_or_clock_is_refused(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    forged = ask(agent, seal(Ping(), Keyring({KEY_ID: bytes(32)})))
    assert (forged.status, forged.code) == (Status.UNAUTHENTICATED, "bad_mac")
    skewed = ask(agent, seal(Ping(), KEYS, created_ms=now_ms() + 60_000))
    assert (skewed.status, skewed.code) == (Status.CONFLICT, "future")


# ---------------------------------------------------------------- committing


def test_commit_timeout_withdraws_the_ready_socket_silently() -> None:
    """A classifier that never commits (it died, or its switch write failed)
    leaves nothing behind, and a late commit is refused."""
    kernel = FakeKernel()
    agent = make_agent(kernel, commit_timeout_s=0.05)
    blob = seal(make_handoff(), KEYS)

    async def go() -> tuple[Reply, Reply]:
        ready = await agent.handle(blob, PEER)
        async with asyncio.timeout(5):  # the commit timeout withdraws the socket
            while "close_silently" not in kernel.calls:
                await asyncio.sleep(0.01)
        return ready, await agent.handle(commit_for(blob), PEER)

    ready, late = run(go())
    assert ready.ok
    assert (late.status, late.code) == (Status.CONFLICT, "not_ready")
    assert kernel.calls == ["restore", "close_silently"]
    assert kernel.silently_closed == list(kernel.restored) and kernel.app_sockets == []
    assert kernel.decap == {} and agent.ready_flows() == agent.live_flows() == {}
    assert counter(agent, "p4handoff_agent_commit_timeouts_total") == 1
    assert counter(agent, "p4handoff_agent_ready_sockets") == 0


def test_commit_of_a_handoff_never_ready_is_refused_and_changes_nothing(
    kernel: FakeKernel,
) -> None:
    agent = make_agent(kernel)
    blob = seal(make_handoff(), KEYS)
    reply = ask(agent, commit_for(blob))
    assert (reply.status, reply.code) == (Status.CONFLICT, "not_ready")
    assert kernel.calls == []
    late = ask(agent, blob)  # that handoff must never become ready now
    assert (late.status, late.code) == (Status.CONFLICT, "replayed")


def test_commit_naming_another_handoff_of_the_flow_id_is_refused(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    blob = seal(make_handoff(), KEYS)
    other = seal(make_handoff(client_port=1), KEYS)  # same flow id, never sent
    reply = ask(agent, blob, commit_for(other))
    assert (reply.status, reply.code) == (Status.CONFLICT, "not_ready")
    assert kernel.app_sockets == [] and len(agent.ready_flows()) == 1


def test_commit_asked_again_is_answered_ok_and_hands_over_once(kernel: FakeKernel) -> None:
    """A classifier whose commit answer was lost sends a new one."""
    agent = make_agent(kernel)
    blob = seal(make_handoff(), KEYS)
    first = commit_for(blob)
    again = ask(agent, blob, first, commit_for(blob))
    assert again.ok and "already handed over" in again.reason
    assert kernel.calls.count("hand_over") == 1
    replayed = ask(agent, first)
    assert (replayed.status, replayed.code) == (Status.CONFLICT, "replayed")


def test_stopping_agent_withdraws_ready_sockets() -> None:
    """No commit can reach them any more; left to the process's exit they
    would send the client a RST."""
    kernel = FakeKernel()
    agent = make_agent(kernel)

    async def go() -> None:
        await agent.start("127.0.0.1", 0)
        assert (await agent.handle(seal(make_handoff(), KEYS), PEER)).ok
        await agent.stop()

    run(go())
    assert kernel.calls == ["restore", "close_silently"]
    assert agent.ready_flows() == {}


# ---------------------------------------------------------------- aborting


def abort_for(blob: bytes) -> bytes:
    return notice(Abort, blob)


def test_abort_of_a_ready_handoff_withdraws_it(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    blob = seal(make_handoff(), KEYS)
    reply = ask(agent, blob, abort_for(blob))
    assert (reply.status, reply.code) == (Status.OK, "ok")
    assert "will not be" in reply.reason
    assert kernel.calls == ["restore", "close_silently"]
    assert kernel.silently_closed == list(kernel.restored) and kernel.app_sockets == []
    assert kernel.decap == {} and agent.ready_flows() == {}
    late = ask(agent, commit_for(blob))
    assert (late.status, late.code) == (Status.CONFLICT, "not_ready")
    assert ask(agent, seal(make_handoff(), KEYS)).ok  # flow id and connection free again


def test_abort_of_a_committed_handoff_answers_committed(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    blob = seal(make_handoff(), KEYS)
    assert ask(agent, blob, commit_for(blob)).ok
    calls = list(kernel.calls)
    reply = ask(agent, abort_for(blob))
    assert (reply.status, reply.code) == (Status.CONFLICT, "committed")
    assert kernel.calls == calls
    assert len(agent.live_flows()) == 1


def test_abort_before_the_blob_arrives_makes_the_blob_refused(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    blob = seal(make_handoff(), KEYS)
    reply = ask(agent, abort_for(blob))
    assert (reply.status, reply.code) == (Status.OK, "ok")
    assert "will not be" in reply.reason
    late = ask(agent, blob)
    assert (late.status, late.code) == (Status.CONFLICT, "replayed")
    assert kernel.calls == []


def test_abort_of_a_refused_handoff_answers_not_installed(kernel: FakeKernel) -> None:
    agent = make_agent(kernel, vips=frozenset({("10.0.0.100", 443)}))
    blob = seal(make_handoff(), KEYS)
    assert ask(agent, blob).code == "vip_not_served"
    assert ask(agent, abort_for(blob)).ok


def large_handoff() -> Handoff:
    """A handoff queueing more than the agent restores on its event loop: its
    restore runs on a thread, so other messages are served meanwhile."""
    return make_handoff(receive=b"r" * (OFFLOAD_BYTES + 1))


def test_abort_during_installation_undoes_it_before_it_is_ready() -> None:
    kernel = FakeKernel(delay=0.05)
    agent = make_agent(kernel)
    blob = seal(large_handoff(), KEYS)

    async def go() -> tuple[Reply, Reply]:
        handoff = asyncio.ensure_future(agent.handle(blob, PEER))
        while "restore" not in kernel.calls:
            await asyncio.sleep(0.005)
        abort = await agent.handle(abort_for(blob), PEER)
        return await handoff, abort

    handoff_reply, abort_reply = run(go())
    assert (handoff_reply.status, handoff_reply.code) == (Status.CONFLICT, "aborted")
    assert abort_reply.ok
    assert kernel.calls == ["restore", "close_silently"]
    assert kernel.decap == {} and agent.live_flows() == agent.ready_flows() == {}


def test_abort_during_the_hand_over_waits_and_answers_committed() -> None:
    kernel = FakeKernel(slow={"hand_over": 0.1})
    agent = make_agent(kernel)
    blob = seal(make_handoff(), KEYS)

    async def go() -> tuple[Reply, Reply]:
        assert (await agent.handle(blob, PEER)).ok
        commit = asyncio.ensure_future(agent.handle(commit_for(blob), PEER))
        while "hand_over" not in kernel.calls:
            await asyncio.sleep(0.005)
        abort = await agent.handle(abort_for(blob), PEER)
        return await commit, abort

    commit_reply, abort_reply = run(go())
    assert commit_reply.ok
    assert abort_reply.code == "committed"
    kernel.close()


def test_abort_naming_another_handoff_of_a_live_flow_id_is_answered_not_installed(
    kernel: FakeKernel,
) -> None:
    agent = make_agent(kernel)
    assert hand_off(agent, make_handoff()).ok
    other = seal(make_handoff(client_port=1), KEYS)  # same flow id, never sent
    assert ask(agent, abort_for(other)).ok
    assert len(agent.live_flows()) == 1


# ---------------------------------------------------------------- over the network


def serve(agent: Agent, body: Callable[[AgentClient], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        host, port = await agent.start("127.0.0.1", 0)
        try:
            async with AgentClient(host, port) as client:
                return await body(client)
        finally:
            await agent.stop()

    return run(go())


def distinct_handoff(i: int) -> Handoff:
    h = make_handoff(flow_id=0x10000 + i, client_port=10_000 + i, receive=f"GET /{i}".encode())
    return dataclasses.replace(h, state=dataclasses.replace(h.state, snd_seq=i * 7919))


def test_200_concurrent_handoffs_on_one_connection() -> None:
    kernel = FakeKernel(delay=0.0005)
    agent = make_agent(kernel)
    blobs = [seal(distinct_handoff(i), KEYS) for i in range(200)]

    async def body(client: AgentClient) -> list[Reply]:
        async def both(blob: bytes) -> Reply:
            ready = await client.request(blob, timeout=20)
            assert ready.code == "ready", ready
            return await client.request(commit_for(blob), timeout=20)

        return list(await asyncio.gather(*(both(b) for b in blobs)))

    replies = serve(agent, body)
    assert [r.status for r in replies] == [Status.OK] * 200
    assert len(kernel.decap) == 200
    for i in range(200):
        assert kernel.decap[(FORWARDER, 0x10000 + i)] == distinct_handoff(i).state
    assert sorted(h.flow_id for _, h in kernel.app_sockets) == [0x10000 + i for i in range(200)]
    assert counter(agent, "p4handoff_agent_live_flows") == 200
    assert counter(agent, "p4handoff_agent_handoffs_in_progress") == 0
    assert counter(agent, "p4handoff_agent_ready_sockets") == 0
    kernel.close()


@pytest.mark.parametrize("count", [20, INLINE_REMOVALS + 6])
def test_a_burst_of_releases_shares_kernel_transactions(count: int) -> None:
    """Release notices that arrive together (the controller ends flows in
    batches; here all in one segment) remove their mappings in one kernel
    call, each answered for its own flow; one the kernel refuses fails alone.
    A burst larger than INLINE_REMOVALS is removed on a thread, not on the
    event loop."""
    kernel = FakeKernel()
    agent = make_agent(kernel)
    flows = [distinct_handoff(i) for i in range(count)]
    for handoff in flows:
        assert hand_off(agent, handoff).ok
    refused = flows[7].flow_id
    kernel.decap.pop((FORWARDER, refused))  # gone behind the agent's back: removal raises

    async def go() -> list[Reply]:
        host, port = await agent.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                b"".join(
                    encode_frame(n, seal(Release(h.flow_id, FORWARDER), KEYS))
                    for n, h in enumerate(flows)
                )
            )
            replies: dict[int, Reply] = {}
            while len(replies) < len(flows):
                frame = await read_frame(reader, MAX_REPLY_PAYLOAD)
                assert frame is not None
                replies[frame[0]] = decode_reply(frame[1])
            writer.close()
            return [replies[n] for n in range(len(flows))]
        finally:
            await agent.stop()

    replies = run(go())
    assert [r.code for r in replies] == ["ok"] * 7 + ["decap_remove_failed"] + ["ok"] * (count - 8)
    assert sorted(k for batch in kernel.removal_batches for k in batch) == sorted(
        (FORWARDER, h.flow_id) for h in flows
    )
    assert len(kernel.removal_batches[0]) == len(flows), kernel.removal_batches
    on_loop = kernel.removal_threads[0] == threading.main_thread().name
    assert on_loop == (count <= INLINE_REMOVALS), kernel.removal_threads
    kept = flows[7].state
    assert agent.live_flows() == {
        (FORWARDER, refused): (kept.client_ip, kept.client_port, kept.vip_ip, kept.vip_port)
    }


def test_200_concurrent_handoffs_from_several_classifiers() -> None:
    kernel = FakeKernel()
    agent = make_agent(kernel)

    async def go() -> list[Reply]:
        host, port = await agent.start("127.0.0.1", 0)
        clients = [AgentClient(host, port) for _ in range(4)]
        try:
            return list(
                await asyncio.gather(
                    *(
                        clients[i % 4].request(seal(distinct_handoff(i), KEYS), timeout=20)
                        for i in range(200)
                    )
                )
            )
        finally:
            for c in clients:
                await c.close()
            await agent.stop()

    replies = run(go())
    assert all(r.code == "ready" for r in replies)
    # ready, then withdrawn when the agent stopped: no commit can come any more
    assert kernel.calls.count("restore") == kernel.calls.count("close_silently") == 200
    assert kernel.decap == {} and agent.ready_flows() == {}
    kernel.close()


def test_concurrent_duplicates_install_exactly_once() -> None:
    kernel = FakeKernel(delay=0.001)
    agent = make_agent(kernel)
    blobs = [seal(make_handoff(flow_id=77), KEYS) for _ in range(50)]  # 50 distinct nonces

    async def body(client: AgentClient) -> list[Reply]:
        return list(await asyncio.gather(*(client.request(b, timeout=20) for b in blobs)))

    replies = serve(agent, body)
    assert sum(r.ok for r in replies) == 1
    assert {r.code for r in replies if not r.ok} == {"flow_id_live"}
    assert kernel.calls.count("restore") == 1
    kernel.close()


def test_status_and_reason_reach_the_classifier(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)

    async def body(client: AgentClient) -> list[Reply]:
        good = await client.request(seal(make_handoff(), KEYS), timeout=5)
        forged = await client.request(flipped(seal(make_handoff(), KEYS), 50), timeout=5)
        return [good, forged]

    good, forged = serve(agent, body)
    assert good.ok
    assert (forged.status, forged.code) == (Status.UNAUTHENTICATED, "bad_mac")


def test_stop_lets_a_running_handoff_finish_and_answer() -> None:
    kernel = FakeKernel(delay=0.2)
    agent = make_agent(kernel)

    async def go() -> Reply:
        host, port = await agent.start("127.0.0.1", 0)
        async with AgentClient(host, port) as client:
            pending = asyncio.ensure_future(client.request(seal(make_handoff(), KEYS), timeout=5))
            while not kernel.calls:
                await asyncio.sleep(0.01)
            await agent.stop()
            return await pending

    assert run(go()).code == "ready"
    assert kernel.calls == ["restore", "close_silently"]
    kernel.close()


def outcome_of(agent: Agent, blob: bytes, timeout: float) -> HandoffOutcome:
    async def body(client: AgentClient) -> HandoffOutcome:
        return await client.hand_off(
            blob, flow_id=0x00010002, forwarder_ip=FORWARDER, keys=KEYS, timeout=timeout,
            abort_timeout=5,
        )  # fmt: skip

    result: HandoffOutcome = serve(agent, body)
    return result


def test_hand_off_outcomes_when_the_agent_answers(kernel: FakeKernel) -> None:
    agent = make_agent(kernel, vips=frozenset({("10.0.0.100", 80)}))
    ok = outcome_of(agent, seal(make_handoff(), KEYS), timeout=5)
    assert (ok.ready, ok.certain) == (True, True)
    assert ok.reply is not None and ok.reply.code == "ready"
    agent = make_agent(kernel, vips=frozenset({("10.0.0.100", 443)}))
    refused = outcome_of(agent, seal(make_handoff(), KEYS), timeout=5)
    assert (refused.ready, refused.certain) == (False, True)
    assert refused.reply is not None and refused.reply.code == "vip_not_served"


def test_hand_off_that_times_out_while_installing_is_aborted_and_undone() -> None:
    kernel = FakeKernel(slow={"restore": 0.2})
    agent = make_agent(kernel)
    outcome = outcome_of(agent, seal(large_handoff(), KEYS), timeout=0.05)
    assert (outcome.ready, outcome.certain) == (False, True)
    assert "no reply" in outcome.detail and "will not be" in outcome.detail
    assert kernel.calls == ["restore", "close_silently"]
    assert kernel.decap == {} and agent.ready_flows() == {}


def test_commit_over_the_network_hands_over_and_a_lost_answer_is_asked_again() -> None:
    kernel = FakeKernel(slow={"hand_over": 0.2})
    agent = make_agent(kernel)
    blob = seal(make_handoff(), KEYS)

    async def body(client: AgentClient) -> tuple[HandoffOutcome, Reply]:
        ready = await client.hand_off(
            blob, flow_id=0x00010002, forwarder_ip=FORWARDER, keys=KEYS, timeout=5
        )
        # The first commit's answer comes after the timeout: the retry
        # (sealed afresh, so no replay) waits for it and is answered OK.
        reply = await client.commit(
            blob, flow_id=0x00010002, forwarder_ip=FORWARDER, keys=KEYS, timeout=0.15
        )
        return ready, reply

    ready, reply = serve(agent, body)
    assert ready.ready and reply.ok, reply
    assert kernel.calls.count("hand_over") == 1 and len(agent.live_flows()) == 1
    kernel.close()


def test_hand_off_to_a_dead_agent_is_certainly_not_committed() -> None:
    async def go() -> HandoffOutcome:
        srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        srv.close()
        await srv.wait_closed()
        async with AgentClient("127.0.0.1", port) as client:
            return await client.hand_off(
                seal(make_handoff(), KEYS), flow_id=1, forwarder_ip=FORWARDER, keys=KEYS,
                timeout=1,
            )  # fmt: skip

    outcome = run(go())
    assert (outcome.ready, outcome.certain) == (False, True)
    assert outcome.detail.startswith("not sent: cannot connect")


def test_hand_off_to_an_agent_that_never_answers_is_uncertain() -> None:
    async def go() -> HandoffOutcome:
        async def black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()

        srv = await asyncio.start_server(black_hole, "127.0.0.1", 0)
        try:
            async with AgentClient("127.0.0.1", srv.sockets[0].getsockname()[1]) as client:
                return await client.hand_off(
                    seal(make_handoff(), KEYS), flow_id=1, forwarder_ip=FORWARDER, keys=KEYS,
                    timeout=0.05,
                )  # fmt: skip
        finally:
            srv.close()

    outcome = run(go())
    assert (outcome.ready, outcome.certain) == (False, False)
    assert "abort failed" in outcome.detail


def test_oversized_frame_is_refused_before_it_is_read(kernel: FakeKernel) -> None:
    agent = make_agent(kernel, max_blob=1024)

    async def go() -> bytes:
        host, port = await agent.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(struct.pack(">II", 2**31, 5))  # announces 2 GiB, sends nothing more
            data = await reader.read(2000)
            writer.close()
            return data
        finally:
            await agent.stop()

    data = run(go())
    assert struct.unpack_from(">IIH", data)[1:] == (5, Status.TOO_LARGE)
    assert kernel.calls == []


def test_metrics_are_exposed_in_prometheus_format(kernel: FakeKernel) -> None:
    agent = make_agent(kernel)
    hand_off(agent, make_handoff())
    ask(agent, b"junk")
    text = generate_latest(agent.registry).decode()
    assert 'p4handoff_agent_requests_total{kind="handoff",status="200"} 1.0' in text
    assert 'p4handoff_agent_requests_total{kind="commit",status="200"} 1.0' in text
    assert 'p4handoff_agent_rejections_total{reason="bad_magic"} 1.0' in text
    assert "p4handoff_agent_handoff_seconds_bucket" in text
    assert "p4handoff_agent_commit_seconds_bucket" in text
    assert "p4handoff_agent_ready_sockets 0.0" in text
    assert "p4handoff_agent_commit_timeouts_total 0.0" in text


def test_the_kernels_decapsulation_counters_are_read_at_each_scrape(
    kernel: FakeKernel, caplog: pytest.LogCaptureFixture
) -> None:
    """They live in nftables: each scrape reads them; a failed read leaves
    them out of that scrape, says why, and spoils none of the other metrics."""
    agent = make_agent(kernel)
    kernel.decap_counts = DecapCounts(decapsulated=7, unmapped=3)
    text = generate_latest(agent.registry).decode()
    assert "p4handoff_agent_decapsulated_segments_total 7.0" in text
    assert "p4handoff_agent_unmapped_segments_total 3.0" in text
    kernel.decap_counts = DecapCounts(decapsulated=9, unmapped=4)
    assert "p4handoff_agent_unmapped_segments_total 4.0" in generate_latest(agent.registry).decode()
    kernel.fail.add("counts")
    with caplog.at_level(logging.WARNING):
        text = generate_latest(agent.registry).decode()
    assert "unmapped_segments" not in text and "decapsulated_segments" not in text
    assert "p4handoff_agent_ready_sockets 0.0" in text
    assert "reading the decapsulation counters failed: fake counts failure" in caplog.text


def test_socket_reaches_an_application_through_controller_handover(tmp_path: Any) -> None:
    """The agent's real hand-over adapter with the application-side listener."""
    path = str(tmp_path / "app.sock")
    server = socket.create_server(("127.0.0.1", 0))
    clients: list[socket.socket] = []
    state_vip: list[tuple[str, int]] = []

    def restore_connected(state: ConnectionState) -> socket.socket:
        client = socket.create_connection(server.getsockname())
        clients.append(client)
        sock, _ = server.accept()
        state_vip.append(sock.getsockname())
        return sock

    kernel = FakeKernel()
    backends = dataclasses.replace(
        kernel.backends(), restore=restore_connected, hand_over=hand_over_to(path, timeout=5)
    )
    pool = ThreadPoolExecutor(1)
    _POOLS.append(pool)
    agent = Agent(KEYS, backends, executor=pool)

    async def go() -> tuple[Reply, bytes]:
        listener = AsyncMigratedSocketListener(path)
        await listener.start()
        try:
            blob = seal(make_handoff(flow_id=42), KEYS)
            assert (await agent.handle(blob, PEER)).code == "ready"
            reply = await agent.handle(commit_for(blob), PEER)
            app_sock, flow = await listener.accept_flow()
            assert flow.flow_id == 42 and flow.vip == state_vip[0]
            with app_sock:
                app_sock.sendall(b"served by the application")
            return reply, clients[0].recv(100)
        finally:
            listener.close()

    reply, received = run(go())
    assert reply.ok
    assert received == b"served by the application"
    for c in clients:
        c.close()
    server.close()


def test_listen_address_parsing() -> None:
    assert host_port("0.0.0.0:7100") == ("0.0.0.0", 7100)
    assert host_port("[::1]:80") == ("::1", 80)
    with pytest.raises(Exception, match="HOST:PORT"):
        host_port("7100")


def test_command_line_refuses_a_bad_key_file_before_touching_the_kernel(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    keys.write_text("1 abcd\n")
    keys.chmod(0o600)
    argv = ["--keys", str(keys), "--handover", "/nonexistent", "--backend-address", "10.0.3.11"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("handoff agent: error:") and "key is 2 bytes" in err


def test_command_line_checks_addresses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--keys", "k", "--handover", "h", "--backend-address", "backend.example"])
    assert "is not an IP address" in capsys.readouterr().err


# ---------------------------------------------------------------- real kernel


def test_agent_moves_a_live_connection_between_namespaces(lab: Lab, tmp_path: Any) -> None:
    """Classifier freezes and seals, the agent (real nftables, TCP_REPAIR and
    hand-over) restores it in the back-end's namespace, the application answers
    the request the classifier had read and the conversation goes on. The
    router's VIP route stands in for the switch's encapsulation entry."""
    ns = handoff_topology(lab)
    rst = rst_watch(lab, ns["client"])
    app_path = str(tmp_path / "app.sock")
    backend_ip = "10.0.3.11"
    ready: list[tuple[Agent, int, asyncio.AbstractEventLoop]] = []
    stop = threading.Event()

    def agent_thread() -> None:
        async def main() -> None:
            backends, adopted = kernel_backends(backend_ip, app_path)
            config = AgentConfig(forwarders=frozenset({FORWARDER}), vips=frozenset({(VIP, 80)}))
            agent = Agent(KEYS, backends, config)  # its worker thread inherits the namespace
            agent.adopt(adopted)
            _, port = await agent.start(backend_ip, 0)
            ready.append((agent, port, asyncio.get_running_loop()))
            while not stop.is_set():
                await asyncio.sleep(0.02)
            await agent.stop()

        with lab.enter(ns["backend"]):
            asyncio.run(main())

    def application(listener: MigratedSocketListener, served: list[bytes]) -> None:
        sock, _ = listener.accept(timeout=10)
        with sock:
            request = sock.recv(1000)
            served.append(request)
            sock.sendall(b"HTTP/1.1 200 OK\r\nX-Backend: b1\r\nContent-Length: 2\r\n\r\nok")
            served.append(sock.recv(1000))
            sock.sendall(b"echo " + served[-1])

    listener = MigratedSocketListener(app_path)
    served: list[bytes] = []
    app = threading.Thread(target=application, args=(listener, served), daemon=True)
    app.start()
    agent_runner = threading.Thread(target=agent_thread, daemon=True)
    agent_runner.start()
    try:
        deadline = time.monotonic() + 10
        while not ready and time.monotonic() < deadline and agent_runner.is_alive():
            time.sleep(0.02)
        agent, port, _ = ready[0]

        front = lab.socket_in(ns["classifier"])
        front.bind((VIP, 80))
        front.listen()
        client = lab.socket_in(ns["client"])
        client.settimeout(10)
        client.connect((VIP, 80))
        request = b"GET /moved HTTP/1.1\r\nHost: vip\r\n\r\n"
        client.sendall(request)
        conn, peer = front.accept()
        already_read = conn.recv(len(request), socket.MSG_WAITALL)
        with lab.enter(ns["classifier"]):
            lock = FlowLock(Nft())
        lock.setup()
        flow_id = 0x00070008
        with lock.held(peer, (VIP, 80)):
            state = tcprepair.freeze(conn, already_read=already_read)
            blob = seal(Handoff(flow_id, FORWARDER, state), KEYS)

            async def send() -> tuple[HandoffOutcome, Reply]:
                sealed = {"flow_id": flow_id, "forwarder_ip": FORWARDER, "keys": KEYS}
                async with AgentClient(backend_ip, port) as agent_client:
                    outcome = await agent_client.hand_off(blob, timeout=5, **sealed)
                    assert outcome.ready and outcome.certain, outcome.detail
                    # The route stands in for the switch entry, written between the phases.
                    lab.ip(ns["router"], "route", "replace", f"{VIP}/32", "via", backend_ip)
                    return outcome, await agent_client.commit(blob, timeout=5, **sealed)

            with lab.enter(ns["classifier"]):
                _, committed = asyncio.run(send())
            assert committed.ok, committed
            tcprepair.close_silently(conn)

        response = client.recv(1000)
        assert response.endswith(b"ok") and b"X-Backend: b1" in response
        client.sendall(b"second message")
        assert client.recv(1000) == b"echo second message"
        app.join(5)
        assert served == [request, b"second message"]
        assert agent.live_flows() == {(FORWARDER, flow_id): (peer[0], peer[1], VIP, 80)}

        async def release() -> Reply:
            async with AgentClient(backend_ip, port) as agent_client:
                return await agent_client.request(
                    seal(Release(flow_id, FORWARDER), KEYS), timeout=5
                )

        with lab.enter(ns["classifier"]):
            assert asyncio.run(release()).ok
        assert agent.live_flows() == {}
        assert rst_count(rst) == 0
        for sock in (client, front):
            sock.close()
    finally:
        stop.set()
        agent_runner.join(10)
        listener.close()
