"""Freeze, dump, close and re-create live TCP connections with Linux `TCP_REPAIR`.

The classifier freezes a connection it accepted and dumps everything the
back-end needs (`freeze`), then either gives it back to itself (`thaw`) or
drops it without telling the client (`close_silently`). The back-end builds an
identical socket from the dump (`restore`). Nothing here touches packets: the
caller keeps the 4-tuple locked (see `controller.handoff.nft.FlowLock`) from before
`freeze` until after `thaw` or `close_silently`, because a socket in repair mode
still processes incoming segments and may answer them.

Kernel orderings this module relies on (checked on Linux 6.x, see
tests/kernel/test_tcprepair.py):

* Repair mode is entered before `bind`: it forces address reuse, so the new
  socket may share VIP:port with a listener (`SO_REUSEADDR` set afterwards
  would undo that and `bind` fails with EADDRINUSE).
* Both `TCP_QUEUE_SEQ` values are set before `connect`, which in repair mode
  moves straight to ESTABLISHED without a handshake and keeps those sequences.
* `TCP_REPAIR_OPTIONS` is accepted only once the socket is ESTABLISHED
  (EPERM before `connect`).
* The receive queue's `TCP_QUEUE_SEQ` is the sequence of the first byte that is
  refilled, not rcv_nxt; refilling advances rcv_nxt.
* `TCP_REPAIR_WINDOW` goes in after the receive queue is refilled: the kernel
  rejects (EINVAL) an rcv_wup beyond rcv_nxt.
* `connect` in repair mode picks a receive window scale from this host's
  sysctls; a connection negotiated without scaling must have it reset to 0
  (TCPOPT_WINDOW 0/0), or the client reads every advertised window as
  1/2^scale of its size and the upload stalls.
* `connect` also fixes the cached MSS from the clamp it has then (536 unless
  TCP_MAXSEG was set), and the clamp set later by TCP_REPAIR_OPTIONS does not
  refresh it: setting TCP_MAXSEG before `connect` makes the restored socket
  send full-sized segments instead of 524-byte ones.
* Bytes written to the send queue in repair mode count as sent and unacknowledged;
  bytes the original never transmitted are written after repair mode is left,
  so the kernel transmits them normally.

IPv4 and IPv6 alike: `restore` opens an AF_INET or AF_INET6 socket by the
VIP's address family (the kernel's repair options are the same for both). An
IPv4 connection accepted on a dual-stack AF_INET6 listener reports its
addresses as IPv4-mapped (`::ffff:10.0.1.10`); `freeze` dumps them as plain
IPv4, since that is what the client and the switch see on the wire.

Not carried: segments in the out-of-order queue (the client retransmits them,
after its RTO if it saw them SACKed), urgent data, ECN state; only ESTABLISHED
connections are frozen (a client that already sent FIN is refused).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import socket
import struct
from collections.abc import Callable, Iterator
from typing import TypeVar

from controller.handoff.addresses import unmapped, version
from controller.handoff.tcpstate import U32, ConnectionState, RepairWindow, TcpOptions

# <linux/tcp.h> socket options (level IPPROTO_TCP).
TCP_MAXSEG = 2
TCP_INFO = 11
TCP_REPAIR = 19
TCP_REPAIR_QUEUE = 20
TCP_QUEUE_SEQ = 21
TCP_REPAIR_OPTIONS = 22
TCP_TIMESTAMP = 24
TCP_REPAIR_WINDOW = 29

# Values of TCP_REPAIR.
TCP_REPAIR_ON = 1
TCP_REPAIR_OFF = 0
TCP_REPAIR_OFF_NO_WP = -1

# Values of TCP_REPAIR_QUEUE.
TCP_NO_QUEUE = 0
TCP_RECV_QUEUE = 1
TCP_SEND_QUEUE = 2

# Option codes of `struct tcp_repair_opt` (the TCP option kinds).
TCPOPT_MAXSEG = 2
TCPOPT_WINDOW = 3
TCPOPT_SACK_PERMITTED = 4
TCPOPT_TIMESTAMP = 8

# `tcpi_options` bits of `struct tcp_info`.
TCPI_OPT_TIMESTAMPS = 1
TCPI_OPT_SACK = 2
TCPI_OPT_WSCALE = 4

TCP_ESTABLISHED = 1
TCP_MAX_WSCALE = 14

# <linux/sockios.h> queue size ioctls.
SIOCINQ = 0x541B
SIOCOUTQ = 0x5411
SIOCOUTQNSD = 0x894B

# <asm-generic/socket.h>: buffer sizes beyond the sysctl limits (CAP_NET_ADMIN).
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33

_WINDOW = struct.Struct("=5I")
_REPAIR_OPT = struct.Struct("=II")
_U32 = struct.Struct("=I")
_INT = struct.Struct("=i")

# The receive queue is refilled in slices; the kernel takes at most
# MAX_SKB_FRAGS pages per skb anyway and returns short counts.
_REFILL_CHUNK = 1 << 16

T = TypeVar("T")


class RepairError(Exception):
    """A TCP_REPAIR step failed; the message names the step and the connection."""

    def __init__(self, step: str, where: str, cause: OSError | str) -> None:
        self.step = step
        self.where = where
        self.errno = cause.errno if isinstance(cause, OSError) else None
        if isinstance(cause, OSError) and cause.errno is not None:
            detail = f"{errno.errorcode.get(cause.errno, cause.errno)}: {cause.strerror}"
        else:
            detail = str(cause) or type(cause).__name__
        super().__init__(f"tcp repair {step} failed for {where}: {detail}")


def family_of(address: str) -> socket.AddressFamily:
    """AF_INET or AF_INET6, by the version of `address`."""
    return socket.AF_INET6 if version(address) == 6 else socket.AF_INET


def endpoint_text(address: str, port: int) -> str:
    """`10.0.0.100:80`, `[2001:db8::100]:80`."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _describe(sock: socket.socket) -> str:
    try:
        local = sock.getsockname()
        peer = sock.getpeername()
    except OSError:
        return f"fd {sock.fileno()}"
    return f"{endpoint_text(local[0], local[1])} <-> {endpoint_text(peer[0], peer[1])}"


def _step(step: str, where: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except OSError as exc:
        raise RepairError(step, where, exc) from exc


def _set_int(sock: socket.socket, option: int, value: int) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, option, _INT.pack(value))


def _get_u32(sock: socket.socket, option: int) -> int:
    value: int = _U32.unpack(sock.getsockopt(socket.IPPROTO_TCP, option, _U32.size))[0]
    return value


def _ioctl_int(sock: socket.socket, request: int) -> int:
    raw = fcntl.ioctl(sock.fileno(), request, _INT.pack(0))
    value: int = _INT.unpack(raw)[0]
    return value


def _tcp_info_head(sock: socket.socket) -> tuple[int, int, int, int]:
    """(state, options bits, snd_wscale, rcv_wscale) from the first bytes of
    `struct tcp_info`; the wscales share one byte, snd in the low nibble."""
    info = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 8)
    return info[0], info[5], info[6] & 0x0F, info[6] >> 4


def _peek_queue(sock: socket.socket, queue: int, length: int, where: str) -> tuple[int, bytes]:
    """Select `queue` and return (its TCP_QUEUE_SEQ, its first `length` bytes).

    In repair mode a MSG_PEEK read of the send queue returns the retransmit
    queue followed by the write queue, and of the receive queue the bytes not
    yet consumed; both need a buffer large enough for the whole queue.
    """
    name = "send" if queue == TCP_SEND_QUEUE else "receive"
    _step(f"select {name} queue", where, lambda: _set_int(sock, TCP_REPAIR_QUEUE, queue))
    seq = _step(f"read {name} queue sequence", where, lambda: _get_u32(sock, TCP_QUEUE_SEQ))
    if length == 0:
        return seq, b""
    data = _step(
        f"read {name} queue",
        where,
        lambda: sock.recv(length + 1, socket.MSG_PEEK | socket.MSG_DONTWAIT),
    )
    if len(data) != length:
        raise RepairError(
            f"read {name} queue", where, f"expected {length} bytes, the kernel gave {len(data)}"
        )
    return seq, data


