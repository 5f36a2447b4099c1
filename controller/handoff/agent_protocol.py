"""Framing between classifiers and migrator agents over persistent TCP connections.

A classifier keeps one connection per agent and pipelines many handoffs on it,
so every frame carries a request id and replies may come back in any order
(the agent works on several handoffs at once). A frame is::

    u32 length   bytes that follow this field (request id + payload), big endian
    u32 request  chosen by the client, echoed in the reply
    payload      request: one sealed message (controller.handoff.blob)
                 reply:   u16 status, then the reason as UTF-8 (<= 1024 bytes)

The length is checked against a maximum before the payload is read, so a
corrupt or hostile length costs nothing. Status codes borrow HTTP's numbers
because operators already know them; the reason starts with a stable token
(`bad_mac: ...`) that logs and tests match on.

`AgentClient` is the classifier's side: it connects lazily, reconnects after
a loss, bounds every request by a timeout and turns every failure into one of
three outcomes (`AgentTimeout`, `AgentUnavailable`, or a `Reply`). On top of
that it speaks the two phases of a handoff (docs/blob-format.md):
`hand_off` turns the agent's answer into the one decision the classifier has
to make, go on (the back-end is ready) or thaw, sending an abort when the
answer was lost so that the decision is never a guess while the agent is
reachable; `commit` then gives the ready socket to the application, and
`abort` withdraws it when the classifier cannot go on.
`serve_frames` is the agent's side of one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import ssl
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from controller.handoff.blob import DEFAULT_MAX_SIZE, Abort, Commit, seal, sealed_nonce
from controller.handoff.keys import Keyring

log = logging.getLogger("p4handoff.agent_protocol")

_HEAD = struct.Struct(">II")
_STATUS = struct.Struct(">H")
_LENGTH_FIELD = 4
_ID_LEN = 4
MAX_REASON = 1024
MAX_REPLY_PAYLOAD = _STATUS.size + MAX_REASON
DEFAULT_MAX_REQUEST_PAYLOAD = DEFAULT_MAX_SIZE


class Status(IntEnum):
    OK = 200
    MALFORMED = 400  # frame or message structure (truncated, bad_magic, malformed_field...)
    UNAUTHENTICATED = 401  # unknown_key, bad_mac
    FORBIDDEN = 403  # authentic, but not for this agent (VIP or forwarder not served)
    NOT_FOUND = 404  # release of a flow this agent does not hold
    CONFLICT = 409  # replayed, stale, future, flow id or 4-tuple already live
    TOO_LARGE = 413
    FAILED = 500  # installing failed and was rolled back
    BUSY = 503


@dataclass(frozen=True)
class Reply:
    status: int
    reason: str

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    @property
    def code(self) -> str:
        """The stable token the reason starts with (`bad_mac`, `ok`, ...)."""
        return self.reason.split(":", 1)[0]


class AgentError(Exception):
    """The agent did not answer usably; the classifier keeps the connection."""


class FrameError(AgentError):
    """Bytes on the connection that are not a valid frame."""


class FrameTooLarge(FrameError):
    def __init__(self, request_id: int, length: int, maximum: int) -> None:
        self.request_id = request_id
        super().__init__(f"frame of {length} bytes exceeds the maximum {maximum}")


class AgentUnavailable(AgentError):
    """No connection to the agent, or it was lost with the request in flight."""


class AgentUnreachable(AgentUnavailable):
    """Connecting failed, so the request was certainly never sent."""


class AgentTimeout(AgentError):
    """No reply within the request's timeout."""


@dataclass(frozen=True)
class HandoffOutcome:
    """What the classifier must do with its frozen connection.

    `ready`: the back-end restored the connection and holds it for the commit
    (write the switch entry, commit, close the frozen copy silently);
    otherwise thaw it. `certain` is False only when neither the handoff nor
    an abort settled it (no answer, or an abort refused): the handoff may then
    be installed, and thawing risks two senders.
    """

    ready: bool
    certain: bool
    reply: Reply | None
    detail: str


def encode_frame(request_id: int, payload: bytes) -> bytes:
    return _HEAD.pack(_ID_LEN + len(payload), request_id) + payload


def encode_reply(status: int, reason: str) -> bytes:
    raw = reason.encode("utf-8")
    if len(raw) > MAX_REASON:
        raw = raw[:MAX_REASON].decode("utf-8", "ignore").encode("utf-8")
    return _STATUS.pack(status) + raw


def decode_reply(payload: bytes) -> Reply:
    if not _STATUS.size <= len(payload) <= MAX_REPLY_PAYLOAD:
        raise FrameError(f"reply payload of {len(payload)} bytes is not a status and a reason")
    (status,) = _STATUS.unpack_from(payload)
    return Reply(status=status, reason=payload[_STATUS.size :].decode("utf-8", "replace"))


