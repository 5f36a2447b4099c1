"""Handoffs end to end: client, classifier, forwarder on a real switch process
(p4sim; bmv2 with TARGET=bmv2), migrator agents and demo back-ends, each host
in its own namespace of topologies/basic.yaml (see tests/system/e2e_support.py).

What the client sees is what is asserted: the responses, their SHA-256, the
back-end named in `X-Backend`, and that no TCP segment with RST enters or
leaves its namespace. The encapsulation is checked on the back-end's wire.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
from e2e_support import (  # noqa: F401  (fixtures)
    AGENT_PORT,
    KEY_ID,
    E2ELab,
    HandoffRecord,
    HttpConnection,
    WireCapture,
    body_chunks,
    body_sha256,
    e2e_fixture,
    e2e_lab_fixture,
    get,
    post_head,
    run_async_in,
)
from paths import ROOT

from controller.demo_backend import pattern_sha256
from controller.keys import Keyring
from controller.lab.netns import LabNames
from controller.lab.switch import switch_argv
from controller.lab.topology import load_topology

MB = 1 << 20

TCPI_OPT_TIMESTAMPS, TCPI_OPT_SACK, TCPI_OPT_WSCALE = 1, 2, 4


def only_record(lab: E2ELab) -> HandoffRecord:
    assert lab.classifier is not None
    lab.classifier.wait_idle()
    records = lab.classifier.records
    assert len(records) == 1, records
    return records[0]


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
def test_request_is_answered_by_the_backend_after_the_forwarder_took_over(e2e: E2ELab) -> None:
    rst = e2e.rst.count()
    capture = WireCapture(e2e.ns("b2"))
    try:
        conn = HttpConnection(e2e.connect())
        conn.send(get("/", X_Handoff_To="b2"))
        first = conn.read_response()
        # The second request travels through the switch's encap_map entry.
        conn.send(get("/bytes/3000"))
        second = conn.read_response()
        conn.close()
    finally:
        segments = capture.stop()
    assert (first.status, first.headers["x-backend"], first.body) == (200, "b2", b"hello from b2\n")
    assert (second.status, second.headers["x-backend"]) == (200, "b2")
    assert second.sha256 == pattern_sha256(3000)

    record = only_record(e2e)
    assert record.committed and record.flow_id is not None, record
    client_ip = str(e2e.host("c1").interface.ip)
    backend_ip = str(e2e.host("b2").interface.ip)
    flow = (record.flow_id >> 16, record.flow_id & 0xFFFF)
    tunnelled = [s for s in segments if (s.src, s.dst) == (e2e.forwarder, backend_ip)]
    assert tunnelled, f"no segment from the forwarder reached b2: {segments[:10]}"
    assert {(s.sport, s.dport) for s in tunnelled} == {flow}
    assert any(s.payload == len(get("/bytes/3000")) for s in tunnelled)
    assert not [s for s in segments if s.src == client_ip], "client segment reached b2 unchanged"

    (entry,) = e2e.encap_entries()
    assert entry.action is not None and entry.action.param("flow_id") == record.flow_id
    assert e2e.p4.read_direct_counter(entry).packets >= len(tunnelled)
    assert e2e.rst.count() == rst


def test_rst_counter_sees_a_refused_connection(e2e: E2ELab) -> None:
    """The no-RST checks can fail: a SYN to a closed port (through the switch)
    is answered by a RST, and the client's counter sees it."""
    before = e2e.rst.count()
    sock = e2e.client_socket()
    sock.settimeout(5)
    with pytest.raises(ConnectionRefusedError), sock:
        sock.connect((str(e2e.host("k1").interface.ip), 9))
    assert e2e.rst.count() == before + 1


# ---------------------------------------------------------------- after the first answer


def close_and_count(sock: socket.socket) -> tuple[float, int]:
    """Half-close and wait for the server's FIN: (seconds it took, the
    connection's total retransmissions, read before the socket is closed)."""
    started = time.perf_counter()
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(1 << 16):
        pass
    took = time.perf_counter() - started
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    sock.close()
    retransmissions: int = struct.unpack_from("I", info, 100)[0]  # tcpi_total_retrans
    return took, retransmissions


@pytest.mark.timeout(60)
def test_client_segments_after_the_first_answer_reach_the_backend_without_retransmission(
    e2e: E2ELab,
) -> None:
    """The application gets the socket only once the switch steers the client
    to its back-end, so what the client sends right after the first answer
    (its ACK, the next request, its FIN) goes straight there. Without the
    commit step these segments fell into the switch-over gap, were dropped by
    the classifier's lock and came again after a retransmission timeout
    (at least 200 ms, on every connection close)."""
    rst = e2e.rst.count()
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
    assert e2e.classifier is not None
    e2e.classifier.wait_idle()
    assert all(r.committed for r in e2e.classifier.records), e2e.classifier.records
    assert e2e.rst.count() == rst


