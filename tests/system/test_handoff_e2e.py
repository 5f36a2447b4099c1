"""Handoffs end to end through the shipped system: a client in c1, the
classifier process on k1, the controller writing encap_map over P4Runtime to
the switch process (p4sim; bmv2 where installed), the migrator agents and
demo back-ends, each host in its own namespace of topologies/basic.yaml, all
brought up as `handoff lab up` does (controller.lab.session).

What the client sees is asserted: the responses, their SHA-256, the back-end
named in `X-Backend`, and that no TCP segment with RST enters or leaves its
namespace. What the system did is read from its own interfaces: the
controller's flows (ListFlows), the classifier's outcome counters and step
latencies (Stats), encap_map and its counters (P4Runtime Read), the
classifier's log; the encapsulation is checked on the back-end's wire.
Requests pick their back-end with `X-Handoff-To` (e2e_support.PIN_POLICY).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from e2e_support import (
    BACKENDS,
    HttpConnection,
    Response,
    RstCounter,
    Segment,
    WireCapture,
    body_chunks,
    body_sha256,
    get,
    post_head,
    tcp_options,
)
from paths import ROOT
from tcp_info import close_and_count

from controller.config.topology import load_topology
from controller.examples.demo_backend import pattern_sha256
from controller.lab.lab import AGENT_PORT, KEY_ID
from controller.lab.netns import LabNames
from controller.lab.session import LabSession, wait_for
from controller.lab.switch import switch_argv
from controller.proto import handoff_pb2 as pb

MB = 1 << 20

TCPI_OPT_TIMESTAMPS, TCPI_OPT_SACK, TCPI_OPT_WSCALE = 1, 2, 4


@pytest.fixture(scope="module")
def rst(pinned_lab: LabSession) -> RstCounter:
    """RST segments entering or leaving c1, counted by nft for the module."""
    return RstCounter(pinned_lab, "c1")


@pytest.fixture
def e2e(pinned_lab: LabSession) -> Iterator[LabSession]:
    """The module's lab, handed back clean: every flow of the test ended and
    released by the controller (switch entry, decapsulation mapping, id),
    and every process running with every back-end in the pools."""
    pinned_lab.wait_whole()
    yield pinned_lab
    try:
        pinned_lab.wait_nothing_left(20, "the test's flows to end")
    finally:
        pinned_lab.end_flows({f.client_port for f in pinned_lab.held_flows()}, "test cleanup")


def handed_off(lab: LabSession, before: dict[str, int], count: int = 1) -> None:
    """The classifier counted exactly `count` more connections, all handed off."""
    expected = {**before, "handed_off": before.get("handed_off", 0) + count}
    wait_for(lambda: lab.outcomes() == expected, 10,
             f"{count} handed-off connection(s) in the classifier's counters")  # fmt: skip


def flow_of(lab: LabSession, port: int) -> pb.Flow:
    """The controller's (only) flow of client port `port`."""
    flows = lab.flows_of(port)
    assert len(flows) == 1, flows
    return flows[0]


def tunnelled(segments: list[Segment], lab: LabSession, backend: str) -> list[Segment]:
    """Segments the switch rewrote: from the forwarder's address to `backend`."""
    return [s for s in segments if (s.src, s.dst) == (lab.forwarder, lab.address(backend))]


def covered(segments: list[Segment]) -> tuple[int, int]:
    """(first, end) relative sequence numbers of the payload the segments carry
    (one TCP direction: the same sequence space), which must be one contiguous
    range; relative to the first segment's."""
    with_data = [s for s in segments if s.payload]
    assert with_data, "no payload"
    base = with_data[0].seq

    def rel(seq: int) -> int:
        offset = (seq - base) % (1 << 32)
        return offset - (1 << 32) if offset >= 1 << 31 else offset

    ranges = sorted((rel(s.seq), rel(s.seq) + s.payload) for s in with_data)
    first, end = ranges[0]
    for start, stop in ranges[1:]:
        assert start <= end, f"hole in the payload at {end}..{start}"
        end = max(end, stop)
    return first, end


# ---------------------------------------------------------------- switch command line


