"""Demo back-end application: a small HTTP/1.1 server that also takes migrated connections.

It serves the same handler on an ordinary TCP listener and on the handover
Unix socket (`controller.handoff.handover`), so a connection behaves the same
whether it was accepted here or handed off by the classifier — which is what the
end-to-end tests check. Routes, all answering with `X-Backend: <name>`:

* `GET /` — a short text naming the back-end.
* `GET /bytes/N` — N deterministic bytes (`pattern_bytes`), streamed.
* `GET /static/NAME` — a short text naming the asset and the back-end (what
  the lab's consistent-hash pool serves).
* `POST /sha256` (or PUT) — the SHA-256 of the request body, streamed, hex.

HTTP/1.1 keep-alive and pipelining, `Content-Length` and chunked request
bodies, `Expect: 100-continue`, HEAD; anything else is answered 400/404/405/
413/431/501 and, when the framing is lost, the connection closed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import random
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from controller.handoff.cliargs import host_port
from controller.handoff.handover import AsyncMigratedSocketListener

log = logging.getLogger("p4handoff.demo_backend")

# A pseudo-random block of prime length: a stream built from it reveals any
# lost, duplicated or reordered chunk of a power-of-two size.
_PATTERN = random.Random(0x5EED).randbytes(65521)
_CHUNK = 1 << 16
MAX_HEAD = 64 * 1024
MAX_BYTES = 1 << 40


def pattern_chunks(length: int) -> Iterator[bytes]:
    """The first `length` bytes of the `/bytes/N` stream, in chunks."""
    offset = 0
    while offset < length:
        start = offset % len(_PATTERN)
        chunk = _PATTERN[start : start + min(_CHUNK, length - offset)]
        offset += len(chunk)
        yield chunk


def pattern_bytes(length: int) -> bytes:
    return b"".join(pattern_chunks(length))


def pattern_sha256(length: int) -> str:
    """SHA-256 of `GET /bytes/<length>`'s body, for clients that check it."""
    digest = hashlib.sha256()
    for chunk in pattern_chunks(length):
        digest.update(chunk)
    return digest.hexdigest()


class HttpError(Exception):
    def __init__(self, status: int, reason: str, detail: str, close: bool = False) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail, self.close = status, reason, detail, close


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


async def _read_head(reader: asyncio.StreamReader) -> Request | None:
    """The next request's head, or None at a clean end of the connection."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HttpError(
            400, "Bad Request", "connection closed inside a request head", True
        ) from None
    except asyncio.LimitOverrunError:
        raise HttpError(
            431, "Request Header Fields Too Large", f"head over {MAX_HEAD} bytes", True
        ) from None
    lines = raw.decode("latin-1").split("\r\n")
    while lines and not lines[0]:
        lines.pop(0)  # tolerated empty lines between pipelined requests
    parts = lines[0].split(" ") if lines else []
    if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise HttpError(400, "Bad Request", f"bad request line {lines[:1]!r}", True)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, "Bad Request", f"bad header line {line!r}", True)
        key = name.lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return Request(parts[0], parts[1], parts[2], headers)


async def _body(request: Request, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The request body in chunks, from Content-Length or chunked framing."""
    coding = request.headers.get("transfer-encoding", "").strip().lower()
    if coding:
        if coding != "chunked":
            raise HttpError(501, "Not Implemented", f"transfer-encoding {coding!r}", True)
        async for chunk in _chunked(reader):
            yield chunk
        return
    text = request.headers.get("content-length", "0").strip()
    if not text.isdigit():
        raise HttpError(400, "Bad Request", f"content-length {text!r}", True)
    left = int(text)
    while left:
        chunk = await reader.read(min(left, _CHUNK))
        if not chunk:
            raise HttpError(400, "Bad Request", f"body ended {left} bytes early", True)
        left -= len(chunk)
        yield chunk


