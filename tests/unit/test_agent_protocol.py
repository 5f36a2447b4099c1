"""Framing and the pipelining client: what a classifier sees from an agent connection."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from tcp_info import data_segments_in

from controller.handoff.agent_protocol import (
    MAX_REASON,
    AgentClient,
    AgentTimeout,
    AgentUnavailable,
    FrameError,
    FrameTooLarge,
    Handler,
    Reply,
    Status,
    decode_reply,
    encode_frame,
    encode_reply,
    read_frame,
    serve_frames,
)


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


async def echo(payload: bytes, peer: str) -> Reply:
    return Reply(Status.OK, f"ok: {payload.decode()}")


@asynccontextmanager
async def server(
    handle: Handler, connections: list[str] | None = None, **kwargs: Any
) -> AsyncIterator[int]:
    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if connections is not None:
            connections.append(str(writer.get_extra_info("peername")))
        await serve_frames(reader, writer, handle, **kwargs)

    srv = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()


async def feed(data: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


# ---------------------------------------------------------------- framing


def test_frame_and_reply_encoding() -> None:
    assert encode_frame(9, b"abc") == struct.pack(">II", 7, 9) + b"abc"
    assert decode_reply(encode_reply(409, "replayed: again")) == Reply(409, "replayed: again")
    assert Reply(409, "replayed: again").code == "replayed"


def test_long_reason_is_cut_at_a_character_boundary() -> None:
    reply = decode_reply(encode_reply(500, "é" * MAX_REASON))
    assert reply.reason == "é" * (MAX_REASON // 2)


def test_reply_payload_that_is_too_short_or_long_is_a_frame_error() -> None:
    with pytest.raises(FrameError):
        decode_reply(b"\x00")
    with pytest.raises(FrameError):
        decode_reply(b"\x00\xc8" + b"x" * (MAX_REASON + 1))


def test_read_frame_cases() -> None:
    async def go() -> None:
        assert await read_frame(await feed(b""), 100) is None
        assert await read_frame(await feed(encode_frame(3, b"hi")), 100) == (3, b"hi")
        with pytest.raises(FrameError, match="inside a frame header"):
            await read_frame(await feed(b"\x00\x00"), 100)
        with pytest.raises(FrameError, match="1 of 2 payload bytes"):
            await read_frame(await feed(encode_frame(3, b"hi")[:-1]), 100)
        with pytest.raises(FrameError, match="cannot hold a request id"):
            await read_frame(await feed(struct.pack(">II", 3, 0)), 100)
        # The oversize check happens before any payload arrives (none is fed here).
        with pytest.raises(FrameTooLarge) as info:
            await read_frame(await feed(struct.pack(">II", 2**32 - 1, 77), eof=False), 100)
        assert info.value.request_id == 77

    run(go())


# ---------------------------------------------------------------- client and server


def test_pipelined_requests_on_one_connection_get_their_own_out_of_order_replies() -> None:
    rng = random.Random(1)
    order: list[int] = []

    async def slow_echo(payload: bytes, peer: str) -> Reply:
        await asyncio.sleep(rng.random() * 0.01)
        order.append(int(payload))
        return Reply(Status.OK, f"ok: {payload.decode()}")

    async def go() -> None:
        connections: list[str] = []
        async with server(slow_echo, connections) as port, AgentClient("127.0.0.1", port) as c:
            replies = await asyncio.gather(
                *(c.request(str(i).encode(), timeout=5) for i in range(500))
            )
        assert [r.reason for r in replies] == [f"ok: {i}" for i in range(500)]
        assert len(connections) == 1
        assert order != sorted(order)  # really answered out of order

    run(go())


def test_timeout_leaves_the_connection_usable_and_drops_the_late_reply() -> None:
    async def handler(payload: bytes, peer: str) -> Reply:
        if payload == b"slow":
            await asyncio.sleep(0.3)
        return Reply(Status.OK, f"ok: {payload.decode()}")

    async def go() -> None:
        connections: list[str] = []
        async with server(handler, connections) as port, AgentClient("127.0.0.1", port) as c:
            with pytest.raises(AgentTimeout, match=r"within 0\.05 s"):
                await c.request(b"slow", timeout=0.05)
            assert (await c.request(b"fast", timeout=1)).reason == "ok: fast"
            async with asyncio.timeout(5):  # the late reply arrives and is dropped
                while c.late_replies == 0:
                    await asyncio.sleep(0.01)
            assert c.late_replies == 1
            assert (await c.request(b"again", timeout=1)).reason == "ok: again"
        assert len(connections) == 1

    run(go())


def test_a_burst_goes_in_one_write_and_is_answered_message_by_message() -> None:
    """request_many: one segment carries the burst; a late message is a
    timeout of its own while the others keep their replies."""

    async def handler(payload: bytes, peer: str) -> Reply:
        if payload == b"slow":
            await asyncio.sleep(0.5)
        return Reply(Status.OK if payload != b"refused" else Status.FAILED, payload.decode())

    async def go() -> None:
        reads: list[int] = []

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            first = await reader.read(65536)
            reads.append(len(first))
            segment = await feed(first)
            while (frame := await read_frame(segment, 1000)) is not None:
                request_id, payload = frame
                reply = await handler(payload, "")
                writer.write(encode_frame(request_id, encode_reply(reply.status, reply.reason)))
            await reader.read()

        srv = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        async with AgentClient("127.0.0.1", srv.sockets[0].getsockname()[1]) as c:
            burst = [b"one", b"refused", b"slow", b"two"]
            answers = await c.request_many(burst, timeout=0.2)
            assert await c.request_many([], timeout=0.2) == []
        srv.close()
        assert reads == [sum(len(encode_frame(0, message)) for message in burst)]
        one, refused, slow, two = answers
        assert isinstance(one, Reply) and one.reason == "one"
        assert isinstance(refused, Reply) and refused.status == Status.FAILED
        assert isinstance(slow, AgentTimeout)
        assert isinstance(two, AgentTimeout)  # this test's server answers in order

    run(go())


def test_a_burst_to_an_agent_nobody_listens_for_fails_every_message() -> None:
    async def go() -> None:
        async with server(echo) as port:
            pass
        async with AgentClient("127.0.0.1", port) as c:
            answers = await c.request_many([b"a", b"b"], timeout=1)
        assert len(answers) == 2
        assert all(isinstance(a, AgentUnavailable) for a in answers)

    run(go())


def test_no_agent_listening_is_unavailable() -> None:
    async def go() -> None:
        async with server(echo) as port:
            pass  # closed again: nobody listens on `port` now
        async with AgentClient("127.0.0.1", port) as c:
            with pytest.raises(AgentUnavailable, match="cannot connect"):
                await c.request(b"x", timeout=1)

    run(go())


def test_connection_lost_with_requests_in_flight_fails_them_and_the_next_reconnects() -> None:
    async def go() -> None:
        writers: list[asyncio.StreamWriter] = []
        got_request = asyncio.Event()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            if len(writers) == 1:  # first connection: read one request, then hang up
                await read_frame(reader, 1000)
                got_request.set()
                writer.close()
                return
            await serve_frames(reader, writer, echo)

        srv = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        async with AgentClient("127.0.0.1", port) as c:
            pending = asyncio.ensure_future(c.request(b"lost", timeout=5))
            await got_request.wait()
            with pytest.raises(AgentUnavailable, match="closed the connection"):
                await pending
            assert (await c.request(b"retry", timeout=5)).reason == "ok: retry"
        assert len(writers) == 2
        srv.close()

    run(go())


def test_garbage_from_the_agent_fails_pending_requests() -> None:
    async def go() -> None:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_frame(reader, 1000)
            writer.write(encode_frame(0, b"\x01"))  # a reply too short to hold a status
            await writer.drain()
            await asyncio.sleep(1)

        srv = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        async with AgentClient("127.0.0.1", srv.sockets[0].getsockname()[1]) as c:
            with pytest.raises(AgentUnavailable, match="not a status and a reason"):
                await c.request(b"x", timeout=5)
        srv.close()

    run(go())


def test_oversized_request_is_answered_413_without_reading_it() -> None:
    async def go() -> None:
        async with server(echo, max_payload=16) as port, AgentClient("127.0.0.1", port) as c:
            reply = await c.request(b"x" * 17, timeout=5)
            assert reply.status == Status.TOO_LARGE and reply.code == "too_large"
            # The server ended that connection; once the client has seen the end,
            # it reconnects for the next request.
            await asyncio.sleep(0.05)
            assert (await c.request(b"small", timeout=5)).ok

    run(go())


def test_handler_exception_is_answered_500_and_the_connection_survives() -> None:
    async def broken(payload: bytes, peer: str) -> Reply:
        if payload == b"boom":
            raise RuntimeError("bug")
        return await echo(payload, peer)

    async def go() -> None:
        async with server(broken) as port, AgentClient("127.0.0.1", port) as c:
            reply = await c.request(b"boom", timeout=5)
            assert (reply.status, reply.reason) == (Status.FAILED, "internal: RuntimeError")
            assert (await c.request(b"fine", timeout=5)).ok

    run(go())


def test_in_flight_limit_bounds_concurrent_handler_calls() -> None:
    running = 0
    peak = 0

    async def counting(payload: bytes, peer: str) -> Reply:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.002)
        running -= 1
        return Reply(Status.OK, "ok: done")

    async def go() -> None:
        async with server(counting, max_in_flight=3) as port, AgentClient("127.0.0.1", port) as c:
            replies = await asyncio.gather(*(c.request(b"x", timeout=5) for _ in range(40)))
        assert all(r.ok for r in replies)
        assert peak == 3

    run(go())


def test_peer_address_reaches_the_handler() -> None:
    peers: list[str] = []

    async def record(payload: bytes, peer: str) -> Reply:
        peers.append(peer)
        return Reply(Status.OK, "ok")

    async def go() -> None:
        async with server(record) as port, AgentClient("127.0.0.1", port) as c:
            await c.request(b"x", timeout=5)
        assert peers[0].startswith("127.0.0.1:")

    run(go())


def test_replies_finished_in_one_turn_leave_in_one_segment() -> None:
    """A burst of release notices answered together costs the controller one
    segment and one wake-up, not one per notice."""

    async def go() -> None:
        gate = asyncio.Event()
        held = asyncio.Condition()
        waiting: list[bytes] = []

        async def answered_together(payload: bytes, peer: str) -> Reply:
            async with held:
                waiting.append(payload)
                held.notify_all()
            await gate.wait()
            return Reply(Status.OK, f"ok: {payload.decode()}")

        loop = asyncio.get_running_loop()
        async with server(answered_together) as port:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.setblocking(False)
                requests = [f"n{i}".encode() for i in range(5)]
                burst = b"".join(encode_frame(i, r) for i, r in enumerate(requests))
                await loop.sock_sendall(sock, burst)
                async with held:
                    await held.wait_for(lambda: len(waiting) == len(requests))
                gate.set()
                expected = sum(
                    len(encode_frame(i, encode_reply(Status.OK, f"ok: n{i}"))) for i in range(5)
                )
                received = b""
                while len(received) < expected:
                    chunk = await loop.sock_recv(sock, 65536)
                    assert chunk, f"connection closed after {len(received)} of {expected} bytes"
                    received += chunk
                assert data_segments_in(sock) == 1
        replies = []
        reader = await feed(received)
        while (frame := await read_frame(reader, 1000)) is not None:
            replies.append((frame[0], decode_reply(frame[1]).reason))
        assert replies == [(i, f"ok: n{i}") for i in range(5)]

    run(go())