def test_switch_command_lines_for_both_targets() -> None:
    topology = load_topology(ROOT / "topologies" / "basic.yaml")
    names = LabNames("t1")
    ports = [arg for h in topology.hosts for arg in ("-i", f"{h.port}@port{h.port}")]
    p4sim = switch_argv(topology, names, "unix:/run/x.sock", device_id=3)
    assert p4sim[1:3] == ["-m", "p4sim.cli"]
    assert p4sim[3:] == [
        "--device-id", "3", *ports, "--no-p4",
        "--grpc-server-addr", "unix:/run/x.sock", "--cpu-port", "255",
    ]  # fmt: skip
    bmv2 = switch_argv(topology, names, "unix:/run/x.sock", target="bmv2", program=Path("f.json"))
    assert bmv2 == [
        "simple_switch_grpc", "--device-id", "0", *ports, "f.json",
        "--", "--grpc-server-addr", "unix:/run/x.sock", "--cpu-port", "255",
    ]  # fmt: skip


# ---------------------------------------------------------------- one request


@pytest.mark.timeout(60)
def test_request_is_answered_by_the_backend_after_the_forwarder_took_over(
    e2e: LabSession, rst: RstCounter
) -> None:
    resets = rst.count()
    before = e2e.outcomes()
    capture = WireCapture(e2e, "b2")
    try:
        conn = HttpConnection(e2e.connect())
        conn.send(get("/", X_Handoff_To="b2"))
        first = conn.read_response()
        # The second request travels through the switch's encap_map entry.
        conn.send(get("/bytes/3000"))
        second = conn.read_response()
        port = conn.sock.getsockname()[1]
        # While the connection lives: its entry and the packets it counted
        # (at least those b2 has seen so far).
        seen = len(tunnelled(capture.segments, e2e, "b2"))
        with e2e.switch_client() as switch:
            entries = switch.read_table("encap_map")
            counted = [switch.read_direct_counter(e).packets for e in entries]
        conn.close()
    finally:
        segments = capture.stop()
    assert (first.status, first.headers["x-backend"], first.body) == (200, "b2", b"hello from b2\n")
    assert (second.status, second.headers["x-backend"]) == (200, "b2")
    assert second.sha256 == pattern_sha256(3000)

    handed_off(e2e, before)
    flow = flow_of(e2e, port)
    assert flow.backend_name == "b2" and flow.ref.backend == e2e.address("b2"), flow
    flow_id = flow.ref.flow_id
    client_ip = e2e.address("c1")
    to_b2 = tunnelled(segments, e2e, "b2")
    assert to_b2, f"no segment from the forwarder reached b2: {segments[:10]}"
    assert {(s.sport, s.dport) for s in to_b2} == {(flow_id >> 16, flow_id & 0xFFFF)}
    assert any(s.payload == len(get("/bytes/3000")) for s in to_b2)
    assert not [s for s in segments if s.src == client_ip], "client segment reached b2 unchanged"

    (entry,) = entries
    assert entry.action is not None and entry.action.param("flow_id") == flow_id
    assert counted[0] >= seen
    assert rst.count() == resets


def test_rst_counter_sees_a_refused_connection(e2e: LabSession, rst: RstCounter) -> None:
    """The no-RST checks can fail: a SYN to a closed port (through the switch)
    is answered by a RST, and the client's counter sees it."""
    before = rst.count()
    sock = e2e.socket_in("c1")
    sock.settimeout(5)
    with pytest.raises(ConnectionRefusedError), sock:
        sock.connect((e2e.address("k1"), 9))
    assert rst.count() == before + 1


# ---------------------------------------------------------------- after the first answer


