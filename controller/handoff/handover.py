"""Passing restored TCP sockets from the migrator agent to the application.

The agent sends each socket's descriptor with SCM_RIGHTS over a Unix stream
connection, together with a small JSON header naming the flow; the
application's side answers with an acknowledgement once its process holds the
descriptor. The agent's side is `AsyncHandoverSender` (`send_socket` from
blocking code). On the application side, `MigratedSocketListener`
(blocking) and `AsyncMigratedSocketListener` (asyncio) hand out migrated
connections the way `socket.accept()` hands out new ones, so a server needs
one extra listener and no other change.

Wire format, both directions: 4-byte big-endian length, then that many bytes
of UTF-8 JSON. Agent to application: `{"v": 1, "flow_id": F or null,
"client": [ip, port], "vip": [ip, port]}`, sent in one `sendmsg` that carries
exactly one descriptor. Application to agent, one per handover and in order:
`{"v": 1, "ok": true}` or `{"v": 1, "ok": false, "error": "..."}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import selectors
import socket
import stat
import struct
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

VERSION = 1
MAX_HEADER = 4096
_LEN = struct.Struct("!I")
_RECV_SIZE = 65536
_MAX_FDS_PER_READ = 64


class HandoverError(Exception):
    """A handover failed. `delivered` is False when the application certainly
    did not get the descriptor (the sender may still close or repair the
    socket), None when it may have (the sender must only drop its own copy)."""

    def __init__(self, message: str, delivered: bool | None) -> None:
        super().__init__(message)
        self.delivered = delivered


@dataclass(frozen=True)
class MigratedFlow:
    """What the application learns about a migrated connection besides the socket."""

    flow_id: int | None
    client: tuple[str, int]
    vip: tuple[str, int]


def _frame(obj: dict[str, object]) -> bytes:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return _LEN.pack(len(body)) + body


def _header_of(flow: MigratedFlow) -> dict[str, object]:
    return {
        "v": VERSION,
        "flow_id": flow.flow_id,
        "client": list(flow.client),
        "vip": list(flow.vip),
    }


def _parse_flow(body: bytes) -> MigratedFlow:
    """The header's fields, checked; ValueError names what is wrong."""
    try:
        obj = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"header is not JSON: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("v") != VERSION:
        raise ValueError(f"header is not a version {VERSION} object")
    flow_id = obj.get("flow_id")
    if flow_id is not None and not (isinstance(flow_id, int) and 0 <= flow_id <= 0xFFFFFFFF):
        raise ValueError(f"flow_id {flow_id!r} is not a 32-bit value")
    ends = []
    for name in ("client", "vip"):
        value = obj.get(name)
        if not (
            isinstance(value, list)
            and len(value) == 2
            and isinstance(value[0], str)
            and isinstance(value[1], int)
            and 0 <= value[1] <= 0xFFFF
        ):
            raise ValueError(f"{name} {value!r} is not [ip, port]")
        ends.append((value[0], value[1]))
    return MigratedFlow(flow_id, ends[0], ends[1])


