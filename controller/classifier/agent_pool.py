"""The classifier's connections to the back-ends' agents, and which agents are alive.

Each agent gets one persistent, pipelining connection
(controller.handoff.agent_protocol) shared by every handoff to it, and a
heartbeat on that same connection: a sealed `Ping` (controller.handoff.blob),
which changes nothing on the agent; an OK answer proves the agent is up, reads
frames, checks MACs with our key, finds our clock fresh and answers in time. A
back-end whose agent misses `failures_to_down` heartbeats in a row, or answers
with anything but OK, leaves its pools until a heartbeat succeeds again; an
agent that cannot even be connected to during a handoff leaves at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from controller.handoff.agent_protocol import AgentClient, AgentError
from controller.handoff.blob import Ping, seal
from controller.handoff.keys import Keyring

log = logging.getLogger("p4handoff.classifier")


@dataclass
class _Agent:
    name: str
    host: str
    port: int
    client: AgentClient
    live: bool = False
    misses: int = 0
    why: str = "no heartbeat yet"


class AgentPool:
    def __init__(
        self,
        agents: Mapping[str, tuple[str, int]],
        keys: Keyring,
        registry: CollectorRegistry,
        *,
        interval_s: float = 1.0,
        timeout_s: float = 1.0,
        failures_to_down: int = 2,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.keys = keys
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.failures_to_down = failures_to_down
        self._agents = {
            name: _Agent(name, host, port, AgentClient(host, port, ssl_context=ssl_context))
            for name, (host, port) in agents.items()
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._live_gauge = Gauge(
            "p4handoff_classifier_backend_live",
            "1 while the back-end's agent answers heartbeats",
            ["backend"],
            registry=registry,
        )
        self._heartbeats = Counter(
            "p4handoff_classifier_agent_heartbeats",
            "Heartbeats sent to agents, by back-end and result",
            ["backend", "result"],
            registry=registry,
        )

    def live(self) -> set[str]:
        return {name for name, agent in self._agents.items() if agent.live}

    def client(self, name: str) -> AgentClient:
        return self._agents[name].client

    def address(self, name: str) -> tuple[str, int]:
        """Where the agent of back-end `name` listens."""
        agent = self._agents[name]
        return agent.host, agent.port

    def status(self, name: str) -> tuple[bool, str]:
        agent = self._agents[name]
        return agent.live, agent.why

    async def start(self) -> None:
        """Probe every agent once (so pools start with the live ones), then
        keep probing in the background."""
        await asyncio.gather(*(self._probe(a) for a in self._agents.values()))
        self._tasks = [asyncio.create_task(self._heartbeat(a)) for a in self._agents.values()]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for agent in self._agents.values():
            with contextlib.suppress(Exception):
                await agent.client.close()

    def unreachable(self, name: str, why: str) -> None:
        """A handoff could not even connect: take the back-end out now."""
        agent = self._agents[name]
        agent.misses = self.failures_to_down
        self._set(agent, False, why)

    async def _heartbeat(self, agent: _Agent) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self._probe(agent)

    async def _probe(self, agent: _Agent) -> None:
        try:
            reply = await agent.client.request(seal(Ping(), self.keys), self.timeout_s)
        except AgentError as exc:
            self._heartbeats.labels(agent.name, "no_answer").inc()
            agent.misses += 1
            if agent.misses >= self.failures_to_down:
                self._set(agent, False, str(exc))
            return
        if reply.ok:
            self._heartbeats.labels(agent.name, "ok").inc()
            agent.misses = 0
            self._set(agent, True, "answers heartbeats")
        else:
            # Up but refusing us (wrong key, clock skew): handoffs would fail too.
            self._heartbeats.labels(agent.name, "refused").inc()
            agent.misses = self.failures_to_down
            self._set(agent, False, f"refuses heartbeats: {reply.reason}")

    def _set(self, agent: _Agent, live: bool, why: str) -> None:
        if live != agent.live:
            level = logging.INFO if live else logging.WARNING
            log.log(
                level,
                "back-end %s %s its pools: %s",
                agent.name,
                "joins" if live else "leaves",
                why,
            )
        agent.live = live
        agent.why = why
        self._live_gauge.labels(agent.name).set(1 if live else 0)
