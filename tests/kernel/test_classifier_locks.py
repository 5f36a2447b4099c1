"""The classifier's flow locks with queued releases (controller.classifier.
kernel.BatchedLocks) against nftables in a namespace: a handed-over
connection's lock goes with the next lock's transaction, a lock that went
missing does not stop the others, and nothing stays locked for long."""

from __future__ import annotations

from kernel_lab import Lab

from controller.classifier.kernel import RELEASE_BATCH, BatchedLocks
from controller.handoff.nft import FlowLock, Nft

VIP = ("10.0.0.100", 80)


class CountingNft(Nft):
    """The real session, counting transactions."""

    def __init__(self) -> None:
        super().__init__("library")
        self.transactions = 0

    def run(self, script: str) -> None:
        self.transactions += 1
        super().run(script)


def client(port: int) -> tuple[str, int]:
    return ("10.0.1.10", port)


def test_a_release_rides_with_the_next_lock(lab: Lab) -> None:
    with lab.enter(lab.ns("classifier")):
        nft = CountingNft()
    flow_lock = FlowLock(nft)
    flow_lock.setup()
    locks = BatchedLocks(flow_lock, clock=lambda: 0.0)
    locks.lock(client(40000), VIP)
    locks.release(client(40000), VIP)
    assert flow_lock.locked() == {(client(40000), VIP)}, "a release waits for the next lock"
    before = nft.transactions
    locks.lock(client(40001), VIP)
    assert nft.transactions - before == 1
    assert flow_lock.locked() == {(client(40001), VIP)}
    locks.release(client(40001), VIP)
    locks.flush()
    assert flow_lock.locked() == set()
    flow_lock.teardown()


def test_a_release_that_fails_does_not_stop_the_lock_or_the_other_releases(lab: Lab) -> None:
    with lab.enter(lab.ns("classifier")):
        flow_lock = FlowLock(Nft("library"))
    flow_lock.setup()
    locks = BatchedLocks(flow_lock, clock=lambda: 0.0)
    for port in (40010, 40011, 40012):
        locks.lock(client(port), VIP)
    for port in (40010, 40011, 40012):
        locks.release(client(port), VIP)
    flow_lock.unlock(client(40011), VIP)  # gone already: its delete fails the transaction
    locks.lock(client(40013), VIP)
    assert flow_lock.locked() == {(client(40013), VIP)}
    flow_lock.teardown()


def test_releases_go_by_themselves_when_many_or_old(lab: Lab) -> None:
    with lab.enter(lab.ns("classifier")):
        flow_lock = FlowLock(Nft("library"))
    flow_lock.setup()
    now = [0.0]
    locks = BatchedLocks(flow_lock, clock=lambda: now[0])
    ports = range(41000, 41000 + RELEASE_BATCH)
    for port in ports:
        locks.lock(client(port), VIP)
    for port in ports:
        locks.release(client(port), VIP)
    assert flow_lock.locked() == set(), f"{RELEASE_BATCH} releases go in one transaction"
    locks.lock(client(42000), VIP)
    locks.lock(client(42001), VIP)
    locks.release(client(42000), VIP)
    now[0] = 1.0
    locks.release(client(42001), VIP)  # the oldest waited longer than RELEASE_DELAY_S
    assert flow_lock.locked() == set()
    flow_lock.teardown()
