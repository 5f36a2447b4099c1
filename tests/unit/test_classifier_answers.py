"""What a client sees when the classifier does not hand its connection off:
a request no rule matches, a pool whose back-ends are all down, a client
that sends nothing or too much, the controller refusing a flow id. Every
case ends in a clean answer (503 or FIN) within the policy's limits, never a
hang or a RST. Also: heartbeats move back-ends in and out of their pools,
and the classifier's own RPCs. Plain localhost sockets; no root needed."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from classifier_support import (
    CATCH_ALL,
    FakeAgent,
    FakeController,
    LoopThread,
    accept,
    build_classifier,
    stop_classifier,
    unused_kernel,
    wait_outcome,
    write_policy,
)

from controller.classifier.core import Classifier
from controller.classifier.kernel import Endpoint
from controller.classifier.service import serve_rpc
from controller.proto import handoff_pb2 as pb
from controller.proto import handoff_pb2_grpc as pb_grpc

HOSTS_ONLY = """
pools:
  api: {backends: [b1, b2]}
rules:
  - {host: api.example.com, pool: api}
on_no_match: %s
read_limit: {bytes: 256, timeout_ms: 300}
"""


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    running = LoopThread()
    yield running
    running.close()


def exchange(address: Endpoint, data: bytes, timeout: float = 5.0) -> tuple[bytes, float]:
    """Send `data`, read until the classifier closes; (everything read,
    seconds until EOF). A RST fails the test (ConnectionResetError)."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=timeout) as conn:
        if data:
            conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received, time.monotonic() - started


def start(
    loop: LoopThread, policy: Path, controller: FakeController, agents: dict[str, Endpoint]
) -> tuple[Classifier, Endpoint]:
    return loop.run(lambda: build_classifier(policy, agents, controller, unused_kernel()))