class _Decoder:
    """Frames and descriptors arriving on one agent connection, paired in order.

    Each frame's descriptor arrives with its first bytes (the kernel never
    merges a descriptor-carrying write with an earlier one in a read), so
    pairing the n-th complete frame with the n-th descriptor is exact.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.fds: deque[int] = deque()

    def feed(self, data: bytes, fds: list[int]) -> None:
        self.buffer += data
        self.fds.extend(fds)

    def next_frame(self) -> tuple[bytes, int | None] | None:
        """(header bytes, descriptor) when a whole frame is buffered."""
        if len(self.buffer) < _LEN.size:
            return None
        (length,) = _LEN.unpack_from(self.buffer)
        if length > MAX_HEADER:
            raise ValueError(f"header of {length} bytes exceeds {MAX_HEADER}")
        if len(self.buffer) < _LEN.size + length:
            return None
        body = bytes(self.buffer[_LEN.size : _LEN.size + length])
        del self.buffer[: _LEN.size + length]
        return body, (self.fds.popleft() if self.fds else None)

    def close(self) -> None:
        while self.fds:
            os.close(self.fds.popleft())


def _recv_into(conn: socket.socket, decoder: _Decoder) -> bool:
    """One read from an agent connection; False at EOF."""
    data, fds, flags, _ = socket.recv_fds(conn, _RECV_SIZE, _MAX_FDS_PER_READ)
    decoder.feed(data, fds)
    if flags & socket.MSG_CTRUNC:
        raise ValueError("descriptors were truncated")
    return bool(data)


def _take(decoder: _Decoder, conn: socket.socket) -> Iterator[tuple[socket.socket, MigratedFlow]]:
    """Turn every complete frame into a socket, acknowledging each before
    yielding it; a frame that cannot be used is refused and its descriptor
    closed. An acknowledgement that cannot be written raises (the agent then
    cannot know, so the descriptor is closed here and the agent keeps its own)."""
    while (frame := decoder.next_frame()) is not None:
        body, fd = frame
        try:
            if fd is None:
                raise ValueError("frame without a descriptor")
            flow = _parse_flow(body)
            sock = socket.socket(fileno=fd)
            fd = None
            if sock.family not in (socket.AF_INET, socket.AF_INET6) or (
                sock.type != socket.SOCK_STREAM
            ):
                sock.close()
                raise ValueError("descriptor is not a TCP/IP socket")
        except (ValueError, OSError) as exc:
            if fd is not None:
                os.close(fd)
            conn.sendall(_frame({"v": VERSION, "ok": False, "error": str(exc)}))
            continue
        try:
            conn.sendall(_frame({"v": VERSION, "ok": True}))
        except OSError:
            sock.close()
            raise
        yield sock, flow


def _bind_unix(path: str, backlog: int) -> socket.socket:
    """A listening Unix socket at `path`, replacing a stale socket file left
    by a previous run (never any other kind of file)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(path)
        server.listen(backlog)
    except OSError:
        server.close()
        raise
    return server


