"""The one interface every port kind offers the data plane."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

# Called with (port number, frame) for every frame a port receives.
Deliver = Callable[[int, bytes], None]


class Port(Protocol):
    number: int
    name: str

    def send(self, frame: bytes) -> None:
        """Transmit one frame; a frame the interface refuses is dropped and
        counted, never raised, so one bad port cannot stop the switch."""

    def close(self) -> None:
        """Stop receiving and release the interface."""