def test_request_matching_no_rule_gets_503(loop: LoopThread, tmp_path: Path) -> None:
    controller = FakeController()
    agent = FakeAgent(accept)
    where = loop.run(agent.start)
    policy = write_policy(tmp_path / "p.yaml", HOSTS_ONLY % "http-503")
    classifier, address = start(loop, policy, controller, {"b1": where, "b2": where})
    try:
        answer, _ = exchange(address, b"GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert answer.endswith(b"\r\n\r\nno back-end for this request\n")
        assert controller.calls == [] and agent.handoffs == []
        wait_outcome(classifier, "no_match")
    finally:
        loop.run(lambda: stop_classifier(classifier))


def test_close_policy_and_non_http_requests_get_a_plain_fin(
    loop: LoopThread, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "p.yaml", HOSTS_ONLY % "close")
    classifier, address = start(loop, policy, FakeController(), {})
    try:
        assert exchange(address, b"GET / HTTP/1.1\r\nHost: other\r\n\r\n")[0] == b""
        # http-503 policy, but the client does not speak HTTP: no HTTP answer.
        classifier.policy.on_no_match = "http-503"
        assert exchange(address, b"\x16\x03\x01\x02\x00\x01\x00")[0] == b""
    finally:
        loop.run(lambda: stop_classifier(classifier))


def test_silent_or_endless_clients_are_closed_within_the_limits(
    loop: LoopThread, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "p.yaml", HOSTS_ONLY % "http-503")
    classifier, address = start(loop, policy, FakeController(), {})
    try:
        answer, took = exchange(address, b"")  # connects and says nothing
        assert answer == b"" and took < 2.0  # 300 ms read limit, then a FIN
        # An HTTP head that never ends within 256 bytes is matched as raw bytes.
        answer, took = exchange(address, b"GET /" + b"a" * 400 + b" HTTP/1.1\r\n")
        assert answer == b"" and took < 3.0
        wait_outcome(classifier, "nothing_sent")
    finally:
        loop.run(lambda: stop_classifier(classifier))


def test_pool_with_every_backend_down_is_answered_like_no_match(
    loop: LoopThread, tmp_path: Path
) -> None:
    controller = FakeController()
    policy = write_policy(tmp_path / "p.yaml", CATCH_ALL)
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        classifier, address = start(loop, policy, controller, {"b1": dead.getsockname()})
        try:
            assert classifier.agents.live() == set()
            answer, _ = exchange(address, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 503 ")
            assert controller.calls == []
        finally:
            loop.run(lambda: stop_classifier(classifier))
    finally:
        dead.close()


def test_controller_refusing_a_flow_id_gets_503_before_any_freeze(
    loop: LoopThread, tmp_path: Path
) -> None:
    controller = FakeController(refuse=grpc.StatusCode.UNAVAILABLE)
    agent = FakeAgent(accept)
    where = loop.run(agent.start)
    policy = write_policy(tmp_path / "p.yaml", CATCH_ALL)
    classifier, address = start(loop, policy, controller, {"b1": where})
    try:
        answer, _ = exchange(address, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503 ") and b"no flow id" in answer
        assert controller.kinds() == ["allocate"] and agent.handoffs == []
    finally:
        loop.run(lambda: stop_classifier(classifier))


def test_backends_leave_and_rejoin_their_pool_with_heartbeats(
    loop: LoopThread, tmp_path: Path
) -> None:
    agent = FakeAgent(accept)
    where = loop.run(agent.start)
    policy = write_policy(tmp_path / "p.yaml", CATCH_ALL)
    classifier, _ = loop.run(
        lambda: build_classifier(
            policy, {"b1": where}, FakeController(), unused_kernel(), heartbeat_s=0.1
        )
    )
    try:
        assert classifier.agents.live() == {"b1"}
        assert agent.pings >= 1 and agent.aborts == []  # heartbeats are pings
        loop.run(agent.kill)
        deadline = time.monotonic() + 5
        while classifier.agents.live() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert classifier.agents.live() == set()
        assert "b1" not in {b.name for p in classifier.describe_policy().pools
                            for b in p.backends if b.live}  # fmt: skip
        revived = FakeAgent(accept)
        loop.run(lambda: revived.start(*where))
        deadline = time.monotonic() + 5
        while not classifier.agents.live() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert classifier.agents.live() == {"b1"}
        loop.run(revived.kill)
    finally:
        loop.run(lambda: stop_classifier(classifier))


def test_policy_and_stats_rpcs(loop: LoopThread, tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "p.yaml", CATCH_ALL)
    classifier, address = start(loop, policy, FakeController(), {})
    socket_path = tmp_path / "classifier.sock"
    server = loop.run(lambda: serve_rpc(classifier, f"unix:{socket_path}"))
    try:
        exchange(address, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        with grpc.insecure_channel(f"unix:{socket_path}") as channel:
            stub = pb_grpc.ClassifierStub(channel)
            shown = stub.GetPolicy(pb.GetPolicyRequest(), timeout=5)
            assert [p.name for p in shown.pools] == ["web"]
            assert shown.pools[0].backends[0].name == "b1" and not shown.pools[0].backends[0].live
            stats = stub.Stats(pb.StatsRequest(), timeout=5)
            assert stats.role == "classifier" and stats.name == "k1"
            assert stats.counters['p4handoff_classifier_connections_total{outcome="no_match"}'] == 1
            assert "read" in {lat.step for lat in stats.latencies}
            policy.write_text("pools: {}\n")
            with pytest.raises(grpc.RpcError) as refused:
                stub.ReloadPolicy(pb.ReloadPolicyRequest(), timeout=5)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert [p.name for p in stub.GetPolicy(pb.GetPolicyRequest()).pools] == ["web"]
            policy.write_text(CATCH_ALL.replace("web", "site"))
            assert [p.name for p in stub.ReloadPolicy(pb.ReloadPolicyRequest()).pools] == ["site"]
    finally:
        loop.run(lambda: server.stop(0))
        loop.run(lambda: stop_classifier(classifier))
