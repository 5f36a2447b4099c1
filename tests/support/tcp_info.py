"""What the kernel counted for a TCP socket (its `struct tcp_info`,
TCP_INFO): what the wire saw, however the reads were split."""

from __future__ import annotations

import socket
import struct
import time

_TOTAL_RETRANS = 100  # offsets in struct tcp_info
_DATA_SEGS_IN = 152  # Linux 4.6+


def _info(sock: socket.socket, needs: int) -> bytes:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < needs:
        raise RuntimeError(f"TCP_INFO is {len(info)} bytes, {needs} needed: this kernel is too old")
    return info


def data_segments_in(sock: socket.socket) -> int:
    """Segments carrying data received (tcpi_data_segs_in)."""
    count: int = struct.unpack_from("I", _info(sock, _DATA_SEGS_IN + 4), _DATA_SEGS_IN)[0]
    return count


def total_retransmissions(sock: socket.socket) -> int:
    """Segments this socket retransmitted over its life (tcpi_total_retrans)."""
    count: int = struct.unpack_from("I", _info(sock, _TOTAL_RETRANS + 4), _TOTAL_RETRANS)[0]
    return count


def close_and_count(sock: socket.socket) -> tuple[float, int]:
    """Half-close, wait for the server's FIN and close: (seconds the FIN
    took, the connection's total retransmissions, read before the close)."""
    started = time.perf_counter()
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(1 << 16):
        pass
    took = time.perf_counter() - started
    retransmissions = total_retransmissions(sock)
    sock.close()
    return took, retransmissions