@pytest.mark.timeout(60)
def test_client_segments_after_the_first_answer_reach_the_backend_without_retransmission(
    e2e: LabSession, rst: RstCounter
) -> None:
    """The application gets the socket only once the switch steers the client
    to its back-end, so what the client sends right after the first answer
    (its ACK, the next request, its FIN) goes straight there. Without the
    commit step these segments fell into the switch-over gap, were dropped by
    the classifier's lock and came again after a retransmission timeout
    (at least 200 ms, on every connection close)."""
    resets = rst.count()
    before = e2e.outcomes()
    conn = HttpConnection(e2e.connect())
    conn.send(get("/", X_Handoff_To="b2"))
    assert conn.read_response().headers["x-backend"] == "b2"
    started = time.perf_counter()
    conn.send(get("/bytes/100"))  # at once, like a keep-alive client
    second = conn.read_response()
    round_trip = time.perf_counter() - started
    assert (second.headers["x-backend"], second.sha256) == ("b2", pattern_sha256(100))
    close_after_request, retransmitted = close_and_count(conn.sock)

    quick = HttpConnection(e2e.connect())
    quick.send(get("/", X_Handoff_To="b1"))
    assert quick.read_response().headers["x-backend"] == "b1"
    close_after_answer, retransmitted_too = close_and_count(quick.sock)  # at once

    assert (retransmitted, retransmitted_too) == (0, 0)
    timings = (round_trip, close_after_request, close_after_answer)
    assert max(timings) < 0.15, f"round trip, closes: {timings}"
    handed_off(e2e, before, 2)  # both committed: the applications hold the sockets
    assert rst.count() == resets


# ---------------------------------------------------------------- large transfers


@pytest.mark.timeout(180)
def test_20mb_upload_handed_off_while_flowing_then_20mb_download(
    e2e: LabSession, rst: RstCounter
) -> None:
    resets = rst.count()
    before = e2e.outcomes()
    size = 20 * MB
    head = post_head("/sha256", size, X_Handoff_To="b1")
    conn = HttpConnection(e2e.connect(timeout=90))
    capture = WireCapture(e2e, "b1")
    at_classifier = WireCapture(e2e, "k1")

    def upload() -> None:
        # The head goes with the body's first chunk: the first flight then
        # reaches the classifier host before the handoff (written alone, the
        # head could be handed off before the next chunk is even computed).
        chunks = body_chunks(size, seed=20)
        conn.send(head + next(chunks))
        for chunk in chunks:
            conn.send(chunk)

    started = time.perf_counter()
    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    try:
        uploaded = conn.read_response()
    finally:
        segments = capture.stop()
        to_classifier = at_classifier.stop()
    sender.join(5)
    upload_s = time.perf_counter() - started
    conn.send(get(f"/bytes/{size}"))
    downloaded = conn.read_response(keep_body=False)
    download_s = time.perf_counter() - started - upload_s
    conn.close()

    assert (uploaded.status, uploaded.headers["x-backend"]) == (200, "b1")
    assert uploaded.headers["x-body-length"] == str(size)
    assert uploaded.body.decode().strip() == body_sha256(size, seed=20)
    assert (downloaded.status, downloaded.headers["x-backend"], downloaded.length) == (
        200, "b1", size,
    )  # fmt: skip
    assert downloaded.sha256 == pattern_sha256(size)
    handed_off(e2e, before)
    # The handoff happened mid-upload: the classifier host had received part
    # of the body when the connection moved. b1 got the upload in two parts:
    # what the blob carried (the head and the body bytes queued at the
    # freeze) and, through the switch's rewrite, the rest up to the upload's
    # last byte. The two may overlap: bytes the classifier received but had
    # not acknowledged at the freeze travel in the blob and again, as the
    # client's retransmission, through the tunnel (b1's socket takes them as
    # duplicates; the SHA-256 above shows nothing doubled). Those
    # retransmissions may be sparse (with SACK the client resends only what
    # was not selectively acknowledged), so it is the classifier's part and
    # the tunnel's together that must be one range with no hole.
    client = e2e.address("c1")
    to_k1 = [s for s in to_classifier if s.src == client and s.dst == e2e.vip[0]]
    through_tunnel = tunnelled(segments, e2e, "b1")
    first, end = covered(to_k1 + through_tunnel)
    assert end - first <= len(head) + size, "more than the request crossed"
    assert any(s.payload for s in through_tunnel), "nothing went through the tunnel"
    sent_to_classifier = covered(to_k1)
    received = sent_to_classifier[1] - sent_to_classifier[0]
    assert received > len(head) + 1000, f"the classifier host got {received} bytes"
    assert rst.count() == resets
    print(f"20 MB upload {upload_s:.1f} s (classifier host got {received} bytes), "
          f"20 MB download {download_s:.1f} s")  # fmt: skip


