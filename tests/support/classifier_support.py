"""Test doubles for the classifier: a controller that records calls, scripted
agents speaking the real agent protocol, and a classifier running on its own
event loop (inside a network namespace when the test needs the kernel)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
from kernel_lab import netns
from prometheus_client import CollectorRegistry

from controller.classifier.agent_pool import AgentPool
from controller.classifier.controller_client import ControllerError, FlowRef
from controller.classifier.core import Classifier, Settings
from controller.classifier.kernel import Endpoint, Kernel
from controller.classifier.policy import load_policy
from controller.handoff.agent_protocol import Reply, Status, serve_frames
from controller.handoff.blob import Abort, Commit, Handoff, Ping, unseal
from controller.handoff.keys import Keyring
from controller.handoff.stats import flatten

T = TypeVar("T")
KEYS = Keyring({1: bytes(range(32))})
FORWARDER = "10.0.0.1"
BACKENDS = {"b1": "10.0.2.11", "b2": "10.0.2.12"}


def write_policy(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


CATCH_ALL = """
pools:
  web: {backends: [b1]}
rules:
  - {path_prefix: /, pool: web}
on_no_match: http-503
read_limit: {bytes: 1024, timeout_ms: 300}
"""


@dataclass
class FakeController:
    """Allocates ids and records every call; `refuse` makes allocate fail."""

    calls: list[tuple[str, object]] = field(default_factory=list)
    refuse: grpc.StatusCode | None = None
    install_failures: int = 0  # the first N installs answer UNAVAILABLE
    on_remove: Callable[[], None] | None = None  # called at each remove, in the caller's thread
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(0x00010001))

    async def allocate(
        self, client: Endpoint, vip: Endpoint, backend: str, classifier: str
    ) -> FlowRef:
        self.calls.append(("allocate", (client, vip, backend, classifier)))
        if self.refuse is not None:
            raise ControllerError(self.refuse, "refused by the test")
        return FlowRef(FORWARDER, backend, next(self._ids))

    async def install(self, flow: FlowRef, latency_s: float) -> None:
        self.calls.append(("install", flow))
        if self.install_failures:
            self.install_failures -= 1
            raise ControllerError(grpc.StatusCode.UNAVAILABLE, "primary changing")

    async def remove(self, flow: FlowRef, reason: str, release_agent: bool) -> None:
        self.calls.append(("remove", (flow, reason, release_agent)))
        if self.on_remove is not None:
            self.on_remove()

    async def installed_per_backend(self) -> dict[str, int]:
        return {}

    async def close(self) -> None:
        pass

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


Behaviour = Callable[[Handoff], Awaitable[Reply]]


async def refuse(h: Handoff) -> Reply:
    return Reply(Status.CONFLICT, f"flow_id_live: flow {h.flow_id} refused by the test")


async def accept(h: Handoff) -> Reply:
    return Reply(Status.OK, f"ready: flow {h.flow_id} restored, waiting for the commit")


async def never_answer(h: Handoff) -> Reply:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


class FakeAgent:
    """An agent that answers heartbeats (pings) and aborts OK, handoffs as
    told, and commits with `commit_answer`. Commits also go to `journal` (the
    controller's call list, to see their order)."""

    def __init__(
        self, behaviour: Behaviour, journal: list[tuple[str, object]] | None = None
    ) -> None:
        self.behaviour = behaviour
        self.journal = journal if journal is not None else []
        self.handoffs: list[Handoff] = []
        self.aborts: list[Abort] = []
        self.commits: list[Commit] = []
        self.commit_answer = Reply(Status.OK, "ok: handed to the application")
        self.pings = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Endpoint:
        self._server = await asyncio.start_server(self._serve, host, port)
        bound: Endpoint = self._server.sockets[0].getsockname()[:2]
        return bound

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await serve_frames(reader, writer, self._handle)
        finally:
            self._writers.discard(writer)

    async def _handle(self, payload: bytes, peer: str) -> Reply:
        message = unseal(payload, KEYS).message
        if isinstance(message, Ping):
            self.pings += 1
            return Reply(Status.OK, "ok: alive")
        if isinstance(message, Abort):
            self.aborts.append(message)
            return Reply(Status.OK, "ok: not installed and will not be")
        if isinstance(message, Commit):
            self.commits.append(message)
            self.journal.append(("commit", message))
            return self.commit_answer
        assert isinstance(message, Handoff)
        self.handoffs.append(message)
        return await self.behaviour(message)

    async def kill(self) -> None:
        """Stop listening and drop every connection, like a crashed agent."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()


class LoopThread:
    """An asyncio loop on a thread of its own, inside `namespace` if given
    (sockets, nftables handles and the loop's I/O all live there)."""

    def __init__(self, namespace: str | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        started: Future[None] = Future()

        def body() -> None:
            with netns(namespace) if namespace else contextlib.nullcontext():
                asyncio.set_event_loop(self.loop)
                started.set_result(None)
                self.loop.run_forever()

        self.thread = threading.Thread(target=body, name="classifier-test-loop", daemon=True)
        self.thread.start()
        started.result(10)

    def run(self, make: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
        async def wrapped() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 30) -> T:
        async def wrapped() -> T:
            return fn()

        return self.run(wrapped, timeout)

    def close(self) -> None:
        async def cancel_the_rest() -> None:
            current = asyncio.current_task()
            rest = [task for task in asyncio.all_tasks() if task is not current]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        self.run(cancel_the_rest)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def unused_kernel() -> Kernel:
    """For tests that must never reach a handoff step."""

    def fail(*_: object) -> None:
        raise AssertionError("the classifier touched the kernel")

    return Kernel(fail, fail, fail, fail, fail, fail, fail, lambda: None)  # type: ignore[arg-type]


async def build_classifier(
    policy_path: Path,
    agents: dict[str, Endpoint],
    controller: FakeController,
    kernel: Kernel,
    *,
    vip: Endpoint = ("127.0.0.1", 0),
    heartbeat_s: float = 60.0,
    **settings: float,
) -> tuple[Classifier, Endpoint]:
    registry = CollectorRegistry()
    pool = AgentPool(agents, KEYS, registry, interval_s=heartbeat_s, timeout_s=0.5)
    await pool.start()
    classifier = Classifier(
        Settings(name="k1", vip=vip, drain_s=1.0, **settings),  # type: ignore[arg-type]
        load_policy(policy_path, BACKENDS.keys()),
        BACKENDS,
        pool,
        controller,
        KEYS,
        kernel,
        registry=registry,
    )
    bound = await classifier.start()
    return classifier, bound


async def stop_classifier(classifier: Classifier) -> None:
    await classifier.stop()
    await classifier.agents.stop()


def wait_outcome(classifier: Classifier, outcome: str, timeout: float = 5.0) -> None:
    """Connection outcomes are counted just after the socket is closed."""
    name = f'p4handoff_classifier_connections_total{{outcome="{outcome}"}}'
    deadline = time.monotonic() + timeout
    while flatten(classifier.registry).get(name, 0) < 1:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no connection ended as {outcome}: {flatten(classifier.registry)}"
            )
        time.sleep(0.01)
