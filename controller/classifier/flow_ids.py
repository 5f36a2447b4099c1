"""Flow ids leased from the controller in blocks, so a handoff needs no
AllocateFlow round trip.

The controller reserves a block of ids per back-end for this classifier
(LeaseFlowIds); a handoff takes one, and the InstallFlow that writes its
switch entry names the connection, which binds the id to it. The
controller gives back ids left unbound after its pending timeout (30 s by
default), so an id older than `max_age_s` (a third of that) is never used:
it is dropped here and left to expire there. A block is fetched again in
the background when fewer than `low_water` ids are left, one fetch per
back-end at a time; a handoff finding none waits for that fetch.

A controller without LeaseFlowIds (UNIMPLEMENTED), or a ControllerApi
without `lease` (the tests' fakes), gets AllocateFlow per handoff as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

import grpc

from controller.classifier.controller_client import ControllerApi, ControllerError, FlowRef
from controller.classifier.kernel import Endpoint

log = logging.getLogger("p4handoff.classifier")


class FlowIds:
    def __init__(
        self,
        controller: ControllerApi,
        classifier: str,
        *,
        block: int = 64,
        low_water: int = 16,
        max_age_s: float = 10.0,
    ) -> None:
        self.controller = controller
        self.classifier = classifier
        self.block = block
        self.low_water = low_water
        self.max_age_s = max_age_s
        self.leasing = hasattr(controller, "lease")
        self._pools: dict[str, deque[tuple[FlowRef, float]]] = {}
        self._fetching: dict[str, asyncio.Task[None]] = {}
        self._errors: dict[str, ControllerError] = {}  # the last failed fetch's, by back-end

    async def take(self, client: Endpoint, vip: Endpoint, backend: str) -> tuple[FlowRef, bool]:
        """A flow id for this connection to `backend` (an address) and
        whether it is leased (then InstallFlow must name the connection);
        raises ControllerError."""
        if not self.leasing:
            return await self.controller.allocate(client, vip, backend, self.classifier), False
        pool = self._pools.setdefault(backend, deque())
        while True:
            oldest = time.monotonic() - self.max_age_s
            while pool and pool[0][1] < oldest:
                pool.popleft()
            if len(pool) < self.low_water:
                self._refill(backend)
            if pool:
                return pool.popleft()[0], True
            fetch = self._fetching.get(backend)
            if fetch is not None:
                await asyncio.shield(fetch)
            if not self.leasing:
                return await self.controller.allocate(client, vip, backend, self.classifier), False
            error = self._errors.pop(backend, None)
            if error is not None and not pool:
                raise error
            # Others may have taken the whole block meanwhile: round again.

    def _refill(self, backend: str) -> None:
        if backend in self._fetching:
            return
        task = asyncio.ensure_future(self._fetch(backend))
        self._fetching[backend] = task
        task.add_done_callback(lambda _: self._fetching.pop(backend, None))

    async def _fetch(self, backend: str) -> None:
        try:
            flows = await self.controller.lease(  # type: ignore[attr-defined]
                backend, self.classifier, self.block
            )
        except ControllerError as exc:
            if exc.code == grpc.StatusCode.UNIMPLEMENTED:
                log.info("the controller leases no flow ids: AllocateFlow per handoff")
                self.leasing = False
            else:
                log.warning("leasing flow ids for %s failed: %s", backend, exc)
            self._errors[backend] = exc
            return
        now = time.monotonic()
        self._pools.setdefault(backend, deque()).extend((flow, now) for flow in flows)
