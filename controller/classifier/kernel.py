"""The kernel steps of a handoff on the classifier host.

`Kernel` bundles them (controller.handoff.nft.FlowLock and
controller.handoff.tcprepair, `kernel_steps`); the classifier takes it by
constructor, so tests run it against recording fakes.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from controller.handoff import tcprepair
from controller.handoff.nft import FlowLock, Nft
from controller.handoff.tcpstate import ConnectionState

Endpoint = tuple[str, int]


@dataclass(frozen=True)
class Kernel:
    """The kernel steps of a handoff on the classifier host."""

    lock: Callable[[Endpoint, Endpoint], None]
    unlock: Callable[[Endpoint, Endpoint], None]
    freeze: Callable[[socket.socket, bytes], ConnectionState]
    thaw: Callable[[socket.socket], None]
    close_silently: Callable[[socket.socket], None]
    close: Callable[[], None]


def kernel_steps() -> Kernel:
    """FlowLock (nftables) and TCP_REPAIR in the calling thread's namespace.

    Locks left by a previous classifier are dropped: its frozen sockets died
    with it (closed silently, in repair mode), so nothing they guard remains."""
    flow_lock = FlowLock(Nft())
    flow_lock.teardown()
    flow_lock.setup()
    return Kernel(
        lock=flow_lock.lock,
        unlock=flow_lock.unlock,
        freeze=lambda sock, already_read: tcprepair.freeze(sock, already_read),
        thaw=tcprepair.thaw,
        close_silently=tcprepair.close_silently,
        close=flow_lock.teardown,
    )
