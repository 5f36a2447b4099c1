"""The sealed messages a classifier sends to a migrator agent.

A handoff blob carries one frozen connection (`ConnectionState`), the flow id
the forwarder will write into the ports and the forwarder's address; the agent
restores it and holds it ready. A commit, sent once the switch steers the
flow to the back-end, gives the socket to the application; an abort undoes a
handoff that was not committed (or says it was). A release notice tells the
agent that a flow ended; a ping is a heartbeat that proves the agent is up
and shares our key and clock. All share one envelope: magic,
version, kind, key id, total length, nonce, creation time, the body, and an
HMAC-SHA256 over all of it. The byte layout is in docs/blob-format.md.

The format is ours and small, so it is written with `struct`, `hmac` and
`hashlib` from the standard library: a serialisation library (protobuf,
msgpack, CBOR) would add a dependency and a second parser to audit while still
leaving the size limits, the field ranges and the MAC placement to us.

`unseal` is strict and total: for any input bytes it either returns an
`Envelope` or raises exactly one `BlobError` whose `reason` says why. It checks
every length against the configured maximum before slicing anything, checks the
MAC (constant time) before it reads any body field, and never trusts a length
it has not bounded. Freshness (nonce seen before, creation time too old or in
the future) is the job of `controller.handoff.replay.ReplayWindow`, applied by the
caller after `unseal` so that only authentic messages reach its memory.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import struct
import time
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from controller.handoff.addresses import ip_address
from controller.handoff.keys import Keyring
from controller.handoff.tcpstate import ConnectionState, RepairWindow, TcpOptions

MAGIC = b"P4HO"
# 2: a handoff is answered "ready" and handed to the application on a commit.
# A version-1 peer would take "ready" for "handed over", so it is refused.
VERSION = 2
NONCE_LEN = 16
MAC_LEN = 32
MAX_WSCALE = 14  # RFC 7323: a larger shift is treated as 14 by peers, so it is a bug here
DEFAULT_MAX_SIZE = 16 * 1024 * 1024

# magic, version, kind, key id, total length, nonce, creation time (ms)
_HEADER = struct.Struct(">4sBBHI16sQ")
HEADER_LEN = _HEADER.size
_MIN_TOTAL = HEADER_LEN + MAC_LEN

# flow id, address family, flags (handoff) / reserved (release)
_BODY_HEAD = struct.Struct(">IBB")
_PORT = struct.Struct(">H")
# snd_seq, rcv_seq, snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup, mss,
# snd_wscale, rcv_wscale, ts_offset, len(send_unacked), len(send_unsent), len(receive)
_TCP = struct.Struct(">IIIIIIIHBBIIII")

_FLAG_SACK = 0x01
_FLAG_TIMESTAMPS = 0x02
_FLAGS_KNOWN = _FLAG_SACK | _FLAG_TIMESTAMPS

_ADDR_LEN = {4: 4, 6: 16}
_NONCE_OFFSET = 12


class Kind(IntEnum):
    HANDOFF = 1
    RELEASE = 2
    ABORT = 3
    PING = 4
    COMMIT = 5


_KINDS = frozenset(k.value for k in Kind)


class Reason(StrEnum):
    """Why a message was refused; the values are stable, logged and sent back."""

    TRUNCATED = "truncated"
    BAD_MAGIC = "bad_magic"
    BAD_VERSION = "bad_version"
    BAD_KIND = "bad_kind"
    TOO_LARGE = "too_large"
    TRAILING_DATA = "trailing_data"
    UNKNOWN_KEY = "unknown_key"
    BAD_MAC = "bad_mac"
    MALFORMED_FIELD = "malformed_field"
    REPLAYED = "replayed"
    STALE = "stale"
    FUTURE = "future"


class BlobError(Exception):
    """The one error a sealed message can cause, with a machine-readable reason."""

    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}")


@dataclass(frozen=True)
class Handoff:
    """Move `state` to the agent; the forwarder will tunnel it as `flow_id`."""

    flow_id: int
    forwarder_ip: str
    state: ConnectionState


@dataclass(frozen=True)
class Release:
    """The flow `flow_id` from `forwarder_ip` ended: remove its decapsulation."""

    flow_id: int
    forwarder_ip: str


@dataclass(frozen=True)
class Abort:
    """Undo or confirm the handoff sealed with `handoff_nonce` (flow `flow_id`).

    A classifier whose handoff timed out cannot tell whether the agent
    installed it; it sends this and thaws its frozen copy only if the agent
    answers that the handoff is not installed, and never will be.
    """

    flow_id: int
    forwarder_ip: str
    handoff_nonce: bytes


@dataclass(frozen=True)
class Commit:
    """Hand the ready socket of the handoff sealed with `handoff_nonce` to the
    application: the switch now steers flow `flow_id` to the back-end."""

    flow_id: int
    forwarder_ip: str
    handoff_nonce: bytes


@dataclass(frozen=True)
class Ping:
    """A heartbeat: answered OK by an agent that could check it, changes nothing.

    Its envelope (key id, MAC, nonce, creation time) is all it carries, so an
    OK proves what a handoff needs: the agent reads frames, holds our key and
    agrees with our clock.
    """


Message = Handoff | Release | Abort | Commit | Ping
Notice = Release | Abort | Commit
_NOTICE_KINDS: dict[type[Notice], Kind] = {
    Release: Kind.RELEASE,
    Abort: Kind.ABORT,
    Commit: Kind.COMMIT,
}


@dataclass(frozen=True)
class Envelope:
    """An authentic, well-formed message and the facts freshness is judged on."""

    key_id: int
    nonce: bytes
    created_ms: int
    message: Message


def now_ms() -> int:
    """Wall-clock milliseconds: creation times are compared across hosts."""
    return time.time_ns() // 1_000_000


# ---------------------------------------------------------------- sealing


def _malformed(field: str, problem: str) -> BlobError:
    return BlobError(Reason.MALFORMED_FIELD, f"{field}: {problem}")


def _check_uint(field: str, value: int, bits: int) -> int:
    if not 0 <= value < 1 << bits:
        raise _malformed(field, f"{value} is not an unsigned {bits}-bit value")
    return value


def _pack_address(field: str, text: str, family: int | None) -> tuple[int, bytes]:
    try:
        addr = ip_address(text)
    except ValueError:
        raise _malformed(field, f"{text!r} is not an IP address") from None
    if family is not None and addr.version != family:
        raise _malformed(field, f"{text} is IPv{addr.version}, the message is IPv{family}")
    return addr.version, addr.packed


def _encode_handoff(h: Handoff) -> bytes:
    s = h.state
    family, forwarder = _pack_address("forwarder_ip", h.forwarder_ip, None)
    _, client = _pack_address("client_ip", s.client_ip, family)
    _, vip = _pack_address("vip_ip", s.vip_ip, family)
    o, w = s.options, s.window
    for name, scale in (("snd_wscale", o.snd_wscale), ("rcv_wscale", o.rcv_wscale)):
        if not 0 <= scale <= MAX_WSCALE:
            raise _malformed(name, f"{scale} outside 0..{MAX_WSCALE}")
    if not 1 <= o.mss <= 0xFFFF:
        raise _malformed("mss", f"{o.mss} outside 1..65535")
    flags = (_FLAG_SACK if o.sack else 0) | (_FLAG_TIMESTAMPS if o.timestamps else 0)
    tcp = _TCP.pack(
        _check_uint("snd_seq", s.snd_seq, 32),
        _check_uint("rcv_seq", s.rcv_seq, 32),
        _check_uint("snd_wl1", w.snd_wl1, 32),
        _check_uint("snd_wnd", w.snd_wnd, 32),
        _check_uint("max_window", w.max_window, 32),
        _check_uint("rcv_wnd", w.rcv_wnd, 32),
        _check_uint("rcv_wup", w.rcv_wup, 32),
        o.mss,
        o.snd_wscale,
        o.rcv_wscale,
        _check_uint("ts_offset", o.ts_offset, 32),
        len(s.send_unacked),
        len(s.send_unsent),
        len(s.receive),
    )
    return b"".join(
        (
            _BODY_HEAD.pack(_check_uint("flow_id", h.flow_id, 32), family, flags),
            forwarder,
            client,
            _PORT.pack(_check_uint("client_port", s.client_port, 16)),
            vip,
            _PORT.pack(_check_uint("vip_port", s.vip_port, 16)),
            tcp,
            s.send_unacked,
            s.send_unsent,
            s.receive,
        )
    )


def _encode_notice(m: Notice) -> bytes:
    family, forwarder = _pack_address("forwarder_ip", m.forwarder_ip, None)
    body = _BODY_HEAD.pack(_check_uint("flow_id", m.flow_id, 32), family, 0) + forwarder
    if not isinstance(m, Release):
        if len(m.handoff_nonce) != NONCE_LEN:
            raise _malformed("handoff_nonce", f"{len(m.handoff_nonce)} bytes, must be {NONCE_LEN}")
        body += m.handoff_nonce
    return body


def seal(
    message: Message,
    keys: Keyring,
    *,
    created_ms: int | None = None,
    nonce: bytes | None = None,
    key_id: int | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
) -> bytes:
    """Encode and authenticate `message` under the keyring's sealing key.

    `created_ms`, `nonce` and `key_id` default to now, 16 random bytes and the
    keyring's highest key id; tests pin them. Raises BlobError
    (malformed_field, too_large, unknown_key) for a message the format cannot
    carry.
    """
    if isinstance(message, Handoff):
        kind, body = Kind.HANDOFF, _encode_handoff(message)
    elif isinstance(message, Ping):
        kind, body = Kind.PING, b""
    else:
        kind = _NOTICE_KINDS[type(message)]
        body = _encode_notice(message)
    kid = keys.sealing_key_id if key_id is None else key_id
    key = keys.get(kid)
    if key is None:
        raise BlobError(Reason.UNKNOWN_KEY, f"key id {kid} is not in {keys!r}")
    nonce = secrets.token_bytes(NONCE_LEN) if nonce is None else nonce
    if len(nonce) != NONCE_LEN:
        raise _malformed("nonce", f"{len(nonce)} bytes, must be {NONCE_LEN}")
    created = now_ms() if created_ms is None else created_ms
    _check_uint("created_ms", created, 64)
    total = HEADER_LEN + len(body) + MAC_LEN
    if total > max_size:
        raise BlobError(Reason.TOO_LARGE, f"message is {total} bytes, maximum is {max_size}")
    signed = _HEADER.pack(MAGIC, VERSION, kind, kid, total, nonce, created) + body
    return signed + hmac.digest(key, signed, hashlib.sha256)


def sealed_nonce(blob: bytes) -> bytes:
    """The nonce of a message `seal` returned (what an `Abort` or `Commit` names)."""
    return blob[_NONCE_OFFSET : _NONCE_OFFSET + NONCE_LEN]


# ---------------------------------------------------------------- opening


def _read_address(body: memoryview, offset: int, family: int) -> str:
    raw = bytes(body[offset : offset + _ADDR_LEN[family]])
    addr = ipaddress.IPv4Address(raw) if family == 4 else ipaddress.IPv6Address(raw)
    return str(addr)


def _family(value: int) -> int:
    if value not in _ADDR_LEN:
        raise _malformed("address family", f"{value} is neither 4 nor 6")
    return value


def _decode_handoff(body: memoryview) -> Handoff:
    if len(body) < _BODY_HEAD.size:
        raise _malformed("handoff body", f"{len(body)} bytes, shorter than its header")
    flow_id, family, flags = _BODY_HEAD.unpack_from(body, 0)
    family = _family(family)
    if flags & ~_FLAGS_KNOWN:
        raise _malformed("flags", f"unknown bits 0x{flags & ~_FLAGS_KNOWN:02x} set")
    alen = _ADDR_LEN[family]
    fixed = _BODY_HEAD.size + 3 * alen + 2 * _PORT.size + _TCP.size
    if len(body) < fixed:
        raise _malformed("handoff body", f"{len(body)} bytes, IPv{family} fixed part needs {fixed}")
    off = _BODY_HEAD.size
    forwarder = _read_address(body, off, family)
    off += alen
    client = _read_address(body, off, family)
    off += alen
    (client_port,) = _PORT.unpack_from(body, off)
    off += _PORT.size
    vip = _read_address(body, off, family)
    off += alen
    (vip_port,) = _PORT.unpack_from(body, off)
    off += _PORT.size
    (
        snd_seq, rcv_seq, snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup,
        mss, snd_wscale, rcv_wscale, ts_offset, n_unacked, n_unsent, n_receive,
    ) = _TCP.unpack_from(body, off)  # fmt: skip
    off += _TCP.size
    if mss == 0:
        raise _malformed("mss", "0 (an established connection has a positive MSS)")
    for name, scale in (("snd_wscale", snd_wscale), ("rcv_wscale", rcv_wscale)):
        if scale > MAX_WSCALE:
            raise _malformed(name, f"{scale} exceeds {MAX_WSCALE}")
    data_len = len(body) - off
    if n_unacked + n_unsent + n_receive != data_len:
        raise _malformed(
            "queue lengths",
            f"{n_unacked} + {n_unsent} + {n_receive} bytes declared, {data_len} present",
        )
    unacked = bytes(body[off : off + n_unacked])
    off += n_unacked
    unsent = bytes(body[off : off + n_unsent])
    off += n_unsent
    receive = bytes(body[off:])
    state = ConnectionState(
        client_ip=client,
        client_port=client_port,
        vip_ip=vip,
        vip_port=vip_port,
        snd_seq=snd_seq,
        rcv_seq=rcv_seq,
        window=RepairWindow(
            snd_wl1=snd_wl1,
            snd_wnd=snd_wnd,
            max_window=max_window,
            rcv_wnd=rcv_wnd,
            rcv_wup=rcv_wup,
        ),
        options=TcpOptions(
            mss=mss,
            snd_wscale=snd_wscale,
            rcv_wscale=rcv_wscale,
            sack=bool(flags & _FLAG_SACK),
            timestamps=bool(flags & _FLAG_TIMESTAMPS),
            ts_offset=ts_offset,
        ),
        send_unacked=unacked,
        send_unsent=unsent,
        receive=receive,
    )
    return Handoff(flow_id=flow_id, forwarder_ip=forwarder, state=state)


def _decode_notice(body: memoryview, kind: Kind) -> Notice:
    name = kind.name.lower()
    if len(body) < _BODY_HEAD.size:
        raise _malformed(f"{name} body", f"{len(body)} bytes, shorter than its header")
    flow_id, family, reserved = _BODY_HEAD.unpack_from(body, 0)
    family = _family(family)
    if reserved:
        raise _malformed("reserved", f"0x{reserved:02x}, must be 0")
    nonce_len = 0 if kind == Kind.RELEASE else NONCE_LEN
    expected = _BODY_HEAD.size + _ADDR_LEN[family] + nonce_len
    if len(body) != expected:
        raise _malformed(f"{name} body", f"{len(body)} bytes, IPv{family} needs {expected}")
    forwarder = _read_address(body, _BODY_HEAD.size, family)
    if kind == Kind.RELEASE:
        return Release(flow_id=flow_id, forwarder_ip=forwarder)
    nonce = bytes(body[expected - NONCE_LEN : expected])
    names = Abort if kind == Kind.ABORT else Commit
    return names(flow_id=flow_id, forwarder_ip=forwarder, handoff_nonce=nonce)


def _check_prefix(data: memoryview) -> None:
    """Reject a wrong magic or version as soon as enough bytes show it."""
    n = len(data)
    if bytes(data[: min(n, len(MAGIC))]) != MAGIC[: min(n, len(MAGIC))]:
        raise BlobError(Reason.BAD_MAGIC, f"starts with {bytes(data[:4]).hex()}, not P4HO")
    if n > 4 and data[4] != VERSION:
        older = "older than" if data[4] < VERSION else "newer than"
        raise BlobError(
            Reason.BAD_VERSION,
            f"format version {data[4]} is {older} the supported version {VERSION}",
        )
    if n > 5 and data[5] not in _KINDS:
        raise BlobError(Reason.BAD_KIND, f"message kind {data[5]} is unknown")
    if n < HEADER_LEN:
        raise BlobError(Reason.TRUNCATED, f"{n} bytes, the header alone is {HEADER_LEN}")


def unseal(
    data: bytes | bytearray | memoryview, keys: Keyring, *, max_size: int = DEFAULT_MAX_SIZE
) -> Envelope:
    """Authenticate and parse one sealed message; raises BlobError and nothing else."""
    view = memoryview(data).cast("B")
    _check_prefix(view)
    _, _, kind, key_id, total, nonce, created = _HEADER.unpack_from(view, 0)
    if total > max_size:
        raise BlobError(Reason.TOO_LARGE, f"declares {total} bytes, maximum is {max_size}")
    if total < _MIN_TOTAL:
        raise _malformed("total length", f"{total}, less than header and MAC ({_MIN_TOTAL})")
    if len(view) < total:
        raise BlobError(Reason.TRUNCATED, f"{len(view)} of {total} declared bytes")
    if len(view) > total:
        raise BlobError(Reason.TRAILING_DATA, f"{len(view) - total} bytes after the message")
    key = keys.get(key_id)
    if key is None:
        raise BlobError(Reason.UNKNOWN_KEY, f"key id {key_id} is not configured here")
    signed = view[: total - MAC_LEN]
    if not hmac.compare_digest(hmac.digest(key, signed, hashlib.sha256), view[total - MAC_LEN :]):
        raise BlobError(Reason.BAD_MAC, f"HMAC-SHA256 under key id {key_id} does not match")
    body = signed[HEADER_LEN:]
    message: Message
    if kind == Kind.HANDOFF:
        message = _decode_handoff(body)
    elif kind == Kind.PING:
        if len(body):
            raise _malformed("ping body", f"{len(body)} bytes, must be empty")
        message = Ping()
    else:
        message = _decode_notice(body, Kind(kind))
    return Envelope(key_id=key_id, nonce=bytes(nonce), created_ms=created, message=message)