def freeze(sock: socket.socket, already_read: bytes = b"") -> ConnectionState:
    """Put an established connection into repair mode and dump its whole state.

    `already_read` is what the application consumed from the socket and wants
    replayed on the other side (a classifier's peeked request): it goes in
    front of the unread receive queue and `rcv_seq` moves back by its length.
    The socket stays frozen (repair mode) on success; on failure it is thawed
    again before the error is raised, so the caller can keep serving it.
    """
    where = _describe(sock)
    _step("enter repair mode", where, lambda: _set_int(sock, TCP_REPAIR, TCP_REPAIR_ON))
    try:
        with _nonblocking(sock):
            return _dump(sock, already_read, where)
    except BaseException:
        with contextlib.suppress(OSError):
            thaw(sock)
        raise


@contextlib.contextmanager
def _nonblocking(sock: socket.socket) -> Iterator[None]:
    """Python waits for readability before a recv on a socket with a timeout,
    which never comes for a peek of the send queue; repair I/O must not block."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        yield
    finally:
        sock.settimeout(timeout)


def _dump(sock: socket.socket, already_read: bytes, where: str) -> ConnectionState:
    state, opt_bits, snd_wscale, rcv_wscale = _step(
        "read tcp_info", where, lambda: _tcp_info_head(sock)
    )
    if state != TCP_ESTABLISHED:
        raise RepairError("check state", where, f"TCP state {state} is not ESTABLISHED (1)")
    vip_ip, vip_port = sock.getsockname()[:2]
    client_ip, client_port = sock.getpeername()[:2]
    vip_ip, client_ip = unmapped(vip_ip), unmapped(client_ip)
    timestamps = bool(opt_bits & TCPI_OPT_TIMESTAMPS)
    wscale_ok = bool(opt_bits & TCPI_OPT_WSCALE)
    options = TcpOptions(
        # In repair mode TCP_MAXSEG reports mss_clamp: the peer's MSS option.
        mss=_step("read mss", where, lambda: _get_u32(sock, TCP_MAXSEG)),
        snd_wscale=snd_wscale if wscale_ok else 0,
        rcv_wscale=rcv_wscale if wscale_ok else 0,
        sack=bool(opt_bits & TCPI_OPT_SACK),
        timestamps=timestamps,
        ts_offset=_step("read timestamp", where, lambda: _get_u32(sock, TCP_TIMESTAMP))
        if timestamps
        else 0,
    )
    raw_window = _step(
        "read window",
        where,
        lambda: sock.getsockopt(socket.IPPROTO_TCP, TCP_REPAIR_WINDOW, _WINDOW.size),
    )
    window = RepairWindow(*_WINDOW.unpack(raw_window))
    out_len = _step("read send queue size", where, lambda: _ioctl_int(sock, SIOCOUTQ))
    unsent_len = _step("read unsent size", where, lambda: _ioctl_int(sock, SIOCOUTQNSD))
    in_len = _step("read receive queue size", where, lambda: _ioctl_int(sock, SIOCINQ))
    write_seq, send_queue = _peek_queue(sock, TCP_SEND_QUEUE, out_len, where)
    rcv_nxt, receive_queue = _peek_queue(sock, TCP_RECV_QUEUE, in_len, where)
    _step("deselect queue", where, lambda: _set_int(sock, TCP_REPAIR_QUEUE, TCP_NO_QUEUE))
    unacked_len = out_len - unsent_len
    return ConnectionState(
        client_ip=client_ip,
        client_port=client_port,
        vip_ip=vip_ip,
        vip_port=vip_port,
        snd_seq=(write_seq - out_len) & U32,
        rcv_seq=(rcv_nxt - in_len - len(already_read)) & U32,
        window=window,
        options=options,
        send_unacked=send_queue[:unacked_len],
        send_unsent=send_queue[unacked_len:],
        receive=already_read + receive_queue,
    )


def thaw(sock: socket.socket) -> None:
    """Leave repair mode and keep serving the connection where it stopped.

    Uses plain TCP_REPAIR_OFF, whose window probe makes the client answer at
    once, so whatever it sent while the flow was locked is retransmitted
    without waiting for its RTO. Release the lock first or the probe and its
    answer are dropped.

    Leaving repair mode also clears the socket's address reuse (the kernel
    sets it to "no reuse"); it is set again, or what remains of the
    connection after its close (FIN_WAIT, TIME_WAIT) would keep a restarted
    classifier from binding the VIP for a minute (EADDRINUSE).
    """
    where = _describe(sock)
    _step("select no queue", where, lambda: _set_int(sock, TCP_REPAIR_QUEUE, TCP_NO_QUEUE))
    _step("leave repair mode", where, lambda: _set_int(sock, TCP_REPAIR, TCP_REPAIR_OFF))
    _step(
        "allow address reuse",
        where,
        lambda: sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1),
    )


def close_silently(sock: socket.socket) -> None:
    """Close a frozen socket without FIN or RST: the connection lives elsewhere.

    In repair mode `close` disconnects without telling the peer even when
    unread data is queued (which would otherwise send a RST).
    """
    where = _describe(sock)
    _step("ensure repair mode", where, lambda: _set_int(sock, TCP_REPAIR, TCP_REPAIR_ON))
    sock.close()


def _build_options(options: TcpOptions, where: str) -> bytes:
    if not (0 < options.mss <= 0xFFFF):
        raise RepairError("set options", where, f"MSS {options.mss} is out of range")
    if options.snd_wscale > TCP_MAX_WSCALE or options.rcv_wscale > TCP_MAX_WSCALE:
        raise RepairError(
            "set options",
            where,
            f"window scales {options.snd_wscale}/{options.rcv_wscale} exceed {TCP_MAX_WSCALE}",
        )
    # The window option goes in even without scaling: connect() already chose
    # an rcv_wscale from this host's sysctls, and left there the kernel would
    # advertise windows shifted by a scale the client never agreed to.
    opts = [
        _REPAIR_OPT.pack(TCPOPT_MAXSEG, options.mss),
        _REPAIR_OPT.pack(TCPOPT_WINDOW, options.snd_wscale | (options.rcv_wscale << 16)),
    ]
    if options.sack:
        opts.append(_REPAIR_OPT.pack(TCPOPT_SACK_PERMITTED, 0))
    if options.timestamps:
        opts.append(_REPAIR_OPT.pack(TCPOPT_TIMESTAMP, 0))
    return b"".join(opts)


def _ensure_buffer(sock: socket.socket, option: int, force: int, needed: int) -> None:
    """Grow a socket buffer so `needed` payload bytes fit (the kernel doubles
    the value for bookkeeping); never shrink it, so autotuning stays on
    whenever the defaults are big enough."""
    if sock.getsockopt(socket.SOL_SOCKET, option) < 2 * needed:
        sock.setsockopt(socket.SOL_SOCKET, force, needed)


def _write_queue(sock: socket.socket, data: bytes, step: str, where: str) -> None:
    """Write `data` into the selected repair queue; the kernel may take less
    than offered per call (one skb at most for the receive queue)."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view[:_REFILL_CHUNK])
        except OSError as exc:
            raise RepairError(step, where, exc) from exc
        view = view[sent:]


