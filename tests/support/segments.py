"""How many segments carrying data a TCP socket has received, from the
kernel's own count (`tcpi_data_segs_in` of TCP_INFO, Linux 4.6+): what the
wire saw, however the reads were split."""

from __future__ import annotations

import socket
import struct

_DATA_SEGS_IN = 152  # offset of tcpi_data_segs_in in struct tcp_info


def data_segments_in(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < _DATA_SEGS_IN + 4:
        raise RuntimeError(f"TCP_INFO is {len(info)} bytes: this kernel has no tcpi_data_segs_in")
    count: int = struct.unpack_from("I", info, _DATA_SEGS_IN)[0]
    return count
