"""Set and map element changes as nf_tables netlink transactions.

A handoff changes one set element on the classifier (its lock) and five map
elements on the back-end (its decapsulation). Through libnftables each such
change is a script that is parsed and checked against a ruleset cache read
back from the kernel on every call: about 0.2 ms of CPU for a few dozen
bytes to the kernel, on each side of every handoff. The kernel interface for
elements is small and stable (NFT_MSG_NEWSETELEM / NFT_MSG_DELSETELEM inside
an nfnetlink batch, include/uapi/linux/netfilter/nf_tables.h), and no
maintained Python library writes map elements (pyroute2's nftables module,
asyncio only, sends a set element's key, timeout and comment, never a map's
data), so the messages are packed here with `struct`.
Tables, chains, rules and sets are still made by nft script
(controller.handoff.nft), which also reads everything back.

Encoding, as nft itself does it: an address is in network byte order; an
`inet_service` is two bytes in network order; a `mark` is four bytes in host
order; each part of a concatenated key is zero-padded to four bytes.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass

NETLINK_NETFILTER = 12
_NLM_F_REQUEST = 0x1
_NLM_F_ACK = 0x4
_NLM_F_CREATE = 0x400
_NLMSG_ERROR = 2
_NFNL_MSG_BATCH_BEGIN = 16
_NFNL_MSG_BATCH_END = 17
_NFNL_SUBSYS_NFTABLES = 10
_NFT_MSG_NEWSETELEM = 12
_NFT_MSG_DELSETELEM = 14
_NFTA_SET_ELEM_LIST_TABLE = 1
_NFTA_SET_ELEM_LIST_SET = 2
_NFTA_SET_ELEM_LIST_ELEMENTS = 3
_NFTA_LIST_ELEM = 1
_NFTA_SET_ELEM_KEY = 1
_NFTA_SET_ELEM_DATA = 2
_NFTA_DATA_VALUE = 1
_NLA_F_NESTED = 0x8000
NFPROTO_IPV4 = 2
NFPROTO_IPV6 = 10

_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_NFGENMSG = struct.Struct("=BBH")  # family, version, resource id (network order)
_NLATTR = struct.Struct("=HH")  # length, type
_ERRNO = struct.Struct("=i")
_SOL_NETLINK = 270
_NETLINK_CAP_ACK = 10  # answers quote the header of the message, not all of it
# A whole transaction of this many bytes fits the socket buffers asked for.
_BUFFER_BYTES = 4 * 1024 * 1024
# One answer (an acknowledgement, or an error with its extended report) is
# far smaller; reading into one buffer spares allocating per answer.
_ANSWER_BYTES = 64 * 1024
_TIMEOUT_S = 5.0


class ElementError(Exception):
    """The kernel refused a transaction (`code` is the errno), or did not
    answer; `change` is the refused change in nft syntax."""

    def __init__(self, code: int, change: str) -> None:
        self.code = code
        self.change = change
        super().__init__(f"{os.strerror(code)} (errno {code}) on `{change}`")


def address(text: str) -> bytes:
    """An IPv4 or IPv6 address in network byte order."""
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


def service(port: int) -> bytes:
    """An `inet_service` value (a map's data; `concat` pads it as a key part)."""
    return struct.pack("!H", port)


def mark(value: int) -> bytes:
    """A `mark` value: host byte order."""
    return struct.pack("=I", value)


def concat(*parts: bytes) -> bytes:
    """A concatenated key: each part zero-padded to four bytes."""
    return b"".join(part + b"\0" * (-len(part) % 4) for part in parts)


@dataclass(frozen=True)
class ElementChange:
    """Add (with `data` for a map) or delete one element of set `name` in
    table `table` of `family` (NFPROTO_IPV4 or NFPROTO_IPV6); `text` says
    the same in nft syntax, for errors."""

    add: bool
    family: int
    table: str
    name: str
    key: bytes
    data: bytes | None
    text: str


def _attr(kind: int, payload: bytes) -> bytes:
    size = _NLATTR.size + len(payload)
    return _NLATTR.pack(size, kind) + payload + b"\0" * (-size % 4)


def _string(kind: int, text: str) -> bytes:
    return _attr(kind, text.encode() + b"\0")


def _element(change: ElementChange) -> bytes:
    body = _attr(_NFTA_SET_ELEM_KEY | _NLA_F_NESTED, _attr(_NFTA_DATA_VALUE, change.key))
    if change.data is not None:
        body += _attr(_NFTA_SET_ELEM_DATA | _NLA_F_NESTED, _attr(_NFTA_DATA_VALUE, change.data))
    return _attr(_NFTA_LIST_ELEM | _NLA_F_NESTED, body)


class ElementWriter:
    """A netlink socket for element transactions, in the network namespace
    of the thread that creates it. Thread-safe: transactions are serialised."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        for force, plain in ((33, socket.SO_RCVBUF), (32, socket.SO_SNDBUF)):
            try:  # SO_RCVBUFFORCE / SO_SNDBUFFORCE pass the sysctl limits (CAP_NET_ADMIN)
                self._sock.setsockopt(socket.SOL_SOCKET, force, _BUFFER_BYTES)
            except PermissionError:
                self._sock.setsockopt(socket.SOL_SOCKET, plain, _BUFFER_BYTES)
        self._sock.setsockopt(_SOL_NETLINK, _NETLINK_CAP_ACK, 1)
        self._sock.bind((0, 0))
        self._sock.settimeout(_TIMEOUT_S)
        self._answer = bytearray(_ANSWER_BYTES)
        self._lock = threading.Lock()
        self._sequence = 0

    def apply(self, changes: Sequence[ElementChange]) -> None:
        """Make `changes` in one transaction: all of them or, with
        ElementError naming the first refused one, none."""
        if not changes:
            return
        with self._lock:
            begin = (self._sequence + 1) & 0xFFFFFFFF
            batch, refused_by = self._batch(changes)
            self._sock.send(batch)
            self._wait(refused_by, {begin, self._sequence})

    def _batch(
        self, changes: Sequence[ElementChange]
    ) -> tuple[bytes, dict[int, Sequence[ElementChange]]]:
        """The batch, and per acknowledged message its sequence number ->
        the changes it makes. Consecutive changes of one set and verb share
        a message."""
        parts = [self._message(_NFNL_MSG_BATCH_BEGIN, 0, 0, b"", _NFNL_SUBSYS_NFTABLES)]
        refused_by: dict[int, Sequence[ElementChange]] = {}
        start = 0
        while start < len(changes):
            first = changes[start]
            end = start + 1
            while end < len(changes) and _same_target(changes[end], first):
                end += 1
            kind = _NFT_MSG_NEWSETELEM if first.add else _NFT_MSG_DELSETELEM
            flags = _NLM_F_ACK | (_NLM_F_CREATE if first.add else 0)
            body = (
                _string(_NFTA_SET_ELEM_LIST_TABLE, first.table)
                + _string(_NFTA_SET_ELEM_LIST_SET, first.name)
                + _attr(
                    _NFTA_SET_ELEM_LIST_ELEMENTS | _NLA_F_NESTED,
                    b"".join(_element(c) for c in changes[start:end]),
                )
            )
            parts.append(
                self._message((_NFNL_SUBSYS_NFTABLES << 8) | kind, flags, first.family, body)
            )
            refused_by[self._sequence] = changes[start:end]
            start = end
        parts.append(self._message(_NFNL_MSG_BATCH_END, 0, 0, b"", _NFNL_SUBSYS_NFTABLES))
        return b"".join(parts), refused_by

    def _message(self, kind: int, flags: int, family: int, body: bytes, resource: int = 0) -> bytes:
        self._sequence = (self._sequence + 1) & 0xFFFFFFFF
        payload = _NFGENMSG.pack(family, 0, socket.htons(resource)) + body
        size = _NLMSGHDR.size + len(payload)
        return _NLMSGHDR.pack(size, kind, _NLM_F_REQUEST | flags, self._sequence, 0) + payload

    def _wait(self, refused_by: dict[int, Sequence[ElementChange]], bounds: set[int]) -> None:
        """Read an answer for every acknowledged message; the kernel answers
        them all, refused or not, once it has run or undone the batch. An
        error for the batch's begin or end message refuses it all; answers
        to an earlier transaction (one that timed out) are skipped."""
        waiting = set(refused_by)
        failure: ElementError | None = None
        while waiting:
            try:
                size = self._sock.recv_into(self._answer)
            except TimeoutError:
                what = _text(refused_by[next(iter(waiting))])
                raise ElementError(errno.ETIMEDOUT, what) from None
            except OSError as exc:  # ENOBUFS: answers were lost, the outcome is unknown
                what = _text(refused_by[next(iter(waiting))])
                raise ElementError(exc.errno or errno.EIO, what) from exc
            data, offset = self._answer, 0
            while offset + _NLMSGHDR.size <= size:
                length, kind, _, sequence, _ = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    break
                ours = sequence in refused_by or sequence in bounds
                if kind == _NLMSG_ERROR and ours:
                    (code,) = _ERRNO.unpack_from(data, offset + _NLMSGHDR.size)
                    if code and failure is None:
                        first = next(iter(refused_by.values()))
                        failure = ElementError(-code, _text(refused_by.get(sequence, first)))
                        if sequence in bounds:
                            waiting.clear()
                    waiting.discard(sequence)
                offset += (length + 3) & ~3
        if failure is not None:
            raise failure

    def close(self) -> None:
        with self._lock:
            self._sock.close()


def _text(changes: Sequence[ElementChange]) -> str:
    """The changes of one refused message in nft syntax (built only on errors)."""
    return "; ".join(c.text for c in changes)


def _same_target(a: ElementChange, b: ElementChange) -> bool:
    return (a.add, a.family, a.table, a.name) == (b.add, b.family, b.table, b.name)
