"""The classifier's gRPC service (controller/proto/handoff.proto): stats, its
policy, and its recent connections (controller.classifier.recent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc

from controller.classifier.core import Classifier
from controller.classifier.recent import HandoffTrace, describe_request, describe_rule
from controller.config.policy import PolicyError
from controller.proto import handoff_pb2 as pb
from controller.proto import handoff_pb2_grpc as pb_grpc


class ClassifierService(pb_grpc.ClassifierServicer):
    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier

    async def Stats(self, request: pb.StatsRequest, context: Any) -> pb.StatsResponse:
        return self.classifier.stats()

    async def GetPolicy(self, request: pb.GetPolicyRequest, context: Any) -> pb.PolicyResponse:
        return self.classifier.describe_policy()

    async def ReloadPolicy(
        self, request: pb.ReloadPolicyRequest, context: Any
    ) -> pb.PolicyResponse:
        try:
            self.classifier.reload_policy()
        except PolicyError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return self.classifier.describe_policy()

    async def RecentHandoffs(
        self, request: pb.TraceRequest, context: Any
    ) -> pb.RecentHandoffsResponse:
        recent = self.classifier.recent
        found = recent.find(request.client_ip, request.client_port, request.flow_id,
                            request.limit)  # fmt: skip
        return pb.RecentHandoffsResponse(
            handoffs=[self._record(trace) for trace in found], capacity=recent.capacity
        )

    def _record(self, trace: HandoffTrace) -> pb.HandoffRecord:
        flow = trace.flow
        agent = ""
        if trace.backend:
            try:
                host, port = self.classifier.agents.address(trace.backend)
                agent = f"{host}:{port}"
            except KeyError:
                pass
        return pb.HandoffRecord(
            connection=pb.Connection(
                client_ip=trace.client[0], client_port=trace.client[1],
                vip=trace.vip[0], vip_port=trace.vip[1],
            ),
            classifier=self.classifier.settings.name,
            accepted_at=trace.accepted_at,
            finished_at=trace.finished_at,
            request=describe_request(trace.request),
            rule_index=trace.rule_index,
            rule=describe_rule(trace.rule),
            pool=trace.pool,
            backend_name=trace.backend,
            flow=None if flow is None else pb.FlowRef(
                forwarder=flow.forwarder, backend=flow.backend, flow_id=flow.flow_id
            ),
            phases=[pb.Phase(step=step, seconds=seconds) for step, seconds in trace.phases],
            outcome=trace.outcome,
            agent=agent,
        )  # fmt: skip


async def serve_rpc(
    classifier: Classifier, address: str, credentials: grpc.ServerCredentials | None = None
) -> grpc.aio.Server:
    """Serves on `address`; with `credentials`, mutual TLS on a TCP address."""
    server = grpc.aio.server()
    pb_grpc.add_ClassifierServicer_to_server(  # type: ignore[no-untyped-call]
        ClassifierService(classifier), server
    )
    if address.startswith("unix:"):
        Path(address.removeprefix("unix:")).unlink(missing_ok=True)
        server.add_insecure_port(address)
    elif credentials is not None:
        server.add_secure_port(address, credentials)
    else:
        server.add_insecure_port(address)
    await server.start()
    return server

