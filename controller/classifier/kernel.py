"""The kernel steps of a handoff on the classifier host.

`Kernel` bundles them (controller.handoff.nft.FlowLock and
controller.handoff.tcprepair, `kernel_steps`); the classifier takes it by
constructor, so tests run it against recording fakes.

A handed-off connection's lock is not released at once: `release` queues
it for RELEASE_HOLD_S, and the first `lock` after that carries it in its own
nftables transaction (or `flush` does), so a busy classifier pays one
transaction per handoff, not two. The hold is for the client's segments the
switch sent here before it had the connection's entry and that arrive after
the socket is gone (a switch's queues, a link that delays and reorders):
this host's kernel would answer each with a RST and kill the connection
(seen on bmv2 with c1's link reordering); held, they are dropped and
retransmitted to the back-end.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from controller.handoff import tcprepair
from controller.handoff.nft import FlowLock, Nft, NftError
from controller.handoff.tcpstate import ConnectionState

log = logging.getLogger("p4handoff.classifier")

Endpoint = tuple[str, int]
Flow = tuple[Endpoint, Endpoint]

# How long a handed-off connection's lock is kept at least.
RELEASE_HOLD_S = 1.0


@dataclass(frozen=True)
class Kernel:
    """The kernel steps of a handoff on the classifier host."""

    lock: Callable[[Endpoint, Endpoint], None]
    unlock: Callable[[Endpoint, Endpoint], None]
    release: Callable[[Endpoint, Endpoint], None]
    flush: Callable[[], float | None]
    freeze: Callable[[socket.socket, bytes], ConnectionState]
    thaw: Callable[[socket.socket], None]
    close_silently: Callable[[socket.socket], None]
    close: Callable[[], None]


class BatchedLocks:
    """FlowLock whose releases wait RELEASE_HOLD_S and then go with the next lock.

    `unlock` is immediate: the failure paths serve the connection here, so
    its segments must reach the socket again at once."""

    def __init__(self, flow_lock: FlowLock, clock: Callable[[], float] = time.monotonic) -> None:
        self.flow_lock = flow_lock
        self.clock = clock
        self.pending: deque[tuple[float, Flow]] = deque()  # (queued at, flow), oldest first

    def lock(self, client: Endpoint, vip: Endpoint) -> None:
        releasing = self._due()
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
        self.pending.append((self.clock(), (client, vip)))

    def flush(self) -> float | None:
        """Release the locks held long enough; returns the seconds until the
        next one is due, None when none is queued."""
        releasing = self._due()
        if releasing:
            try:
                self.flow_lock.change([], releasing)
            except NftError:
                self._release_each(releasing)
        if not self.pending:
            return None
        return max(0.0, self.pending[0][0] + RELEASE_HOLD_S - self.clock())

    def _due(self) -> list[Flow]:
        now, due = self.clock(), []
        while self.pending and now - self.pending[0][0] >= RELEASE_HOLD_S:
            due.append(self.pending.popleft()[1])
        return due

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
