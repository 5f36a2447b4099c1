"""The classifier's leased flow ids (controller.classifier.flow_ids.FlowIds)
against a recording fake controller: blocks fetched ahead, one fetch per
back-end at a time, old leases never used, AllocateFlow when the controller
leases nothing."""

from __future__ import annotations

import asyncio
import itertools

import grpc
import pytest

from controller.classifier.controller_client import ControllerError, FlowRef
from controller.classifier.flow_ids import FlowIds

CLIENT = ("10.0.1.10", 40000)
VIP = ("10.0.0.100", 80)
B1 = "10.0.2.11"


class Leasing:
    def __init__(self, unimplemented: bool = False) -> None:
        self.unimplemented = unimplemented
        self.leases: list[tuple[str, int]] = []
        self.allocations = 0
        self._ids = itertools.count(0x00010001)

    async def lease(self, backend: str, classifier: str, count: int) -> list[FlowRef]:
        await asyncio.sleep(0.01)
        if self.unimplemented:
            raise ControllerError(grpc.StatusCode.UNIMPLEMENTED, "old controller")
        self.leases.append((backend, count))
        return [FlowRef("10.0.0.1", backend, next(self._ids)) for _ in range(count)]

    async def allocate(self, client: object, vip: object, backend: str, name: str) -> FlowRef:
        self.allocations += 1
        return FlowRef("10.0.0.1", backend, next(self._ids))


def test_ids_come_from_blocks_fetched_ahead() -> None:
    async def run() -> tuple[list[int], list[tuple[str, int]]]:
        controller = Leasing()
        ids = FlowIds(controller, "k1", block=8, low_water=4)  # type: ignore[arg-type]
        taken = await asyncio.gather(*(ids.take(CLIENT, VIP, B1) for _ in range(20)))
        assert all(leased for _, leased in taken)
        await asyncio.sleep(0.05)
        return [f.flow_id for f, _ in taken], controller.leases

    flow_ids, leases = asyncio.run(run())
    assert len(set(flow_ids)) == 20
    assert all(count == 8 for _, count in leases) and len(leases) >= 3


def test_old_leases_are_never_used() -> None:
    async def run() -> tuple[FlowRef, FlowRef]:
        ids = FlowIds(Leasing(), "k1", block=4, low_water=1, max_age_s=0.05)  # type: ignore[arg-type]
        first, _ = await ids.take(CLIENT, VIP, B1)
        await asyncio.sleep(0.1)
        later, _ = await ids.take(CLIENT, VIP, B1)
        return first, later

    first, later = asyncio.run(run())
    assert later.flow_id >= first.flow_id + 4  # the rest of the first block was dropped


def test_a_controller_without_leases_gets_allocate_per_handoff() -> None:
    async def run() -> tuple[bool, int]:
        controller = Leasing(unimplemented=True)
        ids = FlowIds(controller, "k1")  # type: ignore[arg-type]
        _, leased = await ids.take(CLIENT, VIP, B1)
        _, again = await ids.take(CLIENT, VIP, B1)
        return leased or again, controller.allocations

    leased, allocations = asyncio.run(run())
    assert not leased and allocations == 2


def test_a_failed_lease_is_the_handoffs_error() -> None:
    class Down(Leasing):
        async def lease(self, backend: str, classifier: str, count: int) -> list[FlowRef]:
            raise ControllerError(grpc.StatusCode.UNAVAILABLE, "no primary")

    async def run() -> None:
        await FlowIds(Down(), "k1").take(CLIENT, VIP, B1)  # type: ignore[arg-type]

    with pytest.raises(ControllerError) as failed:
        asyncio.run(run())
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE
