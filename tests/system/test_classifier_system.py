"""The controller and classifier processes with everything real around them:
the basic topology as network namespaces, p4sim running the forwarder on the
veths, demo back-ends with their migrator agents, and a client in its own
namespace talking to the VIP. Requests are answered by the back-ends, the
flow entries go away after the connections close, a request no rule matches
is answered by the classifier, and a controller killed mid-connection and
started again breaks nothing. Needs root; skips otherwise."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from controller_support import TOPOLOGY, wait_for
from kernel_lab import netns
from needs import skip_reason

from controller.config.topology import Topology, load_topology
from controller.lab.netns import LabNames, create, destroy
from controller.lab.processes import ProcessRecord, ProcessTable, stop, wait_for_path
from controller.lab.switch import RunningSwitch, start_switch, stop_switch
from controller.proto import handoff_pb2 as pb
from controller.proto import handoff_pb2_grpc as pb_grpc

AGENT_PORT = 7100


SKIP_REASON = skip_reason("ip", "nft", "ethtool")

pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")


@dataclass
class System:
    topology: Topology = field(default_factory=lambda: load_topology(TOPOLOGY))
    names: LabNames = field(default_factory=lambda: LabNames(f"hc{os.getpid() % 10000:04d}"))
    run_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="p4h-sys-")))
    processes: dict[str, ProcessRecord] = field(default_factory=dict)
    switch: RunningSwitch | None = None

    def __post_init__(self) -> None:
        self.table = ProcessTable(self.run_dir)
        self.info: dict[str, object] = {"prefix": self.names.prefix}
        self.keys = self.run_dir / "keys"

    def ns(self, host: str) -> str:
        return self.names.host(host)

    @property
    def management(self) -> str:
        """Where controllers run: the topology's management host, else the
        classifier host (either reaches the agents through the switch)."""
        hosts = self.topology.hosts_with_role("controller")
        return hosts[0].name if hosts else "k1"

    def start(self) -> None:
        create(self.topology, self.names)
        self.switch = start_switch(self.table, self.info, self.topology, self.names)
        self.keys.write_text("1 " + os.urandom(32).hex() + "\n")
        self.keys.chmod(0o600)
        vip = self.topology.vips[0]
        for host in self.topology.hosts_with_role("backend"):
            app = self.run_dir / f"{host.name}.app.sock"
            self.spawn(f"backend-{host.name}", host.name, "controller.examples.demo_backend",
                       "--name", host.name, "--handover", str(app))  # fmt: skip
            wait_for_path(app, self.processes[f"backend-{host.name}"], 20)
            address = str(host.interface.ip)
            self.spawn(
                f"agent-{host.name}", host.name, "controller.agent.main",
                "--listen", f"{address}:{AGENT_PORT}", "--keys", str(self.keys),
                "--handover", str(app), "--backend-address", address,
                "--forwarder", str(self.topology.switch.forwarder_address),
                "--vip", f"{vip.address}:{vip.port}", "-v",
            )  # fmt: skip
        self.start_controller()
        self.spawn(
            "classifier", "k1", "controller.classifier.main", "--topology", str(TOPOLOGY),
            "--name", "k1", "--run-dir", str(self.run_dir), "--keys", str(self.keys), "-v",
        )  # fmt: skip
        wait_for_path(self.run_dir / "classifier-k1.sock", self.processes["classifier"], 30)

    def start_controller(self) -> None:
        self.spawn(
            "controller", self.management, "controller.switch.main", "--topology", str(TOPOLOGY),
            "--run-dir", str(self.run_dir), "--keys", str(self.keys), "--end-grace", "0.5", "-v",
        )  # fmt: skip
        wait_for(lambda: self.flows() is not None, 30, "the controller to serve")

    def spawn(self, name: str, host: str, module: str, *args: str) -> None:
        argv = [sys.executable, "-m", module, *args]
        self.processes[name] = self.table.start(self.info, name, self.ns(host), argv)

    def flows(self, include_ended: bool = False) -> list[pb.Flow] | None:
        """The controller's flow list, or None while it does not serve."""
        with grpc.insecure_channel(f"unix:{self.run_dir / 'controller.sock'}") as channel:
            try:
                response = pb_grpc.ControllerStub(channel).ListFlows(
                    pb.ListFlowsRequest(include_ended=include_ended, counters=True), timeout=2
                )
            except grpc.RpcError:
                return None
        return list(response.flows)

    def client(self) -> socket.socket:
        with netns(self.ns("c1")):
            conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        conn.settimeout(10)
        vip = self.topology.vips[0]
        conn.connect((str(vip.address), vip.port))
        return conn

    def log(self, name: str) -> str:
        return Path(self.processes[name].log).read_text(errors="replace")[-3000:]

    def close(self) -> None:
        stop(list(self.processes.values()))
        if self.switch is not None:
            stop_switch(self.switch)
        destroy(self.names)
        shutil.rmtree(self.run_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    running = System()
    try:
        running.start()
        yield running
    finally:
        running.close()


def get(conn: socket.socket, path: str = "/", host: str = "www.example.org") -> dict[str, str]:
    """One keep-alive request; the response's status line and headers."""
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed after {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {"status": lines[0]}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += conn.recv(65536)
    return headers


def installed(system: System, port: int) -> pb.Flow:
    """The flow of the client port once its switch entry is written."""
    found: list[pb.Flow] = []

    def on_switch() -> bool:
        found[:] = [f for f in system.flows() or [] if f.connection.client_port == port]
        return bool(found) and found[0].on_switch

    wait_for(on_switch, 10, f"the flow of client port {port} on the switch")
    return found[0]


def test_requests_are_served_by_backends_and_entries_end_with_the_connection(
    system: System,
) -> None:
    with system.client() as conn:
        first = get(conn)
        assert first["status"] == "HTTP/1.1 200 OK", (first, system.log("classifier"))
        assert first["x-backend"] in ("b1", "b2")  # pool api of topologies/policies/basic.yaml
        assert get(conn)["x-backend"] == first["x-backend"]  # keep-alive: same back-end
        flow = installed(system, conn.getsockname()[1])
        assert flow.backend_name == first["x-backend"]
        port = conn.getsockname()[1]
    wait_for(lambda: not system.flows(), 10, "the entry to go after the connection closed")
    ended = [f for f in system.flows(include_ended=True) or [] if f.connection.client_port == port]
    assert [f.state for f in ended] == ["quarantine"]
    # ... and the back-end's agent was told to drop its decapsulation mapping.
    released = f"flow {flow.ref.flow_id} from {flow.ref.forwarder} removed"
    agent = f"agent-{flow.backend_name}"
    wait_for(lambda: released in system.log(agent), 10, f"{agent} to release the flow")


def close_and_count(conn: socket.socket) -> tuple[float, int]:
    """Half-close and wait for the server's FIN: (seconds it took, the
    connection's total retransmissions)."""
    started = time.perf_counter()
    conn.shutdown(socket.SHUT_WR)
    while conn.recv(65536):
        pass
    took = time.perf_counter() - started
    info = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    retransmissions: int = struct.unpack_from("I", info, 100)[0]  # tcpi_total_retrans
    return took, retransmissions


def test_client_segments_after_the_first_answer_need_no_retransmission(system: System) -> None:
    """The back-end's application gets the socket only after the switch entry
    is written (the agent waits for the classifier's commit), so the client's
    next request and its FIN, sent right after the first answer, are not
    dropped at the classifier and retransmitted 200 ms later."""
    with system.client() as conn:
        served_by = get(conn)["x-backend"]
        started = time.perf_counter()
        assert get(conn)["x-backend"] == served_by
        round_trip = time.perf_counter() - started
        close_after_request, retransmitted = close_and_count(conn)
    with system.client() as quick:
        get(quick)
        close_after_answer, retransmitted_too = close_and_count(quick)
    assert (retransmitted, retransmitted_too) == (0, 0)
    timings = (round_trip, close_after_request, close_after_answer)
    assert max(timings) < 0.15, f"round trip, closes: {timings}"
    wait_for(lambda: not system.flows(), 10, "the entries to go after the connections closed")


def test_heartbeats_keep_backends_live_without_filling_the_agent_logs(system: System) -> None:
    time.sleep(2.5)  # at least two heartbeats per agent (one per second)
    for host in system.topology.hosts_with_role("backend"):
        log = system.log(f"agent-{host.name}")
        assert "abort" not in log and "ping" not in log, log


def test_non_http_bytes_get_a_clean_close_from_the_classifier(system: System) -> None:
    with system.client() as conn:
        conn.sendall(b"HELO example\r\n")
        assert conn.recv(100) == b""  # FIN, no RST, no hang


def test_controller_killed_and_restarted_breaks_no_connection(system: System) -> None:
    with system.client() as conn:
        served_by = get(conn, "/a")["x-backend"]
        port = conn.getsockname()[1]
        installed(system, port)  # the controller has recorded the installed flow
        os.killpg(system.processes["controller"].pid, signal.SIGKILL)
        assert get(conn, "/b")["x-backend"] == served_by  # the switch keeps forwarding
        with contextlib.suppress(Exception):
            stop([system.processes.pop("controller")], grace_s=0)
        system.start_controller()
        (flow,) = [f for f in system.flows() or [] if f.connection.client_port == port]
        assert flow.on_switch and flow.state == "installed"
        assert get(conn, "/c")["x-backend"] == served_by
    wait_for(lambda: not system.flows(), 10, "the restarted controller to remove the entry")
    time.sleep(0.1)


def serving_name(system: System) -> str | None:
    with grpc.insecure_channel(f"unix:{system.run_dir / 'controller.sock'}") as channel:
        try:
            stats = pb_grpc.ControllerStub(channel).Stats(pb.StatsRequest(), timeout=2)
        except grpc.RpcError:
            return None
    return stats.name if stats.primary else None


def test_backup_controller_takes_over_from_a_killed_primary(system: System) -> None:
    system.spawn(
        "backup", system.management, "controller.switch.main", "--topology", str(TOPOLOGY),
        "--run-dir", str(system.run_dir), "--keys", str(system.keys), "--election-id", "5",
        "--end-grace", "0.5", "-v",
    )  # fmt: skip
    wait_for(lambda: "backup (primary has election id 10)" in system.log("backup"), 30, "backup")
    assert serving_name(system) == "controller-10"
    with system.client() as before:
        get(before)  # the classifier's channel to the controller is connected
    # The primary removes that entry after its FIN; killed within the grace
    # period it would leave it to the idle timeout.
    wait_for(lambda: not system.flows(), 10, "the primary to remove the first entry")
    os.killpg(system.processes["controller"].pid, signal.SIGKILL)
    with system.client() as conn:
        # Handed off while the backup takes over: the classifier waits for it.
        assert get(conn)["status"] == "HTTP/1.1 200 OK", system.log("classifier")
        installed(system, conn.getsockname()[1])
    assert serving_name(system) == "controller-5"
    wait_for(lambda: not system.flows(), 10, "the backup to remove the entry")
