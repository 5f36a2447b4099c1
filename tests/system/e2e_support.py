"""Test helpers for handoffs through a whole lab (controller.lab.session):
the policy that lets a request pick its back-end, an HTTP/1.1 client on a
plain socket with bodies streamed through SHA-256, deterministic upload data,
and two views of the wire (RST counter, segment capture) in a host's
namespace. The lab itself, and everything it runs, is the product's.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from controller.handoff.nft import Nft
from controller.lab.netns import in_netns, run
from controller.lab.session import LabSession

BACKENDS = ("b1", "b2", "b3")
PIN_HEADER = "X-Handoff-To"

# Round robin over every back-end, unless the request names one
# (`X-Handoff-To: b2`): then only that one; a request for a back-end that is
# out of its pool gets the classifier's 503.
PIN_POLICY: dict[str, object] = {
    "pools": {
        "all": {"algorithm": "weighted_round_robin", "backends": list(BACKENDS)},
        **{f"only_{b}": {"backends": [b]} for b in BACKENDS},
    },
    "rules": [
        *({"headers": {PIN_HEADER.lower(): b}, "pool": f"only_{b}"} for b in BACKENDS),
        {"path_prefix": "/", "pool": "all"},
    ],
    "on_no_match": "http-503",
    "read_limit": {"bytes": 8192, "timeout_ms": 2000},
}


@contextlib.contextmanager
def tcp_options(
    lab: LabSession, host: str, *, timestamps: bool, sack: bool, wscale: bool
) -> Iterator[None]:
    """TCP option sysctls of one namespace for the block (restored after)."""
    keys = {
        "net.ipv4.tcp_timestamps": int(timestamps),
        "net.ipv4.tcp_sack": int(sack),
        "net.ipv4.tcp_window_scaling": int(wscale),
    }
    ns = lab.ns(host)
    before = {k: run(in_netns(ns, ["sysctl", "-n", k])).stdout.strip() for k in keys}
    try:
        for k, v in keys.items():
            run(in_netns(ns, ["sysctl", "-qw", f"{k}={v}"]))
        yield
    finally:
        for k, old in before.items():
            run(in_netns(ns, ["sysctl", "-qw", f"{k}={old}"]))


# ---------------------------------------------------------------- observing the wire


class RstCounter:
    """Counts TCP segments with RST entering and leaving one namespace (nft)."""

    TABLE = "e2e_rstwatch"

    def __init__(self, lab: LabSession, host: str) -> None:
        self.nft = lab.call_in(host, Nft)
        t = f"ip {self.TABLE}"
        self.nft.run(
            f"add table {t}\nadd counter {t} rst\n"
            f"add chain {t} in {{ type filter hook prerouting priority raw; }}\n"
            f"add chain {t} out {{ type filter hook output priority raw; }}\n"
            f'add rule {t} in tcp flags rst counter name "rst"\n'
            f'add rule {t} out tcp flags rst counter name "rst"\n'
        )

    def count(self) -> int:
        packets: int = self.nft.query(f"list counter ip {self.TABLE} rst")[0]["counter"]["packets"]
        return packets


@dataclass(frozen=True)
class Segment:
    src: str
    dst: str
    sport: int
    dport: int
    flags: int
    payload: int
    seq: int = 0


SO_RCVBUFFORCE = 33
SOL_PACKET, PACKET_STATISTICS = 263, 6


class WireCapture:
    """Every IPv4/TCP segment arriving on one namespace's eth0 while it runs.

    The kernel queues up to 64 MiB of frames for the reader, and `stop()`
    reads the queue to its end and raises if the kernel dropped any frame:
    a capture either holds every segment or fails the test, so asserting
    that something is absent from it means something.
    """

    BUFFER = 64 << 20

    def __init__(self, lab: LabSession, host: str, interface: str = "eth0") -> None:
        def open_socket() -> socket.socket:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.BUFFER)
            sock.bind((interface, 0))
            sock.settimeout(0.1)
            return sock

        self.sock = lab.call_in(host, open_socket)
        self.segments: list[Segment] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                frame, address = self.sock.recvfrom(65536)
            except TimeoutError:
                if self._stop.is_set():
                    return  # stopped, and the queue is empty
                continue
            except OSError:
                return
            if address[2] == socket.PACKET_OUTGOING or len(frame) < 34 or frame[23] != 6:
                continue
            ihl = (frame[14] & 0x0F) * 4
            total = struct.unpack_from("!H", frame, 16)[0]
            tcp = 14 + ihl
            sport, dport, seq = struct.unpack_from("!HHI", frame, tcp)
            offset = (frame[tcp + 12] >> 4) * 4
            self.segments.append(
                Segment(
                    socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34]),
                    sport, dport, frame[tcp + 13], total - ihl - offset, seq,
                )
            )  # fmt: skip

    def stop(self) -> list[Segment]:
        self._stop.set()
        self._thread.join(60)
        statistics = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        self.sock.close()
        _, drops = struct.unpack("II", statistics)
        if self._thread.is_alive() or drops:
            raise AssertionError(f"the capture is incomplete: {drops} frames dropped")
        return self.segments


# ---------------------------------------------------------------- HTTP on a client socket


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    length: int
    sha256: str
    body: bytes  # empty when the caller asked not to keep it


class HttpConnection:
    """A blocking HTTP/1.1 client on one socket: keep-alive, pipelining,
    bodies streamed through SHA-256."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError(f"connection closed with {len(self.buffer)} bytes buffered")
        self.buffer += chunk

    def read_response(self, keep_body: bool = True) -> Response:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        status = int(head[0].split(" ")[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        digest = hashlib.sha256()
        body = bytearray()
        left = length
        while left:
            if not self.buffer:
                self._fill()
            take = bytes(self.buffer[:left])
            del self.buffer[: len(take)]
            digest.update(take)
            if keep_body:
                body += take
            left -= len(take)
        return Response(status, headers, length, digest.hexdigest(), bytes(body))

    def close(self) -> None:
        """Half-close, wait for the server's FIN, then close: no RST either way."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
            while self.sock.recv(1 << 16):
                pass
        self.sock.close()


def get(path: str, **headers: str) -> bytes:
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return f"GET {path} HTTP/1.1\r\nHost: vip\r\n{extra}\r\n".encode()


def post_head(path: str, length: int, **headers: str) -> bytes:
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return f"POST {path} HTTP/1.1\r\nHost: vip\r\nContent-Length: {length}\r\n{extra}\r\n".encode()


def body_chunks(length: int, seed: int, chunk: int = 1 << 16) -> Iterator[bytes]:
    """Deterministic pseudo-random upload data (SHA-256 counter mode)."""
    block = 0
    sent = 0
    while sent < length:
        out = bytearray()
        while len(out) < chunk:
            out += hashlib.sha256(struct.pack("!QQ", seed, block)).digest()
            block += 1
        piece = bytes(out[: min(chunk, length - sent)])
        sent += len(piece)
        yield piece


def body_sha256(length: int, seed: int) -> str:
    digest = hashlib.sha256()
    for piece in body_chunks(length, seed):
        digest.update(piece)
    return digest.hexdigest()
