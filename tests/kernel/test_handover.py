"""Handing sockets to an application over SCM_RIGHTS, blocking and asyncio."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kernel_lab import Lab

from controller.handoff import handover, tcprepair
from controller.handoff.handover import (
    AsyncHandoverSender,
    AsyncMigratedSocketListener,
    HandoverError,
    MigratedFlow,
    MigratedSocketListener,
)
from controller.handoff.tcpstate import ConnectionState, RepairWindow, TcpOptions


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "app.sock")


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(client, server) ends of a loopback TCP connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    yield client, server
    client.close()
    server.close()


def test_migrated_socket_accepted_like_a_new_connection(
    path: str, tcp_pair: tuple[socket.socket, socket.socket]
) -> None:
    client, server = tcp_pair
    client.sendall(b"queued before the handover")
    with MigratedSocketListener(path) as listener:
        sent = handover.send_socket(path, server, flow_id=0xDEADBEEF)
        server.close()  # the agent drops its copy; the connection lives on
        sock, addr = listener.accept(timeout=2)
        assert addr == client.getsockname()
        assert sent == MigratedFlow(0xDEADBEEF, client.getsockname(), client.getpeername())
        assert sock.getblocking()
        assert sock.recv(100) == b"queued before the handover"
        sock.sendall(b"answered by the application")
        assert client.recv(100) == b"answered by the application"
        sock.close()
        assert client.recv(10) == b""  # FIN: the application's close is the last


def test_restored_socket_reaches_the_application_with_its_request(lab: Lab, path: str) -> None:
    host = lab.ns("backend")
    lab.ip(host, "addr", "add", "10.0.0.100/32", "dev", "lo")
    lab.ip(host, "addr", "add", "10.0.1.10/32", "dev", "lo")
    # The "client" is a repaired socket too, so both ends agree on sequences.
    state = ConnectionState(
        client_ip="10.0.1.10",
        client_port=40000,
        vip_ip="10.0.0.100",
        vip_port=80,
        snd_seq=1000,
        rcv_seq=5000,
        window=RepairWindow(5000, 65535, 65535, 65535, 5000),
        options=TcpOptions(1460, 0, 0, sack=False, timestamps=False, ts_offset=0),
        send_unacked=b"",
        send_unsent=b"",
        receive=b"GET / HTTP/1.1\r\n\r\n",
    )
    mirror = ConnectionState(
        client_ip="10.0.0.100",
        client_port=80,
        vip_ip="10.0.1.10",
        vip_port=40000,
        snd_seq=5000 + len(state.receive),
        rcv_seq=1000,
        window=RepairWindow(1000, 65535, 65535, 65535, 1000),
        options=state.options,
        send_unacked=b"",
        send_unsent=b"",
        receive=b"",
    )
    with lab.enter(host):
        server = tcprepair.restore(state)
        client = tcprepair.restore(mirror)
    with MigratedSocketListener(path) as listener:
        handover.send_socket(path, server, flow_id=7)
        server.close()
        sock, flow = listener.accept_flow(timeout=2)
    assert flow == MigratedFlow(7, ("10.0.1.10", 40000), ("10.0.0.100", 80))
    assert sock.recv(100) == b"GET / HTTP/1.1\r\n\r\n"
    sock.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
    client.settimeout(2)
    assert client.recv(100) == b"HTTP/1.1 204 No Content\r\n\r\n"
    sock.close()
    client.close()


def test_async_listener_serves_handovers_from_several_threads(path: str) -> None:
    count = 20

    async def main() -> list[bytes]:
        listener = AsyncMigratedSocketListener(path)
        await listener.start()
        backend = socket.create_server(("127.0.0.1", 0), backlog=count)
        clients = [socket.create_connection(backend.getsockname()) for _ in range(count)]
        servers = [backend.accept()[0] for _ in range(count)]

        def hand(n: int) -> None:
            handover.send_socket(path, servers[n], flow_id=n)
            servers[n].close()

        threads = [threading.Thread(target=hand, args=(n,)) for n in range(count)]
        for t in threads:
            t.start()
        answers = []
        for _ in range(count):
            sock, addr = await listener.accept()
            assert not sock.getblocking()
            _, writer = await asyncio.open_connection(sock=sock)
            writer.write(f"hello {addr[1]}".encode())
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        for t in threads:
            t.join()
        for client in clients:
            client.settimeout(2)
            answers.append(client.recv(100))
            assert answers[-1] == f"hello {client.getsockname()[1]}".encode()
            client.close()
        listener.close()
        backend.close()
        return answers

    assert len(asyncio.run(main())) == count
    assert not os.path.exists(path)


def _raw_frame(obj: object) -> bytes:
    body = json.dumps(obj).encode()
    return struct.pack("!I", len(body)) + body


def _read_reply(conn: socket.socket) -> dict[str, object]:
    (length,) = struct.unpack("!I", conn.recv(4))
    reply: dict[str, object] = json.loads(conn.recv(length))
    return reply


def test_listener_refuses_bad_frames_and_closes_their_descriptors(
    path: str, tcp_pair: tuple[socket.socket, socket.socket]
) -> None:
    client, server = tcp_pair
    with MigratedSocketListener(path) as listener:
        agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        agent.connect(path)
        accepted: list[tuple[socket.socket, MigratedFlow]] = []
        thread = threading.Thread(target=lambda: accepted.append(listener.accept_flow(2)))
        thread.start()
        good = {"v": 1, "flow_id": None, "client": ["127.0.0.1", 1], "vip": ["127.0.0.1", 2]}
        agent.sendall(_raw_frame(good))  # no descriptor
        assert _read_reply(agent) == {"v": 1, "ok": False, "error": "frame without a descriptor"}
        dup = os.dup(server.fileno())
        socket.send_fds(agent, [_raw_frame({**good, "client": "x"})], [dup])
        os.close(dup)
        reply = _read_reply(agent)
        assert reply["ok"] is False and "client 'x' is not [ip, port]" in str(reply["error"])
        with open(os.devnull, "rb") as not_a_socket:
            socket.send_fds(agent, [_raw_frame(good)], [not_a_socket.fileno()])
        assert _read_reply(agent)["ok"] is False
        # The refused descriptor was closed: once the sender's copy is gone too,
        # the connection ends.
        socket.send_fds(agent, [_raw_frame({**good, "flow_id": 5})], [server.fileno()])
        assert _read_reply(agent) == {"v": 1, "ok": True}
        thread.join(2)
        ((sock, flow),) = accepted
        assert flow.flow_id == 5
        agent.close()
        sock.close()
    server.close()
    client.settimeout(2)
    assert client.recv(10) == b""


class _OnLoop:
    """An AsyncHandoverSender (the agent's) driven from blocking test code,
    each handover on an event loop of its own."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.sender = AsyncHandoverSender(path, timeout)

    def send(self, sock: socket.socket, flow_id: int | None = None) -> MigratedFlow:
        return asyncio.run(self.sender.send(sock, flow_id))

    def close(self) -> None:
        self.sender.close()


def test_sender_reports_whether_the_application_may_hold_the_socket(
    path: str, tcp_pair: tuple[socket.socket, socket.socket]
) -> None:
    _, server = tcp_pair
    with pytest.raises(HandoverError, match="cannot reach the application") as no_app:
        _OnLoop(path).send(server)
    assert no_app.value.delivered is False

    # An application that accepts the connection but never acknowledges.
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(path)
    mute.listen()
    with pytest.raises(HandoverError, match="no acknowledgement") as silent:
        _OnLoop(path, timeout=0.2).send(server, flow_id=3)
    assert silent.value.delivered is None
    mute.close()
    os.unlink(path)

    # The application restarts between two handovers: the cached connection
    # is stale and the sender reconnects once.
    sender = _OnLoop(path)
    with MigratedSocketListener(path) as first:
        sender.send(server)
        first.accept(timeout=2)[0].close()
    with MigratedSocketListener(path) as second:
        sender.send(server, flow_id=9)
        sock, flow = second.accept_flow(timeout=2)
        assert flow.flow_id == 9
        sock.close()
    sender.close()


def test_listener_replaces_a_stale_socket_file_but_nothing_else(tmp_path: Path) -> None:
    stale = str(tmp_path / "stale.sock")
    old = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old.bind(stale)
    old.close()
    MigratedSocketListener(stale).close()
    regular = tmp_path / "regular"
    regular.write_text("keep me")
    with pytest.raises(OSError):
        MigratedSocketListener(str(regular))
    assert regular.read_text() == "keep me"
    with MigratedSocketListener(stale) as listener, pytest.raises(TimeoutError):
        listener.accept(timeout=0.05)