# ---------------------------------------------------------------- large transfers


@pytest.mark.timeout(120)
def test_20mb_upload_handed_off_while_flowing_then_20mb_download(e2e: E2ELab) -> None:
    rst = e2e.rst.count()
    size = 20 * MB
    conn = HttpConnection(e2e.connect(timeout=60))
    sent_all_at: list[float] = []

    def upload() -> None:
        conn.send(post_head("/sha256", size, X_Handoff_To="b1", X_Handoff_Hold_Ms="300"))
        for chunk in body_chunks(size, seed=20):
            conn.send(chunk)
        sent_all_at.append(time.perf_counter())

    started = time.perf_counter()
    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    uploaded = conn.read_response()
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
    record = only_record(e2e)
    assert record.committed, record
    # The handoff happened mid-upload: body bytes were queued at the freeze,
    # and the client was still sending after the switch-over.
    assert record.queued > len(post_head("/sha256", size)) + 1000
    assert sent_all_at and sent_all_at[0] > record.done_at
    assert e2e.rst.count() == rst
    print(f"20 MB upload {upload_s:.1f} s, 20 MB download {download_s:.1f} s")


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
    e2e: E2ELab, timestamps: bool, sack: bool, wscale: bool
) -> None:
    rst = e2e.rst.count()
    size = MB
    with e2e.tcp_options("c1", timestamps=timestamps, sack=sack, wscale=wscale):
        sock = e2e.connect()
        expected = (
            timestamps * TCPI_OPT_TIMESTAMPS | sack * TCPI_OPT_SACK | wscale * TCPI_OPT_WSCALE
        )
        assert negotiated(sock) == expected
        conn = HttpConnection(sock)
        conn.send(post_head("/sha256", size, X_Handoff_To="b3", X_Handoff_Hold_Ms="50"))
        for chunk in body_chunks(size, seed=7):
            conn.send(chunk)
        uploaded = conn.read_response()
        conn.send(get(f"/bytes/{size}"))
        downloaded = conn.read_response(keep_body=False)
        conn.close()
    assert uploaded.headers["x-backend"] == "b3"
    assert uploaded.body.decode().strip() == body_sha256(size, seed=7)
    assert downloaded.sha256 == pattern_sha256(size)
    assert only_record(e2e).committed
    assert e2e.rst.count() == rst


# ---------------------------------------------------------------- pipelining


@pytest.mark.timeout(60)
def test_pipelined_requests_queued_at_the_handoff_are_answered_in_order(e2e: E2ELab) -> None:
    rst = e2e.rst.count()
    requests = [
        get("/", X_Handoff_To="b1", X_Handoff_Hold_Ms="100"),
        get("/bytes/70000"),
        post_head("/sha256", 5) + b"hello",
        get("/bytes/1"),
        get("/"),
    ]
    conn = HttpConnection(e2e.connect())
    conn.send(b"".join(requests))  # one segment: all queued before the classifier decides
    responses = [conn.read_response() for _ in requests]
    conn.close()
    assert [r.headers["x-backend"] for r in responses] == ["b1"] * 5
    assert responses[0].body == responses[4].body == b"hello from b1\n"
    assert responses[1].sha256 == pattern_sha256(70000)
    assert responses[2].body.decode().strip() == hashlib.sha256(b"hello").hexdigest()
    assert responses[3].sha256 == pattern_sha256(1)
    record = only_record(e2e)
    assert record.committed
    # The first head was read by the classifier, the rest still queued in the kernel.
    assert record.queued == sum(len(r) for r in requests)
    assert e2e.rst.count() == rst


# ---------------------------------------------------------------- many at once


async def one_connection(vip: tuple[str, int], i: int, backends: list[str]) -> tuple[str, bool]:
    """Upload and download on one handed-off connection; (back-end, all bytes right)."""
    reader, writer = await asyncio.open_connection(*vip)
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
    writer.write_eof()
    rest = await reader.read()
    writer.close()
    await writer.wait_closed()
    ok = (
        answer.decode().strip() == hashlib.sha256(body).hexdigest()
        and hashlib.sha256(data).hexdigest() == pattern_sha256(download)
        and rest == b""
    )
    return backend, ok


