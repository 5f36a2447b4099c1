"""In-memory ports: tests inject frames and read what the switch sent."""

from __future__ import annotations

from collections import deque

from p4sim.ports.base import Deliver


class MemoryPort:
    def __init__(self, number: int, deliver: Deliver, name: str = "") -> None:
        self.number = number
        self.name = name or f"mem{number}"
        self._deliver = deliver
        self.sent: deque[bytes] = deque()
        self.closed = False

    def inject(self, frame: bytes) -> None:
        """A frame arriving on this port from the wire."""
        self._deliver(self.number, frame)

    def send(self, frame: bytes) -> None:
        self.sent.append(frame)

    def close(self) -> None:
        self.closed = True
