"""The `handoff controller` process logic (`controller.switch.main.run`) on
p4sim's P4Runtime server over a Unix socket: the gRPC service classifiers
and the CLI use, and a backup controller with a lower election id taking
over when the primary goes away, with the flow table and the switch entries
intact."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from controller_support import (
    B1,
    CLIENT,
    FORWARDER,
    FORWARDER_P4,
    TOPOLOGY,
    VIP,
    Switch,
    client_segment,
    program,
    wait_for,
)

from controller.config.topology import load_topology
from controller.proto import handoff_pb2 as pb
from controller.proto import handoff_pb2_grpc as pb_grpc
from controller.switch.main import load_pipeline, parser, run


@dataclass
class Running:
    thread: threading.Thread
    stop: threading.Event

    def end(self) -> None:
        self.stop.set()
        self.thread.join(20)
        assert not self.thread.is_alive()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    keys.write_text("1 " + "ab" * 32 + "\n")
    keys.chmod(0o600)
    return tmp_path


@pytest.fixture
def switch(run_dir: Path) -> Iterator[Switch]:
    running = Switch(f"unix:{run_dir / 'p4runtime.sock'}")
    yield running
    running.stop()


def start(run_dir: Path, election_id: int) -> Running:
    args = parser().parse_args(
        ["--topology", str(TOPOLOGY), "--run-dir", str(run_dir), "--keys", str(run_dir / "keys"),
         "--election-id", str(election_id), "--agent", "b1=127.0.0.1:9"]
    )  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(args, stop), daemon=True)
    thread.start()
    return Running(thread, stop)


def stub(run_dir: Path) -> tuple[grpc.Channel, pb_grpc.ControllerStub]:
    channel = grpc.insecure_channel(f"unix:{run_dir / 'controller.sock'}")
    return channel, pb_grpc.ControllerStub(channel)


def serving(run_dir: Path, name: str) -> bool:
    channel, api = stub(run_dir)
    with channel:
        try:
            stats = api.Stats(pb.StatsRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return stats.name == name and stats.primary


def connection(port: int) -> pb.Connection:
    return pb.Connection(client_ip=CLIENT, client_port=port, vip=VIP, vip_port=80)


def test_service_allocates_installs_lists_and_removes(switch: Switch, run_dir: Path) -> None:
    primary = start(run_dir, 10)
    try:
        wait_for(lambda: serving(run_dir, "controller-10"), 20, "the controller to serve")
        channel, api = stub(run_dir)
        with channel:
            flow = api.AllocateFlow(
                pb.AllocateFlowRequest(connection=connection(50000), backend=B1, classifier="k1")
            ).flow
            assert (flow.forwarder, flow.backend) == (FORWARDER, B1)
            with pytest.raises(grpc.RpcError) as twice:
                api.AllocateFlow(pb.AllocateFlowRequest(connection=connection(50000), backend=B1))
            assert twice.value.code() == grpc.StatusCode.ALREADY_EXISTS
            api.InstallFlow(pb.InstallFlowRequest(flow=flow, handoff_latency_s=0.002))
            switch.inject(1, client_segment(50000))
            (listed,) = api.ListFlows(pb.ListFlowsRequest(counters=True)).flows
            assert listed.state == "installed" and listed.on_switch and listed.packets == 1
            assert listed.backend_name == "b1" and listed.classifier == "k1"
            traced = api.TraceFlows(pb.TraceRequest(client_port=50000)).flows
            assert [(f.state, f.packets, f.end_reason) for f in traced] == [("installed", 1, "")]
            counted = api.CountFlows(pb.CountFlowsRequest()).installed_per_backend
            assert dict(counted) == {B1: 1}
            stats = api.Stats(pb.StatsRequest())
            assert [lat.step for lat in stats.latencies] == ["handoff"]
            assert stats.counters['p4handoff_controller_flows{state="installed"}'] == 1
            removed = api.RemoveFlow(pb.RemoveFlowRequest(flow=flow, reason="test"))
            assert removed.entry_removed
            assert api.ListFlows(pb.ListFlowsRequest()).flows == []
            assert dict(api.CountFlows(pb.CountFlowsRequest()).installed_per_backend) == {}
            ended = api.ListFlows(pb.ListFlowsRequest(include_ended=True)).flows
            assert [f.state for f in ended] == ["quarantine"]
            # `handoff trace`: the flow of one connection, ended, with its reason
            (traced,) = api.TraceFlows(pb.TraceRequest(client_ip=CLIENT, client_port=50000)).flows
            assert (traced.ref.flow_id, traced.state, traced.end_reason) == (
                flow.flow_id, "quarantine", "test")
            assert api.TraceFlows(pb.TraceRequest(flow_id=flow.flow_id)).flows == [traced]
            assert api.TraceFlows(pb.TraceRequest(client_port=50001)).flows == []
            with pytest.raises(grpc.RpcError) as unknown:
                api.InstallFlow(pb.InstallFlowRequest(flow=pb.FlowRef(
                    forwarder=FORWARDER, backend=B1, flow_id=0x00770077)))  # fmt: skip
            assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        primary.end()


def test_backup_takes_over_when_the_primary_leaves(
    switch: Switch, run_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="p4handoff.controller")
    primary = start(run_dir, 10)
    backup: Running | None = None
    try:
        wait_for(lambda: serving(run_dir, "controller-10"), 20, "the primary to serve")
        backup = start(run_dir, 5)
        wait_for(lambda: "backup (primary has election id 10)" in caplog.text, 20,
                 "the backup to connect and wait")  # fmt: skip
        assert serving(run_dir, "controller-10")
        channel, api = stub(run_dir)
        with channel:
            flow = api.AllocateFlow(
                pb.AllocateFlowRequest(connection=connection(51000), backend=B1)
            ).flow
            api.InstallFlow(pb.InstallFlowRequest(flow=flow))
        primary.end()
        wait_for(lambda: serving(run_dir, "controller-5"), 20, "the backup to take over")
        channel, api = stub(run_dir)
        with channel:
            (listed,) = api.ListFlows(pb.ListFlowsRequest(counters=True)).flows
            assert listed.ref.flow_id == flow.flow_id and listed.on_switch
            second = api.AllocateFlow(
                pb.AllocateFlowRequest(connection=connection(51001), backend=B1)
            ).flow
            assert second.flow_id != flow.flow_id  # the shared flow table goes on
    finally:
        if backup is not None:
            backup.end()
        if primary.thread.is_alive():
            primary.end()


def test_a_restarted_switch_gets_pipeline_topology_and_flows_again(run_dir: Path) -> None:
    address = f"unix:{run_dir / 'p4runtime.sock'}"
    first = Switch(address)
    controller = start(run_dir, 10)
    try:
        wait_for(lambda: serving(run_dir, "controller-10"), 20, "the controller to serve")
        channel, api = stub(run_dir)
        with channel:
            flow = api.AllocateFlow(
                pb.AllocateFlowRequest(connection=connection(52000), backend=B1)
            ).flow
            api.InstallFlow(pb.InstallFlowRequest(flow=flow))
        first.stop()  # the switch process dies with all its state
        second = Switch(address)
        try:
            wait_for(lambda: serving(run_dir, "controller-10"), 20, "the controller to come back")
            channel, api = stub(run_dir)
            with channel:
                (listed,) = api.ListFlows(pb.ListFlowsRequest()).flows
                assert listed.ref.flow_id == flow.flow_id and listed.on_switch
        finally:
            controller.end()
            second.stop()
    finally:
        if controller.thread.is_alive():
            controller.end()


def test_pipeline_files_from_p4sim_compile_are_pushed_as_given(tmp_path: Path) -> None:
    info, config = tmp_path / "fwd.p4info.txtpb", tmp_path / "fwd.bin"
    done = subprocess.run(
        [sys.executable, "-m", "p4sim.cli", "compile", str(FORWARDER_P4), "--p4info", str(info),
         "--device-config", str(config)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    args = parser().parse_args(
        ["--topology", str(TOPOLOGY), "--keys", "k", "--p4info", str(info),
         "--device-config", str(config)]
    )  # fmt: skip
    loaded = load_pipeline(args, load_topology(TOPOLOGY), tmp_path)
    assert loaded.device_config == config.read_bytes()
    assert loaded.p4info == program().p4info
    with pytest.raises(SystemExit):
        load_pipeline(parser().parse_args(
            ["--topology", str(TOPOLOGY), "--keys", "k", "--p4info", str(info)]
        ), load_topology(TOPOLOGY), tmp_path)  # fmt: skip
