"""The controller's service as the classifier uses it.

`ControllerApi` is the part of controller/proto/handoff.proto a classifier
uses (`GrpcController` speaks it over gRPC). The classifier takes it by
constructor, so tests run it against recording fakes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

import grpc

from controller.classifier.kernel import Endpoint
from controller.proto import handoff_pb2 as pb
from controller.proto import handoff_pb2_grpc as pb_grpc


class ControllerError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        self.code = code
        super().__init__(f"{code.name}: {message}")


@dataclass(frozen=True)
class FlowRef:
    forwarder: str
    backend: str
    flow_id: int


class ControllerApi(Protocol):
    """The controller's service as the classifier uses it; raises ControllerError."""

    async def allocate(
        self, client: Endpoint, vip: Endpoint, backend: str, classifier: str
    ) -> FlowRef: ...

    async def install(
        self, flow: FlowRef, latency_s: float, connection: tuple[Endpoint, Endpoint] | None = None
    ) -> None:
        """`connection` (client, VIP): binds a leased id to it."""
        ...

    async def remove(
        self, flow: FlowRef, reason: str, release_agent: bool,
        connection: tuple[Endpoint, Endpoint] | None = None,
    ) -> None:  # fmt: skip
        """`connection` (client, VIP): the one a leased id was used for."""
        ...

    async def installed_per_backend(self) -> dict[str, int]:
        """Installed flows by back-end address (for least connections)."""
        ...

    async def close(self) -> None: ...


# gRPC backs off up to 2 minutes between reconnection attempts; a controller
# that restarts or fails over to its backup is back within a second or two,
# and every second of backoff would be a second of 503s.
_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


