"""Telling back-ends' migrator agents that a flow ended.

When the controller removes a flow's switch entry, the back-end's agent must
drop the decapsulation mapping too, or (forwarder, flow id) stays mapped to a
dead connection and the next handoff that reuses the id is refused. The notice
is a sealed `Release` over the agent protocol (controller.handoff.blob,
controller.handoff.agent_protocol), one persistent connection per agent, sent
from an asyncio loop on a thread of its own so the controller's threads never
wait for an agent. Flows end in bursts (the end grace expires for many at
once), so a burst crosses to that loop once and goes to each agent in one
write. An agent that cannot be reached is retried with backoff for
`retry_for_s` (the id's quarantine: after that a reuse would be refused by the
agent as a live id, which is safe).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter

from controller.handoff.agent_protocol import AgentClient, AgentError, Reply, Status
from controller.handoff.blob import Release, seal
from controller.handoff.keys import Keyring

log = logging.getLogger("p4handoff.controller")


Notice = tuple[str, str, int]  # (forwarder, back-end, flow id) of a flow that ended


class Releaser(Protocol):
    def release(self, notices: Sequence[Notice]) -> None:
        """Schedule the notices; never blocks."""

    def close(self) -> None: ...


class AgentReleaser:
    def __init__(
        self,
        keys: Keyring,
        agent_address: Callable[[str], tuple[str, int]],
        registry: CollectorRegistry,
        *,
        timeout_s: float = 2.0,
        retry_for_s: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._keys = keys
        self._ssl = ssl_context
        self._address = agent_address
        self._timeout = timeout_s
        self._retry_for = retry_for_s
        self._clients: dict[tuple[str, int], AgentClient] = {}
        self.results = Counter(
            "p4handoff_controller_agent_releases",
            "Release notices to agents, by outcome",
            ["result"],
            registry=registry,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="agent-release", daemon=True
        )
        self._thread.start()

    def release(self, notices: Sequence[Notice]) -> None:
        if notices:
            sending = asyncio.run_coroutine_threadsafe(self._send_all(list(notices)), self._loop)
            sending.add_done_callback(lambda done: self._lost(done, len(notices)))

    def _lost(self, sending: concurrent.futures.Future[None], count: int) -> None:
        if sending.cancelled() or sending.exception() is None:
            return
        log.error("%d release notices lost: %r", count, sending.exception())
        self.results.labels("failed").inc(count)

    async def _send_all(self, notices: list[Notice]) -> None:
        by_agent: dict[tuple[str, int], list[Notice]] = {}
        for notice in notices:
            by_agent.setdefault(self._address(notice[1]), []).append(notice)
        await asyncio.gather(*(self._send(address, sent) for address, sent in by_agent.items()))

    async def _send(self, address: tuple[str, int], notices: list[Notice]) -> None:
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = AgentClient(*address, ssl_context=self._ssl)
        answers = await client.request_many([self._sealed(n) for n in notices], self._timeout)
        retries = [
            self._retry(client, notice, answer)
            for notice, answer in zip(notices, answers, strict=True)
            if not self._settled(client, notice, answer)
        ]
        await asyncio.gather(*retries)

    async def _retry(self, client: AgentClient, notice: Notice, answer: Reply | AgentError) -> None:
        forwarder, _, flow_id = notice
        deadline = time.monotonic() + self._retry_for
        delay = 0.25
        while True:
            if time.monotonic() + delay > deadline:
                self.results.labels("failed").inc()
                log.warning(
                    "giving up releasing flow %#010x from %s at agent %s:%d: %s",
                    flow_id, forwarder, client.host, client.port, _problem(answer),
                )  # fmt: skip
                return
            self.results.labels("retried").inc()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            (answer,) = await client.request_many([self._sealed(notice)], self._timeout)
            if self._settled(client, notice, answer):
                return

    def _sealed(self, notice: Notice) -> bytes:
        forwarder, _, flow_id = notice
        return seal(Release(flow_id, forwarder), self._keys)

    def _settled(self, client: AgentClient, notice: Notice, answer: Reply | AgentError) -> bool:
        if isinstance(answer, AgentError) or not (answer.ok or answer.status == Status.NOT_FOUND):
            return False
        # NOT_FOUND: the agent never installed it or already dropped it.
        self.results.labels("ok" if answer.ok else "unknown").inc()
        forwarder, _, flow_id = notice
        log.info(
            "released flow %#010x from %s at agent %s:%d: %s",
            flow_id, forwarder, client.host, client.port, answer.reason,
        )  # fmt: skip
        return True

    def close(self) -> None:
        async def shutdown() -> None:
            for client in self._clients.values():
                with contextlib.suppress(Exception):
                    await client.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


def _problem(answer: Reply | AgentError) -> str:
    return str(answer) if isinstance(answer, AgentError) else answer.reason