def _send_unsent(sock: socket.socket, data: bytes, where: str) -> None:
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view, socket.MSG_DONTWAIT)
        except BlockingIOError as exc:
            raise RepairError(
                "queue unsent data", where, f"send buffer full with {len(view)} bytes left"
            ) from exc
        except OSError as exc:
            raise RepairError("queue unsent data", where, exc) from exc
        view = view[sent:]


def restore(state: ConnectionState) -> socket.socket:
    """Re-create the connection in this host's kernel and return it live.

    The socket is IPv4 or IPv6 like the VIP (the client's address must be of
    the same family) and bound to VIP:port (the VIP must be a local address here;
    a listener on the same port does not conflict) and connected to the
    client without any packet being sent; it leaves repair mode without a
    window probe, so the client sees nothing until the next real segment.
    The returned socket is blocking, like one from `accept()`.
    """
    where = (
        f"{endpoint_text(state.vip_ip, state.vip_port)} <-> "
        f"{endpoint_text(state.client_ip, state.client_port)}"
    )
    try:
        family = family_of(state.vip_ip)
        if family_of(state.client_ip) != family:
            raise ValueError("the client and the VIP are of different address families")
    except ValueError as exc:
        raise RepairError("check addresses", where, str(exc)) from exc
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        _restore_into(sock, state, where)
    except BaseException:
        # Back into repair mode (a failure queueing unsent data comes after
        # leaving it), so closing sends neither FIN nor RST.
        with contextlib.suppress(OSError):
            _set_int(sock, TCP_REPAIR, TCP_REPAIR_ON)
        sock.close()
        raise
    return sock


