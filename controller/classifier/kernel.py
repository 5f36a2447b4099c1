"""The kernel steps of a handoff on the classifier host.

`Kernel` bundles them (controller.handoff.nft.FlowLock and
controller.handoff.tcprepair, `kernel_steps`); the classifier takes it by
constructor, so tests run it against recording fakes.

A handed-off connection's lock is not released at once: `release` queues
it, and the next `lock` carries the queued releases in its own nftables
transaction (or `flush` does, a moment later), so a busy classifier pays
one transaction per handoff, not two. A lock kept a little longer only
drops what still reaches this host for a connection whose socket is gone,
segments its kernel would otherwise answer with a RST.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from controller.handoff import tcprepair
from controller.handoff.nft import FlowLock, Nft, NftError
from controller.handoff.tcpstate import ConnectionState

log = logging.getLogger("p4handoff.classifier")

Endpoint = tuple[str, int]
Flow = tuple[Endpoint, Endpoint]

# Releases queued at most this long, or this many, before a transaction of their own.
RELEASE_DELAY_S = 0.1
RELEASE_BATCH = 64


@dataclass(frozen=True)
class Kernel:
    """The kernel steps of a handoff on the classifier host."""

    lock: Callable[[Endpoint, Endpoint], None]
    unlock: Callable[[Endpoint, Endpoint], None]
    release: Callable[[Endpoint, Endpoint], None]
    flush: Callable[[], None]
    freeze: Callable[[socket.socket, bytes], ConnectionState]
    thaw: Callable[[socket.socket], None]
    close_silently: Callable[[socket.socket], None]
    close: Callable[[], None]


class BatchedLocks:
    """FlowLock with releases queued and sent along with the next lock.

    `unlock` is immediate: the failure paths serve the connection here, so
    its segments must reach the socket again at once."""

    def __init__(self, flow_lock: FlowLock, clock: Callable[[], float] = time.monotonic) -> None:
        self.flow_lock = flow_lock
        self.clock = clock
        self.pending: list[Flow] = []
        self._oldest = 0.0

    def lock(self, client: Endpoint, vip: Endpoint) -> None:
        releasing, self.pending = self.pending, []
        try:
            self.flow_lock.change([(client, vip)], releasing)
        except NftError:
            if not releasing:
                raise
            # One by one, to tell which failed; the lock's error is the caller's.
            self._release_each(releasing)
            self.flow_lock.lock(client, vip)

    def unlock(self, client: Endpoint, vip: Endpoint) -> None:
        self.flow_lock.unlock(client, vip)

    def release(self, client: Endpoint, vip: Endpoint) -> None:
        if not self.pending:
            self._oldest = self.clock()
        self.pending.append((client, vip))
        if len(self.pending) >= RELEASE_BATCH or self.clock() - self._oldest >= RELEASE_DELAY_S:
            self.flush()

    def flush(self) -> None:
        releasing, self.pending = self.pending, []
        if not releasing:
            return
        try:
            self.flow_lock.change([], releasing)
        except NftError:
            self._release_each(releasing)

    def _release_each(self, flows: list[Flow]) -> None:
        for client, vip in flows:
            try:
                self.flow_lock.unlock(client, vip)
            except NftError as exc:
                log.error("unlocking %s:%d failed: %s", *client, exc)


def kernel_steps() -> Kernel:
    """FlowLock (nftables) and TCP_REPAIR in the calling thread's namespace.

    Locks left by a previous classifier are dropped: its frozen sockets died
    with it (closed silently, in repair mode), so nothing they guard remains."""
    flow_lock = FlowLock(Nft())
    flow_lock.teardown()
    flow_lock.setup()
    locks = BatchedLocks(flow_lock)
    return Kernel(
        lock=locks.lock,
        unlock=locks.unlock,
        release=locks.release,
        flush=locks.flush,
        freeze=lambda sock, already_read: tcprepair.freeze(sock, already_read),
        thaw=tcprepair.thaw,
        close_silently=tcprepair.close_silently,
        close=flow_lock.teardown,
    )
