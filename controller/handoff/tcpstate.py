"""The kernel TCP state of one connection, as `TCP_REPAIR` dumps and restores it.

This is the contract between the classifier side (freeze and dump), the blob
(which carries it) and the back-end side (restore). All sequence numbers and
window values are unsigned 32-bit integers, exactly as the kernel reports them.
"""

from __future__ import annotations

from dataclasses import dataclass

U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class RepairWindow:
    """The `struct tcp_repair_window` values (set after the queues are refilled)."""

    snd_wl1: int
    snd_wnd: int
    max_window: int
    rcv_wnd: int
    rcv_wup: int


@dataclass(frozen=True)
class TcpOptions:
    """What the handshake negotiated; `ts_offset` is the value to write to
    `TCP_TIMESTAMP` on the restored socket so its timestamps continue the
    client's view (without it the client drops segments by PAWS)."""

    mss: int
    snd_wscale: int
    rcv_wscale: int
    sack: bool
    timestamps: bool
    ts_offset: int


@dataclass(frozen=True)
class ConnectionState:
    """One frozen connection.

    `snd_seq` is the sequence number of the first byte of `send_unacked`
    (snd_una); `rcv_seq` is the sequence number of the first byte of
    `receive` (what the application has not consumed yet, including what the
    classifier read), which is what `TCP_QUEUE_SEQ` of the receive queue must
    be set to on restore.
    """

    client_ip: str
    client_port: int
    vip_ip: str
    vip_port: int
    snd_seq: int
    rcv_seq: int
    window: RepairWindow
    options: TcpOptions
    send_unacked: bytes
    send_unsent: bytes
    receive: bytes
