"""The classifier's gRPC service (controller/proto/handoff.proto): stats and its policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc

from controller.classifier.core import Classifier
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


async def serve_rpc(classifier: Classifier, address: str) -> grpc.aio.Server:
    server = grpc.aio.server()
    pb_grpc.add_ClassifierServicer_to_server(  # type: ignore[no-untyped-call]
        ClassifierService(classifier), server
    )
    if address.startswith("unix:"):
        Path(address.removeprefix("unix:")).unlink(missing_ok=True)
    server.add_insecure_port(address)
    await server.start()
    return server

