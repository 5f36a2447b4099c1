"""The controller and classifier processes with everything real around them:
the basic topology as network namespaces, p4sim running the forwarder on the
veths, demo back-ends with their migrator agents, and a client in its own
namespace talking to the VIP, all as `handoff lab up` starts them
(controller.lab.session). Requests are answered by the back-ends, the
flow entries go away after the connections close, a request no rule matches
is answered by the classifier, and a controller killed mid-connection and
started again breaks nothing. Needs root; skips otherwise."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator

import pytest
from conftest import bring_up
from tcp_info import close_and_count

from controller.lab.session import LabSession, wait_for
from controller.proto import handoff_pb2 as pb


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, target: str) -> Iterator[LabSession]:
    """The basic lab as `handoff lab up` builds it, with its own policy
    (topologies/policies/basic.yaml)."""
    yield from bring_up(tmp_path_factory, target, tag="c")


def client(system: LabSession) -> socket.socket:
    return system.connect("c1", timeout=10)


def get(conn: socket.socket, path: str = "/", host: str = "www.example.org") -> dict[str, str]:
    """One keep-alive request; the response's status line and headers."""
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed after {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {"status": lines[0]}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += conn.recv(65536)
    return headers


def installed(system: LabSession, port: int) -> pb.Flow:
    """The flow of the client port once its switch entry is written."""
    found: list[pb.Flow] = []

    def on_switch() -> bool:
        found[:] = [f for f in system.flows() if f.connection.client_port == port]
        return bool(found) and found[0].on_switch

    wait_for(on_switch, 10, f"the flow of client port {port} on the switch")
    return found[0]


def test_requests_are_served_by_backends_and_entries_end_with_the_connection(
    system: LabSession,
) -> None:
    with client(system) as conn:
        first = get(conn)
        assert first["status"] == "HTTP/1.1 200 OK", (first, system.log("classifier-k1", 3000))
        assert first["x-backend"] in ("b1", "b2")  # pool api of topologies/policies/basic.yaml
        assert get(conn)["x-backend"] == first["x-backend"]  # keep-alive: same back-end
        flow = installed(system, conn.getsockname()[1])
        assert flow.backend_name == first["x-backend"]
        port = conn.getsockname()[1]
    wait_for(lambda: not system.flows(), 10, "the entry to go after the connection closed")
    ended = [f for f in system.flows(include_ended=True) if f.connection.client_port == port]
    assert [f.state for f in ended] == ["quarantine"]
    # ... and the back-end's agent was told to drop its decapsulation mapping.
    backend = flow.backend_name
    wait_for(lambda: flow.ref.flow_id not in system.decap_flow_ids(backend), 10,
             f"agent-{backend} to release the flow")  # fmt: skip


def test_client_segments_after_the_first_answer_need_no_retransmission(system: LabSession) -> None:
    """The back-end's application gets the socket only after the switch entry
    is written (the agent waits for the classifier's commit), so the client's
    next request and its FIN, sent right after the first answer, are not
    dropped at the classifier and retransmitted 200 ms later."""
    with client(system) as conn:
        served_by = get(conn)["x-backend"]
        started = time.perf_counter()
        assert get(conn)["x-backend"] == served_by
        round_trip = time.perf_counter() - started
        close_after_request, retransmitted = close_and_count(conn)
    with client(system) as quick:
        get(quick)
        close_after_answer, retransmitted_too = close_and_count(quick)
    assert (retransmitted, retransmitted_too) == (0, 0)
    timings = (round_trip, close_after_request, close_after_answer)
    assert max(timings) < 0.15, f"round trip, closes: {timings}"
    wait_for(lambda: not system.flows(), 10, "the entries to go after the connections closed")


def heartbeats(system: LabSession, backend: str) -> int:
    """Heartbeats the classifier's agent pool got an OK answer to."""
    key = f'p4handoff_classifier_agent_heartbeats_total{{backend="{backend}",result="ok"}}'
    return int(system.counters("k1").get(key, 0))


def test_heartbeats_keep_backends_live_without_filling_the_agent_logs(system: LabSession) -> None:
    backends = system.backends
    for name in backends:  # verbose, so any line a heartbeat caused would be in the log
        system.restart_agent(name, "-v")
    try:
        before = {name: heartbeats(system, name) for name in backends}
        for name in backends:  # at least two heartbeats per agent (one per second)
            wait_for(lambda n=name: heartbeats(system, n) >= before[n] + 2, 10,  # type: ignore[misc]
                     f"two heartbeats answered by agent-{name}")  # fmt: skip
        assert system.live_backends() == set(backends)
        for name in backends:
            log = system.log(f"agent-{name}")
            assert "abort" not in log and "ping" not in log, log
    finally:
        for name in backends:
            system.restart_agent(name)
        system.wait_whole()


def test_non_http_bytes_get_a_clean_close_from_the_classifier(system: LabSession) -> None:
    with client(system) as conn:
        conn.sendall(b"HELO example\r\n")
        assert conn.recv(100) == b""  # FIN, no RST, no hang


def test_controller_killed_and_restarted_breaks_no_connection(system: LabSession) -> None:
    with client(system) as conn:
        served_by = get(conn, "/a")["x-backend"]
        port = conn.getsockname()[1]
        installed(system, port)  # the controller has recorded the installed flow
        system.kill("controller")
        assert get(conn, "/b")["x-backend"] == served_by  # the switch keeps forwarding
        system.restart_controller()
        (flow,) = [f for f in system.flows() if f.connection.client_port == port]
        assert flow.on_switch and flow.state == "installed"
        assert get(conn, "/c")["x-backend"] == served_by
    wait_for(lambda: not system.flows(), 10, "the restarted controller to remove the entry")


def serving_name(system: LabSession) -> str | None:
    try:
        stats = system.controller_stats()
    except Exception:
        return None
    return stats.name if stats.primary else None


def test_backup_controller_takes_over_from_a_killed_primary(system: LabSession) -> None:
    management = system.record("controller").namespace
    host = None if management is None else management[len(system.names.prefix) + 1 :]
    # A second controller as `lab up` starts the first, with a lower election id.
    system.spawn("backup", host, [*system.argv("controller"), "--election-id", "5", "-v"])
    wait_for(lambda: "backup (primary has election id 10)" in system.log("backup"), 30, "backup")
    assert serving_name(system) == "controller-10"
    with client(system) as before:
        get(before)  # the classifier's channel to the controller is connected
    # The primary removes that entry after its FIN; killed within the grace
    # period it would leave it to the idle timeout.
    wait_for(lambda: not system.flows(), 10, "the primary to remove the first entry")
    system.kill("controller")
    try:
        with client(system) as conn:
            # Handed off while the backup takes over: the classifier waits for it.
            assert get(conn)["status"] == "HTTP/1.1 200 OK", system.log("classifier-k1", 3000)
            installed(system, conn.getsockname()[1])
        assert serving_name(system) == "controller-5"
        wait_for(lambda: not system.flows(), 10, "the backup to remove the entry")
    finally:
        # The lab as `up` made it for the next test: no backup, the primary
        # back (the backup goes first: both serve the same socket path).
        system.retire("backup")
        system.restart_controller()
        system.wait_whole()


def post_sha256(system: LabSession, body: bytes) -> tuple[str, str, str]:
    """One upload to /sha256 on a fresh connection: (status line, back-end, body)."""
    with client(system) as conn:
        conn.sendall(b"POST /sha256 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)  # fmt: skip
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, answer = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    backend = next((v.split(":", 1)[1].strip() for v in lines if v.lower().startswith("x-backend")),
                   "")  # fmt: skip
    return lines[0], backend, answer.decode().strip()


def test_a_certainly_failed_agent_sends_the_connection_to_another_backend(
    system: LabSession,
) -> None:
    """b1's agent is dead (connection refused) and the classifier has not
    noticed yet (heartbeats every 30 s here): uploads the pool gives b1 are
    handed to b2 instead, from the same frozen connection, every byte of the
    body intact (its first 8 KiB travelled in the blob, the rest was
    retransmitted by the client after the switch-over), instead of a 503."""
    system.restart_classifier("k1", "--heartbeat-interval", "30")
    system.kill("agent-b1")
    try:
        before = system.counters("k1")
        body = bytes(range(256)) * 800  # 200 KiB, more than the classifier reads
        answers = [post_sha256(system, body) for _ in range(2)]
        expected = hashlib.sha256(body).hexdigest()
        assert answers == [("HTTP/1.1 200 OK", "b2", expected)] * 2, answers
        after = system.counters("k1")
        retried = "p4handoff_classifier_agent_retries_total"
        assert after.get(retried, 0) - before.get(retried, 0) == 1  # then b1 left the pool
        outcomes = system.outcomes("k1")
        assert "recovered" not in outcomes and outcomes.get("handed_off", 0) >= 2, outcomes
        assert "b1" not in system.live_backends()
    finally:
        system.restart_agent("b1")
        system.restart_classifier("k1")
        system.wait_whole()
    system.wait_nothing_left(15, "nothing left of the retried handoffs")
