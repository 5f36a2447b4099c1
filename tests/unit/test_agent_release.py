"""The controller's release notices, as agents receive them: every ended flow
reaches its own back-end's agent, a burst reaches each agent in one segment,
and a refused notice is sent again until it is settled."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from controller_support import wait_for
from prometheus_client import CollectorRegistry

from controller.handoff.agent_protocol import Reply, Status, encode_frame, serve_frames
from controller.handoff.blob import Release, seal, unseal
from controller.handoff.keys import Keyring
from controller.handoff.stats import flatten
from controller.switch.agent_release import AgentReleaser

KEYS = Keyring({1: b"k" * 32})
FWD = "10.0.0.1"


class Agents:
    """Agent-protocol servers on loopback ports, one per back-end, in a loop
    on a thread of their own; each records the flow ids it was told about and
    the size of every segment it read."""

    def __init__(self, backends: list[str], refuse_first: set[int]) -> None:
        self.released: dict[str, list[int]] = {b: [] for b in backends}
        self.segments: dict[str, list[int]] = {b: [] for b in backends}
        self.ports: dict[str, int] = {}
        self._refuse = set(refuse_first)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        for backend in backends:
            self.ports[backend] = asyncio.run_coroutine_threadsafe(
                self._serve(backend), self._loop
            ).result(5)
        self.done = threading.Condition()

    async def _serve(self, backend: str) -> int:
        async def handle(payload: bytes, peer: str) -> Reply:
            notice = unseal(payload, KEYS).message
            assert isinstance(notice, Release) and notice.forwarder_ip == FWD
            if notice.flow_id in self._refuse:
                self._refuse.discard(notice.flow_id)
                return Reply(Status.FAILED, "decap_remove_failed")
            with self.done:
                self.released[backend].append(notice.flow_id)
                self.done.notify_all()
            return Reply(Status.OK, "ok")

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            counting = asyncio.StreamReader()

            async def pump() -> None:
                while data := await reader.read(65536):
                    self.segments[backend].append(len(data))
                    counting.feed_data(data)
                counting.feed_eof()

            pumping = asyncio.ensure_future(pump())
            await serve_frames(counting, writer, handle)
            await pumping

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port: int = server.sockets[0].getsockname()[1]
        return port

    def wait(self, expected: dict[str, list[int]], timeout: float) -> None:
        with self.done:
            assert self.done.wait_for(
                lambda: {b: sorted(ids) for b, ids in self.released.items()} == expected, timeout
            ), f"agents were told {self.released}, expected {expected}"

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def agents() -> Iterator[Agents]:
    running = Agents(["10.0.2.11", "10.0.2.12"], refuse_first={0x00010005})
    yield running
    running.stop()


def test_a_burst_reaches_each_agent_in_one_segment_and_refusals_are_retried(
    agents: Agents,
) -> None:
    registry = CollectorRegistry()
    releaser = AgentReleaser(
        KEYS, lambda backend: ("127.0.0.1", agents.ports[backend]), registry, timeout_s=5
    )
    try:
        b1 = [0x00010001 + i for i in range(20)]
        b2 = [0x00020001 + i for i in range(3)]
        releaser.release([(FWD, "10.0.2.11", i) for i in b1] + [(FWD, "10.0.2.12", i) for i in b2])
        agents.wait({"10.0.2.11": b1, "10.0.2.12": b2}, timeout=10)
        wait_for(lambda: settled(registry) == 23, 10, "the releaser to count 23 answers")
    finally:
        releaser.close()
    frame = len(encode_frame(0, seal(Release(0x00010001, FWD), KEYS)))
    assert agents.segments["10.0.2.11"][0] == 20 * frame  # the whole burst at once
    assert agents.segments["10.0.2.12"] == [3 * frame]
    assert flatten(registry)['p4handoff_controller_agent_releases_total{result="retried"}'] == 1


def settled(registry: CollectorRegistry) -> float:
    return flatten(registry).get('p4handoff_controller_agent_releases_total{result="ok"}', 0.0)


def test_notices_that_cannot_be_sent_at_all_are_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def no_agent(backend: str) -> tuple[str, int]:
        raise KeyError(f"no agent known for {backend}")

    registry = CollectorRegistry()
    releaser = AgentReleaser(KEYS, no_agent, registry)
    try:
        releaser.release([(FWD, "10.0.2.99", 0x00010001), (FWD, "10.0.2.99", 0x00010002)])
        wait_for(lambda: failed(registry) == 2, 10, "the releaser to count 2 lost notices")
    finally:
        releaser.close()
    assert "2 release notices lost" in caplog.text and "10.0.2.99" in caplog.text


def failed(registry: CollectorRegistry) -> float:
    return flatten(registry).get('p4handoff_controller_agent_releases_total{result="failed"}', 0.0)
