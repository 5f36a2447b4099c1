"""The controller's gRPC service (controller/proto/handoff.proto), served while primary.

Serving on a Unix socket, each controller binds its own file and points the
configured path at it with a symlink, so a demoted primary shutting its
server down never removes the socket of its successor.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

from controller.proto import handoff_pb2 as pb
from controller.proto import handoff_pb2_grpc as pb_grpc
from controller.switch.core import Controller, FlowError
from controller.switch.trace import trace_flows

log = logging.getLogger("p4handoff.controller")


class ControllerService(pb_grpc.ControllerServicer):
    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def _call(self, name: str, context: Any, work: Callable[[], Any]) -> Any:
        metrics = self.controller.metrics
        try:
            result = work()
        except FlowError as exc:
            metrics.requests.labels(name, exc.code.name.lower()).inc()
            context.abort(exc.code, str(exc))
            raise  # abort() raised already; this tells the type checker
        metrics.requests.labels(name, "ok").inc()
        return result

    def AllocateFlow(
        self, request: pb.AllocateFlowRequest, context: Any
    ) -> pb.AllocateFlowResponse:
        c = request.connection

        def work() -> pb.AllocateFlowResponse:
            flow = self.controller.allocate(
                (c.client_ip, c.client_port, c.vip, c.vip_port),
                request.backend, request.classifier, request.forwarder,
            )  # fmt: skip
            return pb.AllocateFlowResponse(
                flow=pb.FlowRef(
                    forwarder=flow.forwarder, backend=flow.backend, flow_id=flow.flow_id
                )
            )

        response: pb.AllocateFlowResponse = self._call("allocate", context, work)
        return response

    def LeaseFlowIds(
        self, request: pb.LeaseFlowIdsRequest, context: Any
    ) -> pb.LeaseFlowIdsResponse:
        def work() -> pb.LeaseFlowIdsResponse:
            flows = self.controller.lease(
                request.backend, request.classifier, request.count, request.forwarder
            )
            return pb.LeaseFlowIdsResponse(
                flows=[
                    pb.FlowRef(forwarder=f.forwarder, backend=f.backend, flow_id=f.flow_id)
                    for f in flows
                ]
            )

        response: pb.LeaseFlowIdsResponse = self._call("lease", context, work)
        return response

    def InstallFlow(self, request: pb.InstallFlowRequest, context: Any) -> pb.InstallFlowResponse:
        f = request.flow
        c = request.connection
        connection = (
            (c.client_ip, c.client_port, c.vip, c.vip_port)
            if request.HasField("connection") else None
        )  # fmt: skip

        def work() -> pb.InstallFlowResponse:
            batch = self.controller.install(
                f.forwarder, f.backend, f.flow_id, request.handoff_latency_s, connection
            )
            return pb.InstallFlowResponse(batch_size=batch)

        response: pb.InstallFlowResponse = self._call("install", context, work)
        return response

    def InstallFlows(
        self, request: pb.InstallFlowsRequest, context: Any
    ) -> pb.InstallFlowsResponse:
        def work() -> pb.InstallFlowsResponse:
            results = self.controller.install_many([
                (r.flow.forwarder, r.flow.backend, r.flow.flow_id, r.handoff_latency_s,
                 _connection(r))
                for r in request.flows
            ])  # fmt: skip
            metrics = self.controller.metrics.requests
            answers = []
            for result in results:
                if isinstance(result, FlowError):
                    metrics.labels("install", result.code.name.lower()).inc()
                    answers.append(
                        pb.InstallFlowResult(code=result.code.value[0], message=str(result))
                    )
                else:
                    metrics.labels("install", "ok").inc()
                    answers.append(pb.InstallFlowResult(batch_size=result))
            return pb.InstallFlowsResponse(results=answers)

        try:
            return work()
        except FlowError as exc:  # not the primary
            context.abort(exc.code, str(exc))
            raise

    def RemoveFlow(self, request: pb.RemoveFlowRequest, context: Any) -> pb.RemoveFlowResponse:
        f = request.flow
        c = request.connection
        connection = (
            (c.client_ip, c.client_port, c.vip, c.vip_port)
            if request.HasField("connection") else None
        )  # fmt: skip

        def work() -> pb.RemoveFlowResponse:
            removed = self.controller.remove(
                f.forwarder, f.backend, f.flow_id, request.reason, request.release_agent,
                connection,
            )
            return pb.RemoveFlowResponse(entry_removed=removed)

        response: pb.RemoveFlowResponse = self._call("remove", context, work)
        return response

    def ListFlows(self, request: pb.ListFlowsRequest, context: Any) -> pb.ListFlowsResponse:
        def work() -> pb.ListFlowsResponse:
            return pb.ListFlowsResponse(
                flows=self.controller.list_flows(request.include_ended, request.counters)
            )

        response: pb.ListFlowsResponse = self._call("list", context, work)
        return response

    def CountFlows(self, request: pb.CountFlowsRequest, context: Any) -> pb.CountFlowsResponse:
        def work() -> pb.CountFlowsResponse:
            counts = self.controller.installed_per_backend()
            return pb.CountFlowsResponse(installed_per_backend=counts)

        response: pb.CountFlowsResponse = self._call("count", context, work)
        return response

    def Stats(self, request: pb.StatsRequest, context: Any) -> pb.StatsResponse:
        return self.controller.stats()

    def TraceFlows(self, request: pb.TraceRequest, context: Any) -> pb.ListFlowsResponse:
        def work() -> pb.ListFlowsResponse:
            return pb.ListFlowsResponse(flows=trace_flows(self.controller, request))

        response: pb.ListFlowsResponse = self._call("trace", context, work)
        return response


def _connection(request: pb.InstallFlowRequest) -> tuple[str, int, str, int] | None:
    if not request.HasField("connection"):
        return None
    c = request.connection
    return (c.client_ip, c.client_port, c.vip, c.vip_port)


class ServiceHost:
    """The gRPC server of the service, started while the controller is primary.

    For `unix:PATH` it listens on `PATH.<pid>` and atomically points the
    symlink PATH at it (see the module docstring)."""

    def __init__(
        self, controller: Controller, listen: str, workers: int = 32,
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        """`credentials`: mutual TLS on a TCP `listen` (a Unix socket is local:
        its file's permissions guard it)."""
        self.controller = controller
        self.listen = listen
        self.workers = workers
        self.credentials = credentials
        self._server: grpc.Server | None = None
        self._own_path: Path | None = None

    def start(self) -> None:
        if self._server is not None:
            return
        server = grpc.server(ThreadPoolExecutor(self.workers, thread_name_prefix="controller-rpc"))
        pb_grpc.add_ControllerServicer_to_server(  # type: ignore[no-untyped-call]
            ControllerService(self.controller), server
        )
        if self.listen.startswith("unix:"):
            link = Path(self.listen.removeprefix("unix:"))
            own = link.with_name(f"{link.name}.{os.getpid()}")
            own.unlink(missing_ok=True)
            server.add_insecure_port(f"unix:{own}")
            server.start()
            temporary = link.with_name(f".{link.name}.{os.getpid()}.link")
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(own.name)
            os.replace(temporary, link)
            self._own_path = own
        elif self.credentials is not None:
            server.add_secure_port(self.listen, self.credentials)
            server.start()
        else:
            server.add_insecure_port(self.listen)
            server.start()
        self._server = server
        log.info("serving the controller API on %s", self.listen)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stop(grace=1).wait()
        own = self._own_path
        if own is not None:
            link = Path(self.listen.removeprefix("unix:"))
            with contextlib.suppress(OSError):
                if os.readlink(link) == own.name:
                    link.unlink()
            own.unlink(missing_ok=True)
