"""Linux interfaces as switch ports, through AF_PACKET raw sockets.

One non-blocking socket per interface, watched by the asyncio event loop.
On each readiness callback the port drains up to `batch` frames with
`recvfrom_into` into one preallocated buffer before returning to the loop:
the same amortisation recvmmsg gives C code (Python has no recvmmsg, and
with the pipeline itself costing tens of microseconds per packet a
PACKET_MMAP ring would not pay). Frames go to the data plane in arrival
order and are sent in order: when the kernel's queue is full, later frames
wait in a per-port backlog flushed by a writer callback.

The port changes nothing on the interface. It joins promiscuous mode through
a socket membership (PACKET_MR_PROMISC), which ends with the socket. Offloads
are the lab's business: on veths, rx/tx checksum offload, TSO, GSO and GRO
must be off (`ethtool -K IFACE rx off tx off tso off gso off gro off`), or the
switch sees unfinished checksums and 64 KiB super-frames. VLAN tags that the
kernel strips into packet auxdata are not restored.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections import deque

from p4sim.ports.base import Deliver

log = logging.getLogger(__name__)

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
_MAX_FRAME = 65536


class AfPacketPort:
    def __init__(
        self,
        number: int,
        ifname: str,
        deliver: Deliver,
        loop: asyncio.AbstractEventLoop,
        batch: int = 64,
        rcvbuf: int = 4 << 20,
    ) -> None:
        self.number = number
        self.name = ifname
        self._deliver = deliver
        self._loop = loop
        self._batch = batch
        self._buffer = bytearray(_MAX_FRAME)
        self._view = memoryview(self._buffer)
        self._backlog: deque[bytes] = deque()
        self.rx_frames = 0
        self.tx_frames = 0
        self.tx_dropped = 0
        self._sock = self._open(ifname, rcvbuf)
        self._filter_outgoing = not self._ignore_outgoing()
        self._loop.add_reader(self._sock.fileno(), self._readable)

    @staticmethod
    def _open(ifname: str, rcvbuf: int) -> socket.socket:
        # Protocol 0 until bound, so no frame from another interface sneaks in.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.bind((ifname, ETH_P_ALL))
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            ifindex = socket.if_nametoindex(ifname)
            mreq = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        except OSError:
            sock.close()
            raise
        return sock

    def _ignore_outgoing(self) -> bool:
        """Ask the kernel not to loop our own transmissions back (Linux 4.20+)."""
        try:
            self._sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError:
            return False
        return True

    def _readable(self) -> None:
        sock = self._sock
        view = self._view
        for _ in range(self._batch):
            try:
                size, address = sock.recvfrom_into(self._buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                log.warning("port %d (%s): receive failed: %s", self.number, self.name, error)
                return
            if self._filter_outgoing and address[2] == PACKET_OUTGOING:
                continue
            self.rx_frames += 1
            self._deliver(self.number, bytes(view[:size]))

    def send(self, frame: bytes) -> None:
        if self._backlog:
            self._backlog.append(frame)
            return
        self._transmit(frame)

    def _transmit(self, frame: bytes) -> bool:
        """False when the kernel queue is full (the frame is then backlogged)."""
        try:
            self._sock.send(frame)
        except (BlockingIOError, InterruptedError):
            self._backlog.appendleft(frame)
            self._loop.add_writer(self._sock.fileno(), self._writable)
            return False
        except OSError as error:
            self.tx_dropped += 1
            log.debug(
                "port %d (%s): dropped a %d-byte frame: %s",
                self.number,
                self.name,
                len(frame),
                error,
            )
            return True
        self.tx_frames += 1
        return True

    def _writable(self) -> None:
        self._loop.remove_writer(self._sock.fileno())
        backlog = self._backlog
        while backlog:
            frame = backlog.popleft()
            if not self._transmit(frame):
                return

    def close(self) -> None:
        if self._sock.fileno() < 0:
            return
        self._loop.remove_reader(self._sock.fileno())
        self._loop.remove_writer(self._sock.fileno())
        self._sock.close()