@pytest.mark.timeout(120)
def test_200_concurrent_handoffs_without_rst_or_lost_bytes(e2e: E2ELab) -> None:
    rst = e2e.rst.count()
    backends = e2e.backend_names()
    count = 200

    async def clients() -> list[tuple[str, bool]]:
        return list(
            await asyncio.gather(*(one_connection(e2e.vip, i, backends) for i in range(count)))
        )

    started = time.perf_counter()
    results = run_async_in(e2e.ns("c1"), clients, timeout=90)
    elapsed = time.perf_counter() - started
    assert [ok for _, ok in results] == [True] * count
    assert [b for b, _ in results] == [backends[i % len(backends)] for i in range(count)]
    assert e2e.classifier is not None
    records = e2e.classifier.records
    assert len(records) == count and all(r.committed for r in records), [
        r for r in records if not r.committed
    ][:3]
    assert len({r.flow_id for r in records}) == count
    assert len(e2e.encap_entries()) == count
    assert e2e.rst.count() == rst
    latencies = sorted(r.latency_s for r in records)
    print(
        f"{count} concurrent handoffs in {elapsed:.1f} s; latency p50 "
        f"{latencies[count // 2] * 1e3:.1f} ms, max {latencies[-1] * 1e3:.1f} ms"
    )


# ---------------------------------------------------------------- the agent fails


def upload_served_here(e2e: E2ELab, backend: str, size: int = 256 * 1024) -> HandoffRecord:
    """POST a body whose handoff to `backend` fails; the classifier must thaw
    the connection and answer it itself with every byte intact."""
    rst = e2e.rst.count()
    conn = HttpConnection(e2e.connect(timeout=30))
    conn.send(post_head("/sha256", size, X_Handoff_To=backend, X_Handoff_Hold_Ms="50"))
    for chunk in body_chunks(size, seed=size):
        conn.send(chunk)
    response = conn.read_response()
    conn.close()
    assert (response.status, response.headers["x-backend"]) == (200, "k1"), response
    assert response.body.decode().strip() == body_sha256(size, seed=size)
    record = only_record(e2e)
    assert not record.committed and record.certain and record.served_here, record
    assert record.queued > 0
    assert e2e.encap_entries() == []
    assert e2e.rst.count() == rst
    return record


@pytest.mark.timeout(60)
def test_refused_handoff_is_thawed_and_served_by_the_classifier(e2e: E2ELab) -> None:
    assert e2e.classifier is not None
    e2e.classifier.settings.keys = Keyring({KEY_ID: bytes(32)})  # not the agents' key
    record = upload_served_here(e2e, "b1")
    assert "bad_mac" in record.detail


@pytest.mark.timeout(60)
def test_dead_agent_handoff_is_thawed_and_served_by_the_classifier(e2e: E2ELab) -> None:
    e2e.kill_agent("b3")
    try:
        record = upload_served_here(e2e, "b3")
        assert f"cannot connect to agent {e2e.host('b3').interface.ip}:{AGENT_PORT}" in (
            record.detail
        )
    finally:
        e2e.restart_agent("b3")


def resume_after_decision(e2e: E2ELab, backend: str, delay: float) -> threading.Thread:
    """SIGCONT the agent `delay` seconds after the classifier decided on the
    (only) connection of the test; the wait is bounded by the test's timeout."""
    assert e2e.classifier is not None
    records = e2e.classifier.records

    def resume() -> None:
        give_up = time.perf_counter() + 20
        while not (records and records[0].decided_at) and time.perf_counter() < give_up:
            time.sleep(0.005)
        if not records:
            return
        time.sleep(max(0.0, records[0].decided_at + delay - time.perf_counter()))
        e2e.signal_agent(backend, signal.SIGCONT)

    thread = threading.Thread(target=resume, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(60)
def test_agent_that_answers_too_late_is_aborted_and_the_classifier_serves(e2e: E2ELab) -> None:
    """The agent stalls (SIGSTOP) past the classifier's timeout. The
    classifier's abort waits for it; when it resumes, the handoff blob has
    outlived the agent's freshness limit and is refused, the abort (sealed a
    timeout later, still fresh) confirms it will never be installed, and the
    classifier thaws the connection and serves it."""
    assert e2e.classifier is not None
    max_age_s, timeout_s = 2.0, 2.0
    e2e.restart_agent("b3", "--max-age-ms", str(int(max_age_s * 1000)))
    e2e.classifier.settings.timeout = timeout_s
    e2e.classifier.settings.abort_timeout = 10.0
    e2e.signal_agent("b3", signal.SIGSTOP)
    # Resume between the two deadlines: handoff stale, abort fresh.
    resumer = resume_after_decision(e2e, "b3", max_age_s + timeout_s / 2)
    try:
        record = upload_served_here(e2e, "b3", size=64 * 1024)
        assert "no reply" in record.detail and "will not be" in record.detail, record.detail
        assert record.answer_s > max_age_s
    finally:
        resumer.join(10)
        e2e.signal_agent("b3", signal.SIGCONT)
        e2e.restart_agent("b3")
