"""The demo back-end over ordinary and migrated connections (loopback, and one
kernel handoff between namespaces)."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kernel_lab import (
    VIP,
    Lab,
    handoff_topology,
    rst_count,
    rst_watch,
)
from tcp_info import data_segments_in

from controller.examples.demo_backend import DemoBackend, main, pattern_bytes, pattern_sha256
from controller.handoff import handover, tcprepair
from controller.handoff.nft import FlowLock, Nft


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[DemoBackend]:
    """The server running on its own event loop in a background thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = DemoBackend("B1", ("127.0.0.1", 0), str(tmp_path / "handover.sock"))
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def _connect(server: DemoBackend) -> http.client.HTTPConnection:
    host, port = server.address
    return http.client.HTTPConnection(host, port, timeout=10)


def _read_response(
    sock: socket.socket, buffer: bytearray, head_only: bool = False
) -> tuple[str, dict[str, str], bytes]:
    """One response from a raw socket: (status line, headers, body); a
    response to HEAD has no body whatever its Content-Length says."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"EOF inside a response head: {bytes(buffer)!r}")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = 0 if head_only else int(headers.get("content-length", "0"))
    buffer[:] = rest
    while len(buffer) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("EOF inside a response body")
        buffer += chunk
    body = bytes(buffer[:length])
    del buffer[:length]
    return lines[0], headers, body


def test_keep_alive_serves_requests_on_one_connection(backend: DemoBackend) -> None:
    conn = _connect(backend)
    sockets = []
    for _ in range(3):
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("X-Backend") == "B1"
        assert response.read() == b"hello from B1\n"
        sockets.append(conn.sock)
    assert sockets[0] is sockets[1] is sockets[2] is not None
    conn.close()
    assert backend.requests_served == 3


def test_a_small_response_leaves_in_one_segment(backend: DemoBackend) -> None:
    """Head and body in one segment: every packet of a short exchange costs
    the switch in between as much as a full one."""
    with socket.create_connection(backend.address, timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: b1\r\nConnection: close\r\n\r\n")
        status, _, body = _read_response(sock, bytearray())
        assert (status, body) == ("HTTP/1.1 200 OK", b"hello from B1\n")
        assert data_segments_in(sock) == 1


def test_large_bodies_both_ways_keep_their_sha256(backend: DemoBackend) -> None:
    size = 5_000_000
    conn = _connect(backend)
    conn.request("GET", f"/bytes/{size}")
    response = conn.getresponse()
    body = response.read()
    assert len(body) == size == int(response.getheader("Content-Length", "-1"))
    assert hashlib.sha256(body).hexdigest() == pattern_sha256(size) and body == pattern_bytes(size)

    upload = bytes(range(256)) * (size // 256) + b"tail"
    conn.request("POST", "/sha256", body=upload)
    response = conn.getresponse()
    assert response.read() == f"{hashlib.sha256(upload).hexdigest()}\n".encode()
    assert response.getheader("X-Body-Length") == str(len(upload))

    chunks = [upload[i : i + 100_000] for i in range(0, len(upload), 100_000)]
    conn.request("PUT", "/sha256", body=iter(chunks), encode_chunked=True)
    response = conn.getresponse()
    assert response.read() == f"{hashlib.sha256(upload).hexdigest()}\n".encode()
    conn.close()


def test_static_assets_name_the_backend(backend: DemoBackend) -> None:
    conn = _connect(backend)
    conn.request("GET", "/static/logo.png")
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"asset logo.png from B1\n")
    conn.request("GET", "/static/")
    assert conn.getresponse().status == 404
    conn.close()


def test_pipelined_requests_are_answered_in_order(backend: DemoBackend) -> None:
    sock = socket.create_connection(backend.address, timeout=10)
    sock.sendall(
        b"GET /bytes/10 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nzz"
        b"HEAD /bytes/7 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    buffer = bytearray()
    assert _read_response(sock, buffer)[2] == pattern_bytes(10)
    assert _read_response(sock, buffer)[2] == f"{hashlib.sha256(b'abc').hexdigest()}\n".encode()
    assert _read_response(sock, buffer)[0] == "HTTP/1.1 404 Not Found"
    status, headers, body = _read_response(sock, buffer, head_only=True)
    assert (headers["content-length"], body) == ("7", b"")
    status, headers, body = _read_response(sock, buffer)
    assert (status, headers["connection"], body) == ("HTTP/1.1 200 OK", "close", b"hello from B1\n")
    assert sock.recv(10) == b"" and not buffer
    sock.close()


def test_migrated_connection_is_served_with_its_queued_request(backend: DemoBackend) -> None:
    # A connection accepted elsewhere, whose request already waits in the
    # receive queue when the back-end receives the socket.
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname(), timeout=10)
    accepted, _ = listener.accept()
    listener.close()
    client.sendall(b"GET /bytes/100000 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert backend.handover_path is not None
    handover.send_socket(backend.handover_path, accepted, flow_id=42)
    accepted.close()
    buffer = bytearray()
    status, headers, body = _read_response(client, buffer)
    assert (status, headers["x-backend"], body) == ("HTTP/1.1 200 OK", "B1", pattern_bytes(100000))
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _read_response(client, buffer)[2] == b"hello from B1\n"
    assert backend.migrated_connections == 1
    client.close()


@pytest.mark.parametrize(
    ("raw", "status", "closes"),
    [
        (b"DELETE /bytes/3 HTTP/1.1\r\n\r\n", "405 Method Not Allowed", False),
        (b"GET /sha256 HTTP/1.1\r\n\r\n", "405 Method Not Allowed", False),
        (b"GET /bytes/x HTTP/1.1\r\n\r\n", "400 Bad Request", False),
        (b"GARBAGE\r\n\r\n", "400 Bad Request", True),
        (b"POST /sha256 HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "501 Not Implemented", True),
        (b"GET / HTTP/1.0\r\n\r\n", "200 OK", True),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", "431", True),
    ],
)
def test_bad_requests_get_an_error_and_lost_framing_closes(
    backend: DemoBackend, raw: bytes, status: str, closes: bool
) -> None:
    sock = socket.create_connection(backend.address, timeout=10)
    sock.sendall(raw)
    buffer = bytearray()
    line, headers, _ = _read_response(sock, buffer)
    assert line.startswith(f"HTTP/1.1 {status}")
    assert headers["x-backend"] == "B1"
    if closes:
        assert sock.recv(10) == b""
    else:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert _read_response(sock, buffer)[2] == b"hello from B1\n"
    sock.close()


def test_expect_continue_gets_an_interim_answer(backend: DemoBackend) -> None:
    sock = socket.create_connection(backend.address, timeout=10)
    sock.sendall(b"POST /sha256 HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    sock.sendall(b"hi")
    assert _read_response(sock, bytearray())[2] == f"{hashlib.sha256(b'hi').hexdigest()}\n".encode()
    sock.close()


def test_command_line_needs_somewhere_to_listen(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--name", "B1"])
    assert exited.value.code == 2
    assert "give --listen, --handover or both" in capsys.readouterr().err


@pytest.fixture
def handover_backend(tmp_path: Path) -> Iterator[DemoBackend]:
    """A back-end fed only by handovers (it runs in the host namespace; the
    sockets it gets live in the back-end namespace)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = DemoBackend("B1", None, str(tmp_path / "handover.sock"))
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_upload_during_kernel_handoff_then_download_on_the_same_connection(
    lab: Lab, handover_backend: DemoBackend
) -> None:
    ns = handoff_topology(lab)
    rst = rst_watch(lab, ns["client"])
    with lab.enter(ns["classifier"]):
        lock = FlowLock(Nft())
    lock.setup()
    listener = lab.socket_in(ns["classifier"])
    listener.bind((VIP, 80))
    listener.listen()
    client = lab.socket_in(ns["client"])
    client.connect((VIP, 80))
    server, peer = listener.accept()

    upload = random.Random(1).randbytes(4 << 20)
    head = f"POST /sha256 HTTP/1.1\r\nHost: vip\r\nContent-Length: {len(upload)}\r\n\r\n"
    client.sendall(head.encode())

    def send_body() -> None:
        for start in range(0, len(upload), 128 * 1024):
            client.sendall(upload[start : start + 128 * 1024])
            time.sleep(0.002)

    body_writer = threading.Thread(target=send_body, daemon=True)
    body_writer.start()
    # The classifier reads the head only, then hands the connection off
    # while the body is still arriving.
    seen = b""
    while b"\r\n\r\n" not in seen:
        seen += server.recv(65536)
    with lock.held(peer, (VIP, 80)):
        state = tcprepair.freeze(server, already_read=seen)
        with lab.enter(ns["backend"]):
            restored = tcprepair.restore(state)
        assert handover_backend.handover_path is not None
        handover.send_socket(handover_backend.handover_path, restored, flow_id=1)
        restored.close()
        lab.ip(ns["router"], "route", "replace", f"{VIP}/32", "via", "10.0.3.11")
        tcprepair.close_silently(server)

    client.settimeout(20)
    buffer = bytearray()
    status, headers, body = _read_response(client, buffer)
    assert (status, headers["x-backend"]) == ("HTTP/1.1 200 OK", "B1")
    assert body == f"{hashlib.sha256(upload).hexdigest()}\n".encode()
    body_writer.join(5)
    size = 8 << 20
    client.sendall(f"GET /bytes/{size} HTTP/1.1\r\nHost: vip\r\n\r\n".encode())
    status, headers, body = _read_response(client, buffer)
    assert hashlib.sha256(body).hexdigest() == pattern_sha256(size)
    assert rst_count(rst) == 0
    for sock in (client, listener):
        sock.close()