class MigratedSocketListener:
    """Blocking listener for migrated connections at Unix socket `path`.

    `accept()` returns (socket, (client ip, client port)) like
    `socket.accept()`; the socket is blocking and already connected, possibly
    with request bytes waiting in its receive queue. A background thread
    receives and acknowledges handovers as they come, so the agent is never
    held up by a server busy between two `accept()` calls.
    """

    def __init__(self, path: str, backlog: int = 64) -> None:
        self.path = path
        self._server = _bind_unix(path, backlog)
        self._ready: queue.Queue[tuple[socket.socket, MigratedFlow] | None] = queue.Queue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=f"handover {path}", daemon=True)
        self._thread.start()

    def accept(self, timeout: float | None = None) -> tuple[socket.socket, tuple[str, int]]:
        sock, flow = self.accept_flow(timeout)
        return sock, flow.client

    def accept_flow(self, timeout: float | None = None) -> tuple[socket.socket, MigratedFlow]:
        """Like `accept`, with the flow header; TimeoutError after `timeout` s,
        OSError once the listener is closed."""
        if self._closed:
            raise OSError(f"listener on {self.path} is closed")
        try:
            item = self._ready.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no migrated socket on {self.path} within {timeout} s") from None
        if item is None:
            self._ready.put(None)  # wake any other waiting caller too
            raise OSError(f"listener on {self.path} is closed")
        sock, flow = item
        sock.setblocking(True)
        return sock, flow

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ, None)
            selector.register(self._wake_r, selectors.EVENT_READ, None)
            while not self._closed:
                for key, _ in selector.select():
                    if key.fileobj is self._server:
                        conn, _ = self._server.accept()
                        selector.register(conn, selectors.EVENT_READ, _Decoder())
                    elif key.data is not None:
                        self._service(selector, key)
            for key in list(selector.get_map().values()):
                if isinstance(key.data, _Decoder):
                    key.data.close()
                    key.fileobj.close()  # type: ignore[union-attr]

    def _service(self, selector: selectors.BaseSelector, key: selectors.SelectorKey) -> None:
        conn = key.fileobj
        assert isinstance(conn, socket.socket)
        decoder: _Decoder = key.data
        try:
            if not _recv_into(conn, decoder):
                raise EOFError
            for item in _take(decoder, conn):
                self._ready.put(item)
        except (OSError, ValueError, EOFError):
            selector.unregister(conn)
            decoder.close()
            conn.close()

    def close(self) -> None:
        """Stop listening; migrated sockets not yet accepted are closed."""
        if self._closed:
            return
        self._closed = True
        self._wake_w.send(b"x")
        self._thread.join()
        for end in (self._server, self._wake_r, self._wake_w):
            end.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        while True:
            try:
                item = self._ready.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].close()
        self._ready.put(None)

    def __enter__(self) -> MigratedSocketListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMigratedSocketListener:
    """asyncio listener for migrated connections; `await accept()` returns
    (socket, (client ip, client port)) with a non-blocking socket, as
    `loop.sock_accept` does, ready for `asyncio.open_connection(sock=...)`."""

    def __init__(self, path: str, backlog: int = 64) -> None:
        self.path = path
        self._backlog = backlog
        self._server: socket.socket | None = None
        self._conns: dict[socket.socket, _Decoder] = {}
        self._queue: asyncio.Queue[tuple[socket.socket, MigratedFlow]] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = _bind_unix(self.path, self._backlog)
        self._server.setblocking(False)
        self._loop.add_reader(self._server, self._on_connect)

    async def accept(self) -> tuple[socket.socket, tuple[str, int]]:
        sock, flow = await self.accept_flow()
        return sock, flow.client

    async def accept_flow(self) -> tuple[socket.socket, MigratedFlow]:
        if self._server is None:
            raise RuntimeError(f"listener on {self.path} is not started")
        sock, flow = await self._queue.get()
        sock.setblocking(False)
        return sock, flow

    def _on_connect(self) -> None:
        assert self._server is not None and self._loop is not None
        try:
            conn, _ = self._server.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self._conns[conn] = _Decoder()
        self._loop.add_reader(conn, self._on_readable, conn)

    def _on_readable(self, conn: socket.socket) -> None:
        decoder = self._conns[conn]
        try:
            if not _recv_into(conn, decoder):
                raise EOFError
        except BlockingIOError:
            return
        except (OSError, ValueError, EOFError):
            self._drop(conn)
            return
        try:
            # Acks are a few bytes on an otherwise idle connection; if even
            # they do not fit, the agent is stuck and its connection dropped.
            for item in _take(decoder, conn):
                self._queue.put_nowait(item)
        except (OSError, ValueError):
            self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        assert self._loop is not None
        self._loop.remove_reader(conn)
        self._conns.pop(conn).close()
        conn.close()

    def close(self) -> None:
        for conn in list(self._conns):
            self._drop(conn)
        if self._server is not None and self._loop is not None:
            self._loop.remove_reader(self._server)
            self._server.close()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        while not self._queue.empty():
            self._queue.get_nowait()[0].close()


