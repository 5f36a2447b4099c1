"""Handoffs through the real kernel steps (nftables lock, TCP_REPAIR freeze,
thaw and silent close) in a network namespace of their own, with scripted
agents speaking the real protocol and a recording controller. When the agent
refuses, never answers, or is dead, the client's connection is thawed and
answered with a clean 503 and FIN; when it is ready, the flow is installed,
then committed, and the classifier's copy disappears without a FIN or RST.
Needs root; skips otherwise."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from classifier_support import (
    CATCH_ALL,
    FORWARDER,
    FakeAgent,
    FakeController,
    LoopThread,
    accept,
    build_classifier,
    never_answer,
    refuse,
    stop_classifier,
    wait_outcome,
    write_policy,
)
from kernel_lab import Lab

from controller.classifier.core import Classifier
from controller.classifier.kernel import RELEASE_HOLD_S, Endpoint, Kernel, kernel_steps
from controller.handoff.agent_protocol import Reply, Status
from controller.handoff.blob import Handoff
from controller.handoff.nft import FlowLock, Nft
from controller.lab.session import wait_for

HEAD = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\n\r\n"
BODY = bytes(range(256)) * 78 + b"\x00" * 32  # 20000 bytes


@dataclass
class Setup:
    lab: Lab
    ns: str
    loop: LoopThread
    kernel: Kernel
    controller: FakeController
    agent: FakeAgent
    classifier: Classifier
    address: Endpoint

    def client(self) -> socket.socket:
        conn = self.lab.socket_in(self.ns)
        conn.settimeout(10)
        conn.connect(self.address)
        return conn

    def locked(self) -> set[tuple[Endpoint, Endpoint]]:
        return self.loop.call(lambda: FlowLock(Nft()).locked())


@pytest.fixture
def make(lab: Lab, tmp_path: Path) -> Iterator[object]:
    made: list[Setup] = []

    def build(behaviour: object, **settings: float) -> Setup:
        ns = lab.ns("k")
        loop = LoopThread(ns)
        kernel = loop.call(kernel_steps)
        controller = FakeController()
        agent = FakeAgent(behaviour, journal=controller.calls)  # type: ignore[arg-type]
        where = loop.run(agent.start)
        classifier, address = loop.run(
            lambda: build_classifier(
                write_policy(tmp_path / "p.yaml", CATCH_ALL), {"b1": where}, controller, kernel,
                **settings,
            )
        )  # fmt: skip
        setup = Setup(lab, ns, loop, kernel, controller, agent, classifier, address)
        made.append(setup)
        return setup

    yield build
    for setup in made:
        setup.loop.run(lambda s=setup: stop_classifier(s.classifier))  # type: ignore[misc]
        setup.loop.call(setup.kernel.close)
        setup.loop.close()


def read_to_eof(conn: socket.socket) -> bytes:
    """Everything until the classifier's FIN; a RST raises ConnectionResetError."""
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


class Held:
    """An agent behaviour that answers only once the test opens it, so the
    connection stays frozen (and locked) while the test sends more."""

    def __init__(self, behaviour: Callable[[Handoff], Awaitable[Reply]]) -> None:
        self.behaviour = behaviour
        self.gate: asyncio.Event | None = None

    async def __call__(self, handoff: Handoff) -> Reply:
        self.gate = self.gate or asyncio.Event()
        await self.gate.wait()
        return await self.behaviour(handoff)

    def open(self) -> None:
        self.gate = self.gate or asyncio.Event()
        self.gate.set()


def upload_answered_here(
    setup: Setup, frozen: Callable[[], bool], then: Callable[[], None] = lambda: None
) -> bytes:
    """Part of the body queues up before the freeze, the rest is sent once
    `frozen` holds (the lock drops it; the client retransmits it after the thaw)."""
    with setup.client() as conn:
        conn.sendall(HEAD + BODY[:5000])
        wait_for(frozen, 5, "the classifier to freeze the connection")
        conn.sendall(BODY[5000:])
        then()
        return read_to_eof(conn)


def handed_to_agent(setup: Setup) -> Callable[[], bool]:
    return lambda: bool(setup.agent.handoffs)


def assert_recovered(setup: Setup, answer: bytes) -> None:
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert answer.endswith(b"handoff failed\n")
    kinds = setup.controller.kinds()
    # The switch entry is written alongside the agent's restore, and removed
    # with the flow id before the connection is served here again.
    assert kinds == ["allocate", "install", "remove"], kinds
    _, (flow, _, release_agent) = setup.controller.calls[2]  # type: ignore[misc]
    assert flow.backend == "10.0.2.11" and flow.flow_id == 0x00010001  # the id allocated
    assert not release_agent  # the agent never held it
    assert setup.locked() == set()
    wait_outcome(setup.classifier, "recovered")