class GrpcController:
    """ControllerApi over the gRPC service of controller/proto/handoff.proto.

    Calls wait (up to their timeout) for the channel to be connected instead
    of failing at once, so a handoff started while the controller fails over
    goes through when the new primary serves."""

    def __init__(
        self, address: str, timeout_s: float = 2.0,
        credentials: grpc.ChannelCredentials | None = None, max_installs: int = 2,
    ) -> None:
        """`credentials`: mutual TLS to a TCP `address` (a controller whose
        --listen is TCP and that has --tls-*)."""
        self.address = address
        self.timeout_s = timeout_s
        if credentials is not None and not address.startswith("unix:"):
            self._channel = grpc.aio.secure_channel(address, credentials, options=_RECONNECT)
        else:
            self._channel = grpc.aio.insecure_channel(address, options=_RECONNECT)
        self._stub = pb_grpc.ControllerStub(self._channel)  # type: ignore[no-untyped-call]
        # InstallFlow calls coalesce: while `max_installs` calls are out, the
        # next ones queue and go together in one InstallFlows when one returns.
        # Two, so that the controller binds and writes one batch while the
        # next is on its way (one out at a time left installs waiting for a
        # whole round trip: 50 clients, 2 rounds, 191-243/s and 5.9-7.0 ms of
        # CPU per connection against 237-260/s and 5.5-5.8 ms with two).
        self.max_installs = max_installs
        self._queued: list[_Queued] = []
        self._senders: set[asyncio.Future[None]] = set()
        self._out = 0
        self._batches = True  # False once the controller answers InstallFlows UNIMPLEMENTED

    async def _call(self, method: Any, request: Any) -> Any:
        """One call within `timeout_s`, tried again while the answer is
        UNAVAILABLE: a call sent on the connection of a controller that just
        died fails that way (it never reached a controller that could act)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while True:
            remaining = deadline - loop.time()
            try:
                return await method(request, timeout=max(remaining, 0.01), wait_for_ready=True)
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code != grpc.StatusCode.UNAVAILABLE or loop.time() + 0.05 >= deadline:
                    raise ControllerError(code, exc.details() or "") from None
            await asyncio.sleep(0.05)

    async def allocate(
        self, client: Endpoint, vip: Endpoint, backend: str, classifier: str
    ) -> FlowRef:
        request = pb.AllocateFlowRequest(
            connection=pb.Connection(
                client_ip=client[0], client_port=client[1], vip=vip[0], vip_port=vip[1]
            ),
            backend=backend,
            classifier=classifier,
        )
        response = await self._call(self._stub.AllocateFlow, request)
        flow = response.flow
        return FlowRef(flow.forwarder, flow.backend, flow.flow_id)

    async def lease(self, backend: str, classifier: str, count: int) -> list[FlowRef]:
        """A block of flow ids for coming handoffs to `backend` (LeaseFlowIds)."""
        response = await self._call(
            self._stub.LeaseFlowIds,
            pb.LeaseFlowIdsRequest(backend=backend, classifier=classifier, count=count),
        )
        return [FlowRef(f.forwarder, f.backend, f.flow_id) for f in response.flows]

    async def install(
        self, flow: FlowRef, latency_s: float, connection: tuple[Endpoint, Endpoint] | None = None
    ) -> None:
        request = pb.InstallFlowRequest(flow=_ref(flow), handoff_latency_s=latency_s)
        if connection is not None:
            request.connection.CopyFrom(_connection(connection))
        if not self._batches:
            await self._call(self._stub.InstallFlow, request)
            return
        if self._out < self.max_installs:  # room: this one goes at once, alone
            self._out += 1
            try:
                await self._call(self._stub.InstallFlow, request)
            finally:
                self._out -= 1
                self._send_queued()
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((request, done))
        await done

    def _send_queued(self) -> None:
        if not self._queued or self._out >= self.max_installs:
            return
        batch, self._queued = self._queued, []
        self._out += 1
        sender = asyncio.ensure_future(self._send_batch(batch))
        self._senders.add(sender)
        sender.add_done_callback(self._senders.discard)

    async def _send_batch(self, batch: list[_Queued]) -> None:
        try:
            try:
                response = await self._call(
                    self._stub.InstallFlows, pb.InstallFlowsRequest(flows=[r for r, _ in batch])
                )
            except ControllerError as exc:
                if exc.code != grpc.StatusCode.UNIMPLEMENTED:
                    for _, done in batch:
                        _settle(done, exc)
                    return
                self._batches = False  # an older controller: one call each
                outcomes = await asyncio.gather(
                    *(self._call(self._stub.InstallFlow, r) for r, _ in batch),
                    return_exceptions=True,
                )
                for (_, done), outcome in zip(batch, outcomes, strict=True):
                    _settle(done, outcome if isinstance(outcome, ControllerError) else None)
                return
            for (_, done), result in zip(batch, response.results, strict=True):
                failed = (
                    ControllerError(_STATUS.get(result.code, grpc.StatusCode.UNKNOWN),
                                    result.message)
                    if result.code else None
                )  # fmt: skip
                _settle(done, failed)
        except Exception as exc:  # never leave a caller waiting
            for _, done in batch:
                _settle(done, ControllerError(grpc.StatusCode.UNKNOWN, str(exc)))
        finally:
            self._out -= 1
            self._send_queued()

    async def remove(
        self, flow: FlowRef, reason: str, release_agent: bool,
        connection: tuple[Endpoint, Endpoint] | None = None,
    ) -> None:  # fmt: skip
        request = pb.RemoveFlowRequest(flow=_ref(flow), reason=reason, release_agent=release_agent)
        if connection is not None:
            request.connection.CopyFrom(_connection(connection))
        await self._call(self._stub.RemoveFlow, request)

    async def installed_per_backend(self) -> dict[str, int]:
        response = await self._call(self._stub.CountFlows, pb.CountFlowsRequest())
        return dict(response.installed_per_backend)

    async def close(self) -> None:
        await self._channel.close()


_STATUS = {code.value[0]: code for code in grpc.StatusCode}
_Queued = tuple[pb.InstallFlowRequest, "asyncio.Future[None]"]


def _settle(done: asyncio.Future[None], error: ControllerError | None) -> None:
    if done.done():  # its caller gave up waiting
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


def _connection(connection: tuple[Endpoint, Endpoint]) -> pb.Connection:
    (client_ip, client_port), (vip, vip_port) = connection
    return pb.Connection(client_ip=client_ip, client_port=client_port, vip=vip, vip_port=vip_port)


def _ref(flow: FlowRef) -> pb.FlowRef:
    return pb.FlowRef(forwarder=flow.forwarder, backend=flow.backend, flow_id=flow.flow_id)