async def read_frame(reader: asyncio.StreamReader, max_payload: int) -> tuple[int, bytes] | None:
    """One (request id, payload), or None at a clean end of stream between frames."""
    try:
        head = await reader.readexactly(_HEAD.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise FrameError(f"stream ended inside a frame header ({len(exc.partial)} bytes)") from None
    length, request_id = _HEAD.unpack(head)
    if length < _ID_LEN:
        raise FrameError(f"frame length {length} cannot hold a request id")
    if length - _ID_LEN > max_payload:
        raise FrameTooLarge(request_id, length - _ID_LEN, max_payload)
    try:
        payload = await reader.readexactly(length - _ID_LEN)
    except asyncio.IncompleteReadError as exc:
        raise FrameError(
            f"stream ended inside frame {request_id}: {len(exc.partial)} of "
            f"{length - _ID_LEN} payload bytes"
        ) from None
    return request_id, payload


# ---------------------------------------------------------------- client


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.pending: dict[int, asyncio.Future[Reply]] = {}
        self.closed = False
        self.late_replies = 0  # replies to requests that had timed out: dropped
        self.task = asyncio.get_running_loop().create_task(self._read_replies())

    async def _read_replies(self) -> None:
        why = "agent closed the connection"
        try:
            while True:
                frame = await read_frame(self.reader, MAX_REPLY_PAYLOAD)
                if frame is None:
                    break
                request_id, payload = frame
                reply = decode_reply(payload)
                future = self.pending.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result(reply)
                else:
                    self.late_replies += 1
        except (FrameError, OSError) as exc:
            why = f"connection to agent failed: {exc}"
        finally:
            self.fail(why)

    def fail(self, why: str) -> None:
        self.closed = True
        for future in self.pending.values():
            if not future.done():
                future.set_exception(AgentUnavailable(why))
        self.pending.clear()
        self.writer.close()


def _answer(
    future: asyncio.Future[Reply], client: AgentClient, timeout: float
) -> Reply | AgentError:
    if not future.done() or future.cancelled():  # cancelled: awaited when the time ran out
        return AgentTimeout(f"no reply from agent {client.host}:{client.port} within {timeout:g} s")
    error = future.exception()
    if error is None:
        return future.result()
    if isinstance(error, AgentError):
        return error
    raise error


class AgentClient:
    """A pipelining client for one agent; safe to share between many tasks."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout: float = 1.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        # TLS when given (controller.handoff.tls.TlsFiles.client_context)
        self.ssl_context = ssl_context
        self._conn: _Connection | None = None
        self._connecting = asyncio.Lock()
        self._next_id = 0

    @property
    def late_replies(self) -> int:
        """Replies dropped on the current connection because their request
        had already timed out."""
        return 0 if self._conn is None else self._conn.late_replies

    async def _connection(self) -> _Connection:
        async with self._connecting:
            if self._conn is None or self._conn.closed:
                try:
                    async with asyncio.timeout(self.connect_timeout):
                        reader, writer = await asyncio.open_connection(
                            self.host, self.port, ssl=self.ssl_context
                        )
                except (OSError, TimeoutError) as exc:
                    raise AgentUnreachable(
                        f"cannot connect to agent {self.host}:{self.port}: {exc or 'timeout'}"
                    ) from None
                self._conn = _Connection(reader, writer)
            return self._conn

    async def request(self, message: bytes, timeout: float) -> Reply:
        """Send one sealed message and wait for its reply (at most `timeout` seconds)."""
        (answer,) = await self.request_many([message], timeout)
        if isinstance(answer, AgentError):
            raise answer
        return answer

    async def request_many(
        self, messages: Sequence[bytes], timeout: float
    ) -> list[Reply | AgentError]:
        """Send sealed messages in one write and wait (at most `timeout`
        seconds in all) for their replies, answered message by message: a
        burst costs one send and one wake-up, not one per message."""
        if not messages:
            return []
        loop = asyncio.get_running_loop()
        conn: _Connection | None = None
        futures: dict[int, asyncio.Future[Reply]] = {}
        try:
            async with asyncio.timeout(timeout):
                conn = await self._connection()
                frames = []
                for message in messages:
                    request_id = self._next_id
                    self._next_id = (self._next_id + 1) & 0xFFFFFFFF
                    futures[request_id] = conn.pending[request_id] = loop.create_future()
                    frames.append(encode_frame(request_id, message))
                conn.writer.write(b"".join(frames))
                try:
                    await conn.writer.drain()
                except OSError as exc:
                    conn.fail(f"sending to agent failed: {exc}")
                for future in futures.values():  # cheaper than asyncio.wait
                    with contextlib.suppress(AgentError):
                        await future
        except TimeoutError:
            pass
        except AgentError as exc:
            return [exc] * len(messages)
        finally:
            if conn is not None:
                for request_id in futures:
                    conn.pending.pop(request_id, None)
        return [_answer(future, self, timeout) for future in futures.values()]

    async def hand_off(
        self,
        blob: bytes,
        *,
        flow_id: int,
        forwarder_ip: str,
        keys: Keyring,
        timeout: float,
        abort_timeout: float | None = None,
    ) -> HandoffOutcome:
        """Send a sealed handoff and settle whether the back-end is ready,
        aborting it if no answer came.

        `flow_id` and `forwarder_ip` are those sealed in `blob`; the abort
        names the blob by its nonce (see docs/blob-format.md, "Abort body").
        """
        try:
            reply = await self.request(blob, timeout)
        except AgentUnreachable as exc:
            return HandoffOutcome(False, True, None, f"not sent: {exc}")
        except AgentError as exc:
            lost: AgentError = exc
        else:
            return HandoffOutcome(reply.ok, True, reply, reply.reason)
        undone = await self.abort(
            blob, flow_id=flow_id, forwarder_ip=forwarder_ip, keys=keys,
            timeout=timeout if abort_timeout is None else abort_timeout,
        )  # fmt: skip
        return dataclasses.replace(undone, detail=f"{lost}; {undone.detail}")

    async def abort(
        self, blob: bytes, *, flow_id: int, forwarder_ip: str, keys: Keyring, timeout: float
    ) -> HandoffOutcome:
        """Withdraw the uncommitted handoff sealed in `blob`: `certain` when
        the agent confirmed that it is not installed and never will be."""
        failure = "abort not sent"
        for _ in range(2):  # a second try rides a fresh connection if the old one died
            # Sealed afresh: a lost answer does not make the retry a replay.
            abort = seal(Abort(flow_id, forwarder_ip, sealed_nonce(blob)), keys)
            try:
                answer = await self.request(abort, timeout)
            except AgentError as exc:
                failure = f"abort failed: {exc}"
                continue
            return HandoffOutcome(False, answer.ok, answer, answer.reason)
        return HandoffOutcome(False, False, None, failure)

    async def commit(
        self, blob: bytes, *, flow_id: int, forwarder_ip: str, keys: Keyring, timeout: float
    ) -> Reply:
        """Have the agent give the ready socket of the handoff sealed in
        `blob` to the application. A commit is idempotent, so a lost answer
        is asked again once (on a fresh connection if the old one died);
        raises the AgentError of the second try."""

        def sealed() -> bytes:  # afresh for the retry, which must not look like a replay
            return seal(Commit(flow_id, forwarder_ip, sealed_nonce(blob)), keys)

        try:
            return await self.request(sealed(), timeout)
        except AgentError:
            return await self.request(sealed(), timeout)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.fail("client closed")
            conn.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await conn.task
            with contextlib.suppress(OSError):
                await conn.writer.wait_closed()

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


# ---------------------------------------------------------------- server

Handler = Callable[[bytes, str], Awaitable[Reply]]


async def serve_frames(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handle: Handler,
    *,
    max_payload: int = DEFAULT_MAX_REQUEST_PAYLOAD,
    max_in_flight: int = 256,
) -> None:
    """Answer framed requests on one connection until it ends.

    Up to `max_in_flight` requests run at once; beyond that the loop stops
    reading, so TCP flow control pushes back on the classifier. An oversized
    frame is answered 413 and ends the connection (its payload is never read),
    any other framing error ends it silently; requests already running still
    get their replies first. `handle` gets the payload and the peer's address
    and must return a Reply; if it raises, the request is answered 500.

    Replies finished in the same turn of the event loop leave in one write:
    a burst of release notices is answered together, so its answers cost the
    peer one segment and one wake-up, not one each.
    """
    loop = asyncio.get_running_loop()
    peername = writer.get_extra_info("peername")
    peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else str(peername)
    slots = asyncio.Semaphore(max_in_flight)
    running: set[asyncio.Task[None]] = set()
    outbox: list[bytes] = []

    def flush() -> None:
        if outbox and not writer.is_closing():
            writer.write(b"".join(outbox))
        outbox.clear()

    def send(request_id: int, reply: Reply) -> None:
        if not outbox:
            loop.call_soon(flush)
        outbox.append(encode_frame(request_id, encode_reply(reply.status, reply.reason)))

    async def one(request_id: int, payload: bytes) -> None:
        try:
            reply = await handle(payload, peer)
        except Exception as exc:
            log.exception("request %d from %s: handler failed", request_id, peer)
            reply = Reply(Status.FAILED, f"internal: {type(exc).__name__}")
        finally:
            slots.release()
        send(request_id, reply)
        with contextlib.suppress(OSError):
            await writer.drain()  # what earlier flushes left unsent: the peer is not reading

    try:
        while True:
            await slots.acquire()
            try:
                frame = await read_frame(reader, max_payload)
            except FrameTooLarge as exc:
                log.warning("closing connection from %s: %s", peer, exc)
                send(exc.request_id, Reply(Status.TOO_LARGE, f"too_large: {exc}"))
                break
            except FrameError as exc:
                log.warning("closing connection from %s: %s", peer, exc)
                break
            except OSError as exc:
                log.info("connection from %s lost: %s", peer, exc)
                break
            if frame is None:
                break
            task = loop.create_task(one(*frame))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        flush()  # what is still queued: a 413 answer
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
