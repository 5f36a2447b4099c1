"""The classifier's flow locks with held releases (controller.classifier.
kernel.BatchedLocks) against nftables in a namespace: a handed-over
connection's lock stays RELEASE_HOLD_S (segments the switch sent before it
had the entry must not meet a closed socket), then goes with the next lock's
transaction; a lock that went missing does not stop the others."""

from __future__ import annotations

from collections.abc import Sequence

from kernel_lab import Lab

from controller.classifier.kernel import RELEASE_HOLD_S, BatchedLocks
from controller.handoff.nft import FlowLock, Nft
from controller.handoff.nft_netlink import ElementChange

VIP = ("10.0.0.100", 80)


class CountingNft(Nft):
    """The real session, counting transactions."""

    def __init__(self) -> None:
        super().__init__("library")
        self.transactions = 0

    def run(self, script: str) -> None:
        self.transactions += 1
        super().run(script)

    def change_elements(self, changes: Sequence[ElementChange]) -> None:
        self.transactions += 1
        super().change_elements(changes)


def client(port: int) -> tuple[str, int]:
    return ("10.0.1.10", port)


def test_a_release_waits_its_hold_then_rides_with_the_next_lock(lab: Lab) -> None:
    with lab.enter(lab.ns("classifier")):
        nft = CountingNft()
    flow_lock = FlowLock(nft)
    flow_lock.setup()
    now = [0.0]
    locks = BatchedLocks(flow_lock, clock=lambda: now[0])
    locks.lock(client(40000), VIP)
    locks.release(client(40000), VIP)
    locks.lock(client(40001), VIP)
    assert flow_lock.locked() == {(client(40000), VIP), (client(40001), VIP)}, "held"
    assert locks.flush() == RELEASE_HOLD_S
    now[0] = RELEASE_HOLD_S
    before = nft.transactions
    locks.lock(client(40002), VIP)
    assert nft.transactions - before == 1
    assert flow_lock.locked() == {(client(40001), VIP), (client(40002), VIP)}
    locks.release(client(40001), VIP)
    now[0] = 2 * RELEASE_HOLD_S
    assert locks.flush() is None
    assert flow_lock.locked() == {(client(40002), VIP)}
    flow_lock.teardown()


def test_a_release_that_fails_does_not_stop_the_lock_or_the_other_releases(lab: Lab) -> None:
    with lab.enter(lab.ns("classifier")):
        flow_lock = FlowLock(Nft("library"))
    flow_lock.setup()
    now = [0.0]
    locks = BatchedLocks(flow_lock, clock=lambda: now[0])
    for port in (40010, 40011, 40012):
        locks.lock(client(port), VIP)
    for port in (40010, 40011, 40012):
        locks.release(client(port), VIP)
    flow_lock.unlock(client(40011), VIP)  # gone already: its delete fails the transaction
    now[0] = RELEASE_HOLD_S
    locks.lock(client(40013), VIP)
    assert flow_lock.locked() == {(client(40013), VIP)}
    flow_lock.teardown()