async def _chunked(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    try:
        while True:
            size_line = (await reader.readuntil(b"\r\n")).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise HttpError(400, "Bad Request", f"chunk size {size_line!r}", True) from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers are ignored
                return
            while size:
                chunk = await reader.read(min(size, _CHUNK))
                if not chunk:
                    raise asyncio.IncompleteReadError(b"", size)
                size -= len(chunk)
                yield chunk
            if await reader.readexactly(2) != b"\r\n":
                raise HttpError(400, "Bad Request", "chunk not followed by CRLF", True)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        raise HttpError(400, "Bad Request", "chunked body cut short", True) from None


class DemoBackend:
    """The server; `start()` opens whichever of the two listeners is configured."""

    def __init__(
        self,
        name: str,
        listen: tuple[str, int] | None = None,
        handover_path: str | None = None,
    ) -> None:
        if listen is None and handover_path is None:
            raise ValueError("give a TCP address to listen on, a handover socket path, or both")
        self.name = name
        self.listen = listen
        self.handover_path = handover_path
        self.requests_served = 0
        self.migrated_connections = 0
        self._server: asyncio.Server | None = None
        self._handover: AsyncMigratedSocketListener | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> tuple[str, int]:
        """The bound TCP address (port 0 in `listen` picks a free one)."""
        if self._server is None:
            raise RuntimeError("the TCP listener is not running")
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def start(self) -> None:
        if self.listen is not None:
            self._server = await asyncio.start_server(
                self._serve, self.listen[0], self.listen[1], limit=MAX_HEAD, reuse_address=True
            )
        if self.handover_path is not None:
            self._handover = AsyncMigratedSocketListener(self.handover_path)
            await self._handover.start()
            self._spawn(self._accept_migrated())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_migrated(self) -> None:
        assert self._handover is not None
        while True:
            sock, flow = await self._handover.accept_flow()
            self.migrated_connections += 1
            log.info("migrated connection from %s:%d (flow %s)", *flow.client, flow.flow_id)
            try:
                reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_HEAD)
            except OSError as exc:
                log.warning("cannot serve migrated connection from %s: %s", flow.client, exc)
                sock.close()
                continue
            self._spawn(self._serve(reader, writer))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._handover is not None:
            self._handover.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request = await _read_head(reader)
                    if request is None:
                        break
                    keep_alive = await self._respond(request, reader, writer)
                except HttpError as exc:
                    await self._error(writer, exc)
                    if exc.close:
                        break
                    continue
                self.requests_served += 1
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _respond(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        if request.headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        path = request.target.split("?", 1)[0]
        keep = request.keep_alive
        if path == "/sha256":
            if request.method not in ("POST", "PUT"):
                await self._drain_body(request, reader)
                raise HttpError(405, "Method Not Allowed", "use POST or PUT")
            digest, length = hashlib.sha256(), 0
            async for chunk in _body(request, reader):
                digest.update(chunk)
                length += len(chunk)
            body = f"{digest.hexdigest()}\n".encode()
            await self._send(writer, request, 200, "OK", body, keep, {"X-Body-Length": str(length)})
            return keep
        await self._drain_body(request, reader)
        if request.method not in ("GET", "HEAD"):
            if path == "/" or path.startswith(("/bytes/", "/static/")):
                raise HttpError(405, "Method Not Allowed", "use GET or HEAD")
            raise HttpError(404, "Not Found", f"no route for {request.method} {path}")
        if path == "/":
            body = f"hello from {self.name}\n".encode()
            await self._send(writer, request, 200, "OK", body, keep)
        elif path.startswith("/bytes/"):
            count = path.removeprefix("/bytes/")
            if not count.isdigit() or int(count) > MAX_BYTES:
                raise HttpError(400, "Bad Request", f"byte count {count!r}")
            await self._stream(writer, request, int(count), keep)
        elif path.startswith("/static/") and len(path) > len("/static/"):
            body = f"asset {path.removeprefix('/static/')} from {self.name}\n".encode()
            await self._send(writer, request, 200, "OK", body, keep)
        else:
            raise HttpError(404, "Not Found", f"no route for {request.method} {path}")
        return keep

    async def _drain_body(self, request: Request, reader: asyncio.StreamReader) -> None:
        """Consume an unused body so the next pipelined request starts in step."""
        async for _ in _body(request, reader):
            pass

    def _head(
        self, status: int, reason: str, length: int, keep: bool, extra: dict[str, str]
    ) -> bytes:
        fields = {
            "Content-Length": str(length),
            "Content-Type": "application/octet-stream" if status == 200 else "text/plain",
            "X-Backend": self.name,
            "Connection": "keep-alive" if keep else "close",
            **extra,
        }
        lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in fields.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        request: Request,
        status: int,
        reason: str,
        body: bytes,
        keep: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        head = self._head(status, reason, len(body), keep, extra or {})
        # One write: two would leave as two segments (asyncio sets TCP_NODELAY).
        writer.writelines([head, body] if request.method != "HEAD" else [head])
        await writer.drain()

    async def _stream(
        self, writer: asyncio.StreamWriter, request: Request, count: int, keep: bool
    ) -> None:
        writer.write(self._head(200, "OK", count, keep, {}))
        if request.method != "HEAD":
            for chunk in pattern_chunks(count):
                writer.write(chunk)
                await writer.drain()
        await writer.drain()

    async def _error(self, writer: asyncio.StreamWriter, exc: HttpError) -> None:
        body = f"{exc.status} {exc.reason}: {exc.detail}\n".encode()
        writer.writelines([self._head(exc.status, exc.reason, len(body), not exc.close, {}), body])
        await writer.drain()



def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="handoff backend",
        description="Demo HTTP/1.1 back-end that also serves handed-off connections.",
    )
    p.add_argument("--name", required=True, help="value of the X-Backend response header")
    p.add_argument("--listen", type=host_port, help="HOST:PORT for ordinary connections")
    p.add_argument("--handover", help="Unix socket path where the agent hands connections over")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


async def _run(args: argparse.Namespace) -> None:
    backend = DemoBackend(args.name, args.listen, args.handover)
    await backend.start()
    where = []
    if args.listen is not None:
        host, port = backend.address
        where.append(f"{host}:{port}")
    if args.handover is not None:
        where.append(f"handover {args.handover}")
    log.info("demo back-end %s serving on %s", args.name, ", ".join(where))
    try:
        await asyncio.Event().wait()
    finally:
        await backend.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.listen is None and args.handover is None:
        _parser().error("give --listen, --handover or both")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