# ---------------------------------------------------------------- TCP options


def negotiated(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    options: int = struct.unpack_from("B", info, 5)[0]
    return options & (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE)


OPTION_CASES = [
    (True, True, True),
    (False, False, False),
    (False, True, True),
    (True, False, True),
    (True, True, False),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("timestamps", "sack", "wscale"),
    OPTION_CASES,
    ids=[
        "+".join(n for n, on in zip(("ts", "sack", "wscale"), case, strict=True) if on) or "none"
        for case in OPTION_CASES
    ],
)
def test_tcp_options_on_and_off_survive_the_handoff(
    e2e: LabSession, rst: RstCounter, timestamps: bool, sack: bool, wscale: bool
) -> None:
    resets = rst.count()
    before = e2e.outcomes()
    size = MB
    with tcp_options(e2e, "c1", timestamps=timestamps, sack=sack, wscale=wscale):
        sock = e2e.connect()
        expected = (
            timestamps * TCPI_OPT_TIMESTAMPS | sack * TCPI_OPT_SACK | wscale * TCPI_OPT_WSCALE
        )
        assert negotiated(sock) == expected
        conn = HttpConnection(sock)
        conn.send(post_head("/sha256", size, X_Handoff_To="b3"))
        for chunk in body_chunks(size, seed=7):
            conn.send(chunk)
        uploaded = conn.read_response()
        conn.send(get(f"/bytes/{size}"))
        downloaded = conn.read_response(keep_body=False)
        conn.close()
    assert uploaded.headers["x-backend"] == "b3"
    assert uploaded.body.decode().strip() == body_sha256(size, seed=7)
    assert downloaded.sha256 == pattern_sha256(size)
    handed_off(e2e, before)
    assert rst.count() == resets


# ---------------------------------------------------------------- pipelining


@pytest.mark.timeout(60)
def test_pipelined_requests_queued_at_the_handoff_are_answered_in_order(
    e2e: LabSession, rst: RstCounter
) -> None:
    resets = rst.count()
    before = e2e.outcomes()
    requests = [
        get("/", X_Handoff_To="b1"),
        get("/bytes/70000"),
        post_head("/sha256", 5) + b"hello",
        get("/bytes/1"),
        get("/"),
    ]
    capture = WireCapture(e2e, "b1")
    try:
        conn = HttpConnection(e2e.connect())
        conn.send(b"".join(requests))  # one segment: all there before the classifier decides
        responses = [conn.read_response() for _ in requests]
        conn.close()
    finally:
        segments = capture.stop()
    assert [r.headers["x-backend"] for r in responses] == ["b1"] * 5
    assert responses[0].body == responses[4].body == b"hello from b1\n"
    assert responses[1].sha256 == pattern_sha256(70000)
    assert responses[2].body.decode().strip() == hashlib.sha256(b"hello").hexdigest()
    assert responses[3].sha256 == pattern_sha256(1)
    handed_off(e2e, before)
    # Every request byte reached b1 in the handoff blob (the head the
    # classifier read and the rest it left queued): none came through the tunnel.
    to_b1 = tunnelled(segments, e2e, "b1")
    assert to_b1 and sum(s.payload for s in to_b1) == 0, [s for s in to_b1 if s.payload][:3]
    assert rst.count() == resets


# ---------------------------------------------------------------- many at once


@dataclass
class Rendezvous:
    """Connections that transferred and now wait, open, for the switch read."""

    waiting: int
    all_there: asyncio.Event = field(default_factory=asyncio.Event)
    switch_read: asyncio.Event = field(default_factory=asyncio.Event)


async def one_connection(
    vip: tuple[str, int], i: int, backends: list[str], meet: Rendezvous
) -> tuple[str, bool, int]:
    """Upload and download on one handed-off connection, hold it open until
    every connection got that far and the test read the switch, then close;
    (back-end, all bytes right, client port)."""
    reader, writer = await asyncio.open_connection(*vip)
    port = writer.get_extra_info("sockname")[1]
    upload = 2048 + i
    body = b"".join(body_chunks(upload, seed=1000 + i))
    writer.write(post_head("/sha256", upload, X_Handoff_To=backends[i % len(backends)]) + body)
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    answer = await reader.readexactly(length)
    backend = head.split(b"X-Backend: ")[1].split(b"\r\n")[0].decode()
    download = 4096 + i
    writer.write(get(f"/bytes/{download}"))
    head2 = await reader.readuntil(b"\r\n\r\n")
    data = await reader.readexactly(int(head2.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
    meet.waiting -= 1
    if meet.waiting == 0:
        meet.all_there.set()
    await meet.switch_read.wait()
    writer.write_eof()
    rest = await reader.read()
    writer.close()
    await writer.wait_closed()
    ok = (
        answer.decode().strip() == hashlib.sha256(body).hexdigest()
        and hashlib.sha256(data).hexdigest() == pattern_sha256(download)
        and rest == b""
    )
    return backend, ok, port


@pytest.mark.timeout(180)
def test_200_concurrent_handoffs_without_rst_or_lost_bytes(
    e2e: LabSession, rst: RstCounter
) -> None:
    resets = rst.count()
    before = e2e.outcomes()
    backends = list(BACKENDS)
    count = 200
    entries: list[int] = []

    async def clients() -> list[tuple[str, bool, int]]:
        meet = Rendezvous(count)
        loop = asyncio.get_running_loop()

        async def read_switch() -> None:
            await meet.all_there.wait()
            try:
                held = await loop.run_in_executor(None, e2e.switch_entries)
                entries.extend(e.client_port for e in held)
            finally:
                meet.switch_read.set()

        reading = asyncio.ensure_future(read_switch())
        results = await asyncio.gather(
            *(one_connection(e2e.vip, i, backends, meet) for i in range(count))
        )
        await reading
        return list(results)

    started = time.perf_counter()
    results = e2e.run_async_in("c1", clients, timeout=150)
    elapsed = time.perf_counter() - started
    assert [ok for _, ok, _ in results] == [True] * count
    assert [b for b, _, _ in results] == [backends[i % len(backends)] for i in range(count)]
    handed_off(e2e, before, count)
    ports = {port for _, _, port in results}
    # All 200 held open at once: 200 switch entries, one per connection.
    assert sorted(entries) == sorted(ports)
    flows = [f for f in e2e.flows(include_ended=True) if f.connection.client_port in ports]
    assert len(flows) == count
    # A flow id is never live twice for the same (forwarder, back-end).
    assert len({(f.ref.forwarder, f.ref.backend, f.ref.flow_id) for f in flows}) == count
    assert rst.count() == resets
    latency = e2e.latencies()["decision_to_handover"]
    print(
        f"{count} concurrent handoffs in {elapsed:.1f} s; classifier's decision to handover "
        f"p50 {latency.p50_s * 1e3:.1f} ms, max {latency.max_s * 1e3:.1f} ms"
    )


# ---------------------------------------------------------------- the agent fails


@contextlib.contextmanager
def classifier_options(lab: LabSession, *extra: str) -> Iterator[None]:
    """The classifier restarted with `extra` options for the block, then as
    `lab up` starts it again. Heartbeats are slowed to once an hour, so a
    failing agent stays in the pools until a handoff to it fails."""
    lab.restart_classifier("k1", "--heartbeat-interval", "3600", *extra)
    try:
        yield
    finally:
        lab.restart_classifier("k1")


def upload_answered_here(
    lab: LabSession, rst: RstCounter, backend: str, size: int = 256 * 1024
) -> tuple[Response, str]:
    """POST a body whose handoff to `backend` fails: the classifier must
    thaw the connection, take the whole upload and answer it itself, cleanly
    (a 503 naming itself, then FIN; no RST). Returns the response and the
    classifier's log line about this connection."""
    resets = rst.count()
    before = lab.outcomes()
    conn = HttpConnection(lab.connect(timeout=30))
    port = conn.sock.getsockname()[1]
    conn.send(post_head("/sha256", size, X_Handoff_To=backend))
    for chunk in body_chunks(size, seed=size):
        conn.send(chunk)
    response = conn.read_response()
    conn.close()
    assert (response.status, response.headers["x-handoff-classifier"]) == (503, "k1"), response
    assert response.body == b"handoff failed\n"
    expected = {**before, "recovered": before.get("recovered", 0) + 1}
    wait_for(lambda: lab.outcomes() == expected, 10, "the classifier to count a recovery")
    # The flow id was given back: never on the switch, ended.
    assert [(f.state, f.on_switch) for f in lab.flows_of(port)] == [("quarantine", False)]
    assert [e for e in lab.switch_entries() if e.client_port == port] == []
    assert rst.count() == resets
    lines = [line for line in lab.log("classifier-k1").splitlines()
             if f":{port} to {backend}" in line and "serving it here" in line]  # fmt: skip
    assert len(lines) == 1, lab.log("classifier-k1", 3000)
    return response, lines[0]


@pytest.mark.timeout(90)
def test_refused_handoff_is_thawed_and_answered_by_the_classifier(
    e2e: LabSession, rst: RstCounter, tmp_path: Path
) -> None:
    """b1's agent runs with another key than the classifier's: it refuses
    the blob (bad MAC) and changes nothing."""
    wrong = tmp_path / "wrong.keys"
    wrong.write_text(f"{KEY_ID} {bytes(32).hex()}\n")
    wrong.chmod(0o600)
    with classifier_options(e2e):
        e2e.restart_agent("b1", "--keys", str(wrong))
        try:
            _, line = upload_answered_here(e2e, rst, "b1")
        finally:
            e2e.restart_agent("b1")
    assert "bad_mac" in line, line


@pytest.mark.timeout(90)
def test_dead_agent_handoff_is_thawed_and_answered_by_the_classifier(
    e2e: LabSession, rst: RstCounter
) -> None:
    with classifier_options(e2e):
        e2e.kill("agent-b3")
        try:
            _, line = upload_answered_here(e2e, rst, "b3")
        finally:
            e2e.restart_agent("b3")
    assert f"cannot connect to agent {e2e.address('b3')}:{AGENT_PORT}" in line, line


@pytest.mark.timeout(90)
def test_agent_that_answers_too_late_is_aborted_and_the_classifier_answers(
    e2e: LabSession, rst: RstCounter
) -> None:
    """The agent stalls (SIGSTOP) past the classifier's timeout. The
    classifier's abort waits for it; when it resumes, the handoff blob has
    outlived the agent's freshness limit and is refused, the abort (sealed a
    timeout later, still fresh) confirms it will never be installed, and the
    classifier thaws the connection and answers it."""
    max_age_s, timeout_s = 2.0, 2.0
    with classifier_options(e2e, "--agent-timeout", str(timeout_s), "--abort-timeout", "10"):
        e2e.restart_agent("b3", "--max-age-ms", str(int(max_age_s * 1000)))
        e2e.signal("agent-b3", signal.SIGSTOP)
        # Resume between the two deadlines: handoff stale, abort fresh. The
        # classifier decides within milliseconds of the request.
        sent = time.monotonic()
        resume = threading.Timer(max_age_s + timeout_s / 2, e2e.signal,
                                 ("agent-b3", signal.SIGCONT))  # fmt: skip
        resume.start()
        try:
            _, line = upload_answered_here(e2e, rst, "b3", size=64 * 1024)
            agent_step = e2e.latencies()["agent"]
        finally:
            resume.cancel()
            e2e.signal("agent-b3", signal.SIGCONT)
            e2e.restart_agent("b3")
    assert "no reply" in line and "will not be" in line, line
    # The classifier's only handoff since its restart: decision to the
    # agent's (abort's) answer, longer than the blob's freshness limit.
    assert agent_step.count == 1 and agent_step.max_s > max_age_s, agent_step
    assert time.monotonic() - sent > max_age_s