def test_refused_handoff_is_thawed_and_answered(make: object) -> None:
    held = Held(refuse)
    setup = make(held)  # type: ignore[operator]
    locked_at_remove: list[set[tuple[Endpoint, Endpoint]]] = []
    setup.controller.on_remove = lambda: locked_at_remove.append(FlowLock(Nft()).locked())
    answer = upload_answered_here(setup, handed_to_agent(setup),
                                  lambda: setup.loop.call(held.open))  # fmt: skip
    assert_recovered(setup, answer)
    # The entry was gone before the lock: the client's retransmission came here.
    (locked,) = locked_at_remove
    assert len(locked) == 1
    (handoff,) = setup.agent.handoffs
    assert handoff.state.receive.startswith(HEAD)  # the request read travelled in the blob
    assert handoff.state.vip_port == setup.address[1]


def test_agent_that_never_answers_is_aborted_and_the_connection_answered(
    make: object,
) -> None:
    setup = make(never_answer, agent_timeout_s=0.5, abort_timeout_s=0.5)  # type: ignore[operator]
    started = time.monotonic()
    answer = upload_answered_here(setup, handed_to_agent(setup))
    assert time.monotonic() - started < 4
    assert_recovered(setup, answer)
    (abort,) = setup.agent.aborts
    assert abort.flow_id == setup.agent.handoffs[0].flow_id


def test_dead_agent_leaves_the_connection_usable_and_its_pool(make: object) -> None:
    setup = make(accept)  # type: ignore[operator]
    assert setup.classifier.agents.live() == {"b1"}
    setup.loop.run(setup.agent.kill)  # dies after its last heartbeat
    answer = upload_answered_here(setup, lambda: "allocate" in setup.controller.kinds())
    assert_recovered(setup, answer)
    assert setup.classifier.agents.live() == set()


def send_get(setup: Setup) -> socket.socket:
    conn = setup.client()
    conn.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.settimeout(1.0)
    return conn


def assert_dropped_silently(conn: socket.socket) -> None:
    with pytest.raises(TimeoutError):
        conn.recv(1)  # no answer, no FIN, no RST: the connection lives elsewhere (or nowhere)


def test_ready_handoff_is_installed_then_committed_and_the_copy_dropped_silently(
    make: object,
) -> None:
    setup = make(accept)  # type: ignore[operator]
    setup.controller.install_failures = 2  # a controller failing over: InstallFlow is retried
    with send_get(setup) as conn:
        assert_dropped_silently(conn)
        wait_outcome(setup.classifier, "handed_off")
    # The commit goes only after the switch entry is written.
    assert setup.controller.kinds() == ["allocate", "install", "install", "install", "commit"]
    # Held a while for late segments (RELEASE_HOLD_S), then released.
    wait_for(lambda: setup.locked() == set(), RELEASE_HOLD_S + 5, "the lock to be released")
    (handoff,) = setup.agent.handoffs
    assert handoff.state.receive == b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
    (commit,) = setup.agent.commits
    assert (commit.flow_id, commit.forwarder_ip) == (handoff.flow_id, FORWARDER)
    steps = {s.step for s in setup.classifier.latencies.summaries()}
    assert {
        "allocate", "freeze", "agent", "decision_to_ready", "install", "commit",
        "decision_to_handover", "decision_to_switchover",
    } <= steps  # fmt: skip


def test_switch_entry_never_written_aborts_the_ready_backend(make: object) -> None:
    """The back-end's application never gets a socket the switch does not steer to."""
    setup = make(accept, install_deadline_s=0.3)  # type: ignore[operator]
    setup.controller.install_failures = 1000
    with send_get(setup) as conn:
        assert_dropped_silently(conn)
        wait_outcome(setup.classifier, "install_failed")
    assert setup.agent.commits == []
    (abort,) = setup.agent.aborts
    assert abort.flow_id == setup.agent.handoffs[0].flow_id
    _, reason, release_agent = setup.controller.calls[-1][1]  # type: ignore[misc]
    assert setup.controller.kinds()[-1] == "remove" and reason == "install failed"
    assert not release_agent  # the abort already withdrew it
    assert setup.locked() == set()


def test_refused_commit_gives_the_flow_back(make: object) -> None:
    setup = make(accept)  # type: ignore[operator]
    setup.agent.commit_answer = Reply(Status.CONFLICT, "not_ready: timed out")
    with send_get(setup) as conn:
        assert_dropped_silently(conn)
        wait_outcome(setup.classifier, "commit_failed")
    assert setup.controller.kinds() == ["allocate", "install", "commit", "remove"]
    _, reason, release_agent = setup.controller.calls[-1][1]  # type: ignore[misc]
    assert reason.startswith("commit failed: not_ready") and release_agent