def _restore_into(sock: socket.socket, state: ConnectionState, where: str) -> None:
    _step("enter repair mode", where, lambda: _set_int(sock, TCP_REPAIR, TCP_REPAIR_ON))
    _step("bind", where, lambda: sock.bind((state.vip_ip, state.vip_port)))
    _step("select send queue", where, lambda: _set_int(sock, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE))
    _step("set send sequence", where, lambda: _set_u32_seq(sock, state.snd_seq))
    _step("select receive queue", where, lambda: _set_int(sock, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE))
    _step("set receive sequence", where, lambda: _set_u32_seq(sock, state.rcv_seq))
    # connect computes the cached MSS from the user MSS; without it the socket
    # keeps the 536-byte default even after TCP_REPAIR_OPTIONS sets the clamp.
    _step("set mss", where, lambda: _set_int(sock, TCP_MAXSEG, state.options.mss))
    _step("connect", where, lambda: sock.connect((state.client_ip, state.client_port)))
    options = _build_options(state.options, where)
    _step(
        "set options",
        where,
        lambda: sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_OPTIONS, options),
    )
    if state.options.timestamps:
        _step(
            "set timestamp",
            where,
            lambda: sock.setsockopt(
                socket.IPPROTO_TCP, TCP_TIMESTAMP, _U32.pack(state.options.ts_offset & U32)
            ),
        )
    sent_total = len(state.send_unacked) + len(state.send_unsent)
    _step(
        "size receive buffer",
        where,
        lambda: _ensure_buffer(sock, socket.SO_RCVBUF, SO_RCVBUFFORCE, len(state.receive)),
    )
    _step(
        "size send buffer",
        where,
        lambda: _ensure_buffer(sock, socket.SO_SNDBUF, SO_SNDBUFFORCE, sent_total),
    )
    sock.setblocking(False)
    _step("select receive queue", where, lambda: _set_int(sock, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE))
    _write_queue(sock, state.receive, "refill receive queue", where)
    _step("select send queue", where, lambda: _set_int(sock, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE))
    _write_queue(sock, state.send_unacked, "refill send queue", where)
    w = state.window
    _step(
        "set window",
        where,
        lambda: sock.setsockopt(
            socket.IPPROTO_TCP,
            TCP_REPAIR_WINDOW,
            _WINDOW.pack(w.snd_wl1, w.snd_wnd, w.max_window, w.rcv_wnd, w.rcv_wup),
        ),
    )
    _step("select no queue", where, lambda: _set_int(sock, TCP_REPAIR_QUEUE, TCP_NO_QUEUE))
    _step("leave repair mode", where, lambda: _set_int(sock, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP))
    _send_unsent(sock, state.send_unsent, where)
    sock.setblocking(True)


def _set_u32_seq(sock: socket.socket, seq: int) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, _U32.pack(seq & U32))