class AsyncHandoverSender:
    """The agent's side: one persistent connection to the application's
    listener, reopened when it breaks, on the agent's event loop (no thread
    waits for the application's acknowledgement). Handovers are serialised;
    `timeout` bounds each step (connecting, sending, the acknowledgement)."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self._conn: socket.socket | None = None
        self._lock = asyncio.Lock()

    async def send(self, sock: socket.socket, flow_id: int | None = None) -> MigratedFlow:
        """Give the application its own descriptor for `sock` and wait for its
        acknowledgement. The caller still owns `sock` and closes it afterwards
        (the connection lives on in the application)."""
        client, vip = sock.getpeername(), sock.getsockname()
        flow = MigratedFlow(flow_id, (client[0], client[1]), (vip[0], vip[1]))
        frame = _frame(_header_of(flow))
        async with self._lock:
            try:
                conn = await self._connected(flow)
                try:
                    sent = await self._send_fd(conn, frame, sock.fileno())
                except OSError as exc:
                    # A stale connection (the application restarted): nothing
                    # was queued, so one retry on a fresh connection is safe.
                    self._reset()
                    conn = await self._connected(flow)
                    try:
                        sent = await self._send_fd(conn, frame, sock.fileno())
                    except OSError as exc2:
                        self._reset()
                        raise HandoverError(
                            f"handover of {_show(flow)} to {self.path} failed: {exc2}", False
                        ) from exc
                try:
                    async with asyncio.timeout(self.timeout):
                        loop = asyncio.get_running_loop()
                        if sent < len(frame):
                            await loop.sock_sendall(conn, frame[sent:])
                        length = _reply_length(await _recv_exactly_async(conn, _LEN.size))
                        reply = _reply_of(await _recv_exactly_async(conn, length))
                except (OSError, ValueError) as exc:
                    self._reset()
                    raise HandoverError(
                        f"no acknowledgement from {self.path} for {_show(flow)}: {exc}", None
                    ) from exc
            except asyncio.CancelledError:
                self._reset()  # where the exchange stopped is unknown
                raise
        if reply.get("ok") is not True:
            raise HandoverError(
                f"{self.path} refused {_show(flow)}: {reply.get('error', reply)}", False
            )
        return flow

    async def _connected(self, flow: MigratedFlow) -> socket.socket:
        if self._conn is None:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.setblocking(False)
            try:
                async with asyncio.timeout(self.timeout):
                    await asyncio.get_running_loop().sock_connect(conn, self.path)
            except OSError as exc:
                conn.close()
                raise HandoverError(
                    f"cannot reach the application at {self.path} for {_show(flow)}: {exc}",
                    False,
                ) from exc
            self._conn = conn
        return self._conn

    async def _send_fd(self, conn: socket.socket, frame: bytes, fd: int) -> int:
        """Send the frame's first bytes with the descriptor; waits (up to the
        timeout) while the application's receive buffer is full."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.timeout):
            while True:
                try:
                    return socket.send_fds(conn, [frame], [fd])
                except BlockingIOError:
                    writable = loop.create_future()
                    loop.add_writer(conn, writable.set_result, None)
                    try:
                        await writable
                    finally:
                        loop.remove_writer(conn)

    def _reset(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        self._reset()


def _reply_length(head: bytes) -> int:
    (length,) = _LEN.unpack(head)
    if length > MAX_HEADER:
        raise ValueError(f"reply of {length} bytes exceeds {MAX_HEADER}")
    return int(length)


def _reply_of(body: bytes) -> dict[str, object]:
    reply = json.loads(body)
    if not isinstance(reply, dict):
        raise ValueError("reply is not a JSON object")
    return reply


async def _recv_exactly_async(conn: socket.socket, length: int) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < length:
        chunk = await loop.sock_recv(conn, length - len(data))
        if not chunk:
            raise ValueError("connection closed")
        data += chunk
    return data


def _show(flow: MigratedFlow) -> str:
    fid = "" if flow.flow_id is None else f"flow {flow.flow_id} "
    return f"{fid}{flow.client[0]}:{flow.client[1]} -> {flow.vip[0]}:{flow.vip[1]}"


def send_socket(
    path: str, sock: socket.socket, flow_id: int | None = None, timeout: float = 5.0
) -> MigratedFlow:
    """Hand `sock` to the application listening at `path` from blocking code
    (its own event loop and connection; see `AsyncHandoverSender.send`)."""

    async def send() -> MigratedFlow:
        sender = AsyncHandoverSender(path, timeout)
        try:
            return await sender.send(sock, flow_id)
        finally:
            sender.close()

    return asyncio.run(send())
