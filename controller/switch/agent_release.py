"""Telling back-ends' migrator agents that a flow ended.

When the controller removes a flow's switch entry, the back-end's agent must
drop the decapsulation mapping too, or (forwarder, flow id) stays mapped to a
dead connection and the next handoff that reuses the id is refused. The notice
is a sealed `Release` over the agent protocol (controller.handoff.blob,
controller.handoff.agent_protocol), one persistent connection per agent, sent
from an asyncio loop on a thread of its own so the controller's threads never
wait for an agent. An agent that cannot be reached is retried with backoff for
`retry_for_s` (the id's quarantine: after that a reuse would be refused by the
agent as a live id, which is safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter

from controller.handoff.agent_protocol import AgentClient, AgentError, Status
from controller.handoff.blob import Release, seal
from controller.handoff.keys import Keyring

log = logging.getLogger("p4handoff.controller")


class Releaser(Protocol):
    def release(self, forwarder: str, backend: str, flow_id: int) -> None:
        """Schedule the notice; never blocks."""

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

    def release(self, forwarder: str, backend: str, flow_id: int) -> None:
        asyncio.run_coroutine_threadsafe(self._send(forwarder, backend, flow_id), self._loop)

    async def _send(self, forwarder: str, backend: str, flow_id: int) -> None:
        address = self._address(backend)
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = AgentClient(*address, ssl_context=self._ssl)
        what = f"flow {flow_id:#010x} from {forwarder} at agent {address[0]}:{address[1]}"
        deadline = time.monotonic() + self._retry_for
        delay = 0.25
        while True:
            try:
                reply = await client.request(
                    seal(Release(flow_id, forwarder), self._keys), self._timeout
                )
            except AgentError as exc:
                problem = str(exc)
            else:
                if reply.ok or reply.status == Status.NOT_FOUND:
                    # NOT_FOUND: the agent never installed it or already dropped it.
                    self.results.labels("ok" if reply.ok else "unknown").inc()
                    log.info("released %s: %s", what, reply.reason)
                    return
                problem = reply.reason
            if time.monotonic() + delay > deadline:
                self.results.labels("failed").inc()
                log.warning("giving up releasing %s: %s", what, problem)
                return
            self.results.labels("retried").inc()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def close(self) -> None:
        async def shutdown() -> None:
            for client in self._clients.values():
                with contextlib.suppress(Exception):
                    await client.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
