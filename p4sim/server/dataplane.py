"""Frames in, pipeline, frames out: the glue between ports and the switch.

Every port delivers to `receive` on the event loop, which runs the switch
synchronously and sends what it emits before the next frame, so frames are
never reordered within a port. Frames for the CPU port become PacketIns;
digests drained after each packet go to the digest engine. A frame that
makes the pipeline raise is dropped and logged: a packet cannot stop the
switch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from p4sim.ports.base import Port
from p4sim.ports.pcap import PcapSet
from p4sim.runtime.switch import Switch

log = logging.getLogger(__name__)

Digests = list[tuple[str, tuple[int | tuple[int, int], ...]]]  # a varbit: (length, value)


class Dataplane:
    def __init__(
        self,
        cpu_port: int | None,
        to_cpu: Callable[[bytes], None],
        on_digests: Callable[[Digests], None],
        pcap: PcapSet | None = None,
    ) -> None:
        self.cpu_port = cpu_port
        self.switch: Switch | None = None
        self.ports: dict[int, Port] = {}
        self._to_cpu = to_cpu
        self._on_digests = on_digests
        self._pcap = pcap
        self.received = 0
        self.sent = 0
        self.dropped = 0
        self.errors = 0

    def add_port(self, port: Port) -> None:
        if port.number in self.ports:
            raise ValueError(
                f"port {port.number} is already attached ({self.ports[port.number].name})"
            )
        if port.number == self.cpu_port:
            raise ValueError(f"port {port.number} is the CPU port")
        self.ports[port.number] = port

    def close(self) -> None:
        for port in self.ports.values():
            port.close()
        self.ports.clear()
        if self._pcap is not None:
            self._pcap.close()

    def receive(self, port_number: int, frame: bytes) -> None:
        self.received += 1
        switch = self.switch
        if self._pcap is not None and port_number in self.ports:
            self._pcap.received(self.ports[port_number].name, frame)
        if switch is None:
            self.dropped += 1
            return
        try:
            outputs = switch.process(port_number, frame)
            digests = switch.drain_digests()
        except Exception:
            self.errors += 1
            log.exception(
                "pipeline failed on a %d-byte frame from port %d", len(frame), port_number
            )
            return
        for egress, data in outputs:
            self._emit(egress, data)
        if digests:
            self._on_digests(digests)

    def _emit(self, egress: int, data: bytes) -> None:
        if egress == self.cpu_port:
            self._to_cpu(data)
            return
        port = self.ports.get(egress)
        if port is None:
            self.dropped += 1
            return
        if self._pcap is not None:
            self._pcap.sent(port.name, data)
        port.send(data)
        self.sent += 1
