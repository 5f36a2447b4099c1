"""The P4Runtime gRPC service (grpc.aio), a thin shell around `Device`.

Each handler turns `ControlPlaneError` into its gRPC status; any other
exception is a p4sim bug, logged with its traceback and answered INTERNAL,
so no request can take the server down. Read answers stream in chunks of at
most `READ_CHUNK` entities.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc
from finsy.proto import p4r, p4r_grpc

from p4sim.errors import ControlPlaneError
from p4sim.server.arbitration import Controller
from p4sim.server.device import Device
from p4sim.server.status import DETAILS_KEY, code_number, grpc_code, write_status

log = logging.getLogger(__name__)

API_VERSION = "1.4.0"
READ_CHUNK = 1000
# Stream messages queued for one slow client before PacketIns are dropped.
OUTBOX_LIMIT = 10_000

T = TypeVar("T")


async def _abort(context: grpc.aio.ServicerContext, error: ControlPlaneError) -> None:
    await context.abort(grpc_code(error.code), error.message)


async def _guard(
    context: grpc.aio.ServicerContext, what: str, call: Callable[[], Awaitable[T]]
) -> T:
    try:
        return await call()
    except ControlPlaneError as error:
        await _abort(context, error)
    except Exception:
        log.exception("%s failed", what)
        await context.abort(grpc.StatusCode.INTERNAL, f"p4sim internal error in {what}")
    raise AssertionError("unreachable: abort raises")


class _End:
    """Closes a stream, with the error that ends it (None: client finished)."""

    def __init__(self, error: ControlPlaneError | None) -> None:
        self.error = error


class P4RuntimeService(p4r_grpc.P4RuntimeServicer):
    def __init__(self, device: Device) -> None:
        self.device = device

    async def Capabilities(
        self, request: p4r.CapabilitiesRequest, context: grpc.aio.ServicerContext
    ) -> p4r.CapabilitiesResponse:
        return p4r.CapabilitiesResponse(p4runtime_api_version=API_VERSION)

    async def SetForwardingPipelineConfig(
        self, request: p4r.SetForwardingPipelineConfigRequest, context: grpc.aio.ServicerContext
    ) -> p4r.SetForwardingPipelineConfigResponse:
        async def run() -> p4r.SetForwardingPipelineConfigResponse:
            await self.device.set_pipeline(request)
            return p4r.SetForwardingPipelineConfigResponse()

        return await _guard(context, "SetForwardingPipelineConfig", run)

    async def GetForwardingPipelineConfig(
        self, request: p4r.GetForwardingPipelineConfigRequest, context: grpc.aio.ServicerContext
    ) -> p4r.GetForwardingPipelineConfigResponse:
        async def run() -> p4r.GetForwardingPipelineConfigResponse:
            return self.device.get_pipeline(request)

        return await _guard(context, "GetForwardingPipelineConfig", run)

    async def Write(
        self, request: p4r.WriteRequest, context: grpc.aio.ServicerContext
    ) -> p4r.WriteResponse:
        async def run() -> list[ControlPlaneError | None]:
            return self.device.write(request)

        errors = await _guard(context, "Write", run)
        if any(e is not None for e in errors):
            message, details = write_status(errors)
            await context.abort(
                grpc.StatusCode.UNKNOWN, message, trailing_metadata=((DETAILS_KEY, details),)
            )
        return p4r.WriteResponse()

    async def Read(
        self, request: p4r.ReadRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[p4r.ReadResponse]:
        try:
            entities = self.device.read(request)
            response = p4r.ReadResponse()
            for entity in entities:
                response.entities.append(entity)
                if len(response.entities) >= READ_CHUNK:
                    yield response
                    response = p4r.ReadResponse()
                    await asyncio.sleep(0)  # let packets and other RPCs in between chunks
            if response.entities:
                yield response
        except ControlPlaneError as error:
            await _abort(context, error)
        except Exception:
            log.exception("Read failed")
            await context.abort(grpc.StatusCode.INTERNAL, "p4sim internal error in Read")

    async def StreamChannel(
        self,
        request_iterator: AsyncIterator[p4r.StreamMessageRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[p4r.StreamMessageResponse]:
        outbox: asyncio.Queue[p4r.StreamMessageResponse | _End] = asyncio.Queue()

        def send(message: p4r.StreamMessageResponse) -> bool:
            if outbox.qsize() >= OUTBOX_LIMIT and message.WhichOneof("update") == "packet":
                return False
            outbox.put_nowait(message)
            return True

        controller = Controller(send)
        reader = asyncio.create_task(self._consume(request_iterator, controller, outbox))
        try:
            while True:
                item = await outbox.get()
                if isinstance(item, _End):
                    if item.error is not None:
                        await _abort(context, item.error)
                    return
                yield item
        finally:
            reader.cancel()
            self.device.arbitration.remove(controller)

    async def _consume(
        self,
        requests: AsyncIterator[p4r.StreamMessageRequest],
        controller: Controller,
        outbox: asyncio.Queue[p4r.StreamMessageResponse | _End],
    ) -> None:
        try:
            async for request in requests:
                self._stream_request(request, controller)
        except _StreamFatal as fatal:
            outbox.put_nowait(_End(fatal.error))
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("StreamChannel failed")
            outbox.put_nowait(
                _End(ControlPlaneError("INTERNAL", "p4sim internal error in StreamChannel"))
            )
            return
        outbox.put_nowait(_End(None))

    def _stream_request(self, request: p4r.StreamMessageRequest, controller: Controller) -> None:
        which = request.WhichOneof("update")
        if which == "arbitration":
            try:
                self.device.arbitration.update(controller, request.arbitration)
            except ControlPlaneError as error:
                raise _StreamFatal(error) from error
            return
        try:
            if which == "packet":
                self.device.packet_out(controller, request.packet)
            elif which == "digest_ack":
                self.device.digest_ack(controller, request.digest_ack)
            else:
                raise ControlPlaneError("UNIMPLEMENTED", f"stream message {which} is not supported")
        except ControlPlaneError as error:
            controller.send(_stream_error(request, which, error))


class _StreamFatal(Exception):
    def __init__(self, error: ControlPlaneError) -> None:
        super().__init__(error.message)
        self.error = error


def _stream_error(
    request: p4r.StreamMessageRequest, which: str | None, error: ControlPlaneError
) -> p4r.StreamMessageResponse:
    response = p4r.StreamMessageResponse()
    err = response.error
    err.canonical_code = code_number(error.code)
    err.message = error.message
    if which == "packet":
        err.packet_out.packet_out.CopyFrom(request.packet)
    elif which == "digest_ack":
        err.digest_list_ack.digest_list_ack.CopyFrom(request.digest_ack)
    else:
        err.other.SetInParent()
    return response
