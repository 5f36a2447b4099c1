"""The classifier's client of the controller service (GrpcController)
against `handoff controller` on p4sim's P4Runtime server: leased ids, and
InstallFlow calls made while one is out coalescing into one InstallFlows
whose answers reach each caller (a refused one fails only its own)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from controller_support import B1, CLIENT, FORWARDER, TOPOLOGY, VIP, Switch, wait_for

from controller.classifier.controller_client import ControllerError, FlowRef, GrpcController
from controller.proto import handoff_pb2 as pb
from controller.proto import handoff_pb2_grpc as pb_grpc
from controller.switch.main import parser, run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    keys.write_text("1 " + "ab" * 32 + "\n")
    keys.chmod(0o600)
    return tmp_path


@pytest.fixture
def controller(run_dir: Path) -> Iterator[str]:
    switch = Switch(f"unix:{run_dir / 'p4runtime.sock'}")
    args = parser().parse_args(
        ["--topology", str(TOPOLOGY), "--run-dir", str(run_dir), "--keys", str(run_dir / "keys"),
         "--election-id", "10", "--agent", "b1=127.0.0.1:9"]
    )  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(args, stop), daemon=True)
    thread.start()
    address = f"unix:{run_dir / 'controller.sock'}"

    def serving() -> bool:
        with grpc.insecure_channel(address) as channel:
            try:
                stats = pb_grpc.ControllerStub(channel).Stats(pb.StatsRequest(), timeout=1)
            except grpc.RpcError:
                return False
        return stats.primary

    try:
        wait_for(serving, 20, "the controller to serve")
        yield address
    finally:
        stop.set()
        thread.join(20)
        switch.stop()


def test_concurrent_installs_coalesce_and_each_gets_its_answer(controller: str) -> None:
    batches: list[int] = []

    async def scenario() -> tuple[list[object], dict[str, float], list[pb.Flow]]:
        api = GrpcController(controller, timeout_s=10)
        batched = api._stub.InstallFlows

        def counted(request: pb.InstallFlowsRequest, **kwargs: object) -> object:
            batches.append(len(request.flows))
            return batched(request, **kwargs)

        api._stub.InstallFlows = counted
        try:
            leases = await api.lease(B1, "k1", 40)
            assert len({f.flow_id for f in leases}) == 40
            unknown = FlowRef(FORWARDER, B1, 0x00770077)
            flows = [*leases, unknown]
            outcomes = await asyncio.gather(
                *(
                    api.install(f, 0.001, ((CLIENT, 51000 + i), VIP_PORT))
                    for i, f in enumerate(flows)
                ),
                return_exceptions=True,
            )
            stats = await api._call(api._stub.Stats, pb.StatsRequest())
            listed = await api._call(api._stub.ListFlows, pb.ListFlowsRequest())
            return outcomes, dict(stats.counters), list(listed.flows)
        finally:
            await api.close()

    outcomes, counters, listed = asyncio.run(scenario())
    # The first two went alone (InstallFlow); the 39 that came while they
    # were out went in InstallFlows calls, far fewer than 39.
    assert sum(batches) == 39 and len(batches) <= 6, batches
    assert outcomes[:-1] == [None] * 40
    refused = outcomes[-1]
    assert isinstance(refused, ControllerError) and refused.code == grpc.StatusCode.NOT_FOUND
    assert sorted(f.connection.client_port for f in listed) == list(range(51000, 51040))
    assert {f.state for f in listed} == {"installed"}
    calls = counters['p4handoff_controller_requests_total{call="install",result="ok"}']
    assert calls == 40
    # Fewer Writes than flows: the entries shared Writes.
    assert counters["p4handoff_controller_write_batch_size_count"] < 40


VIP_PORT = (VIP, 80)
