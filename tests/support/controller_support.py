"""Shared pieces of the controller and classifier tests: the forwarder on an
in-process p4sim P4Runtime server with memory ports, a controller on it, and
a release recorder standing in for the agents."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from paths import ROOT
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from controller.config.topology import Topology, load_topology
from controller.p4rt import P4RuntimeClient, TableEntry
from controller.switch.core import Controller, Settings
from controller.switch.flowstore import FlowStore
from controller.switch.pipeline import Pipeline
from controller.switch.tables import connection_of
from p4sim.compiler import CompiledProgram, compile_file
from p4sim.ports.memory import MemoryPort
from p4sim.server.server import ServerThread

TOPOLOGY = ROOT / "topologies" / "basic.yaml"
FORWARDER_P4 = ROOT / "p4src" / "forwarder.p4"
VIP = "10.0.0.100"
CLIENT = "10.0.1.10"
B1, B2 = "10.0.2.11", "10.0.2.12"
FORWARDER = "10.0.0.1"


@functools.cache
def program() -> CompiledProgram:
    return compile_file(FORWARDER_P4)


def pipeline() -> Pipeline:
    return Pipeline(program().p4info, program().device_config)


def topology() -> Topology:
    return load_topology(TOPOLOGY)


class Switch:
    """p4sim serving P4Runtime in this process, one memory port per host."""

    def __init__(self, address: str = "127.0.0.1:0") -> None:
        self.thread = ServerThread(device_id=0, cpu_port=255)
        self.ports: dict[int, MemoryPort] = {
            h.port: self.thread.call(lambda n=h.port: self.thread.server.add_memory_port(n))
            for h in topology().hosts
        }
        self.address = self.thread.start(address)

    def inject(self, port: int, frame: bytes) -> None:
        self.thread.call(lambda: self.ports[port].inject(frame))

    def stop(self) -> None:
        self.thread.stop()


def client_segment(sport: int, flags: str = "A", vip_port: int = 80) -> bytes:
    """A client -> VIP segment as it reaches the switch on the client's port."""
    topo = topology()
    frame = (
        Ether(src=topo.host("c1").mac, dst=topo.switch.mac)
        / IP(src=CLIENT, dst=VIP, ttl=64)
        / TCP(sport=sport, dport=vip_port, flags=flags, seq=1000, ack=1)
    )
    return bytes(frame)


def vip_segment(dport: int, flags: str = "A", backend: str = "b1") -> bytes:
    """A VIP -> client segment as a back-end sends it (direct server return),
    reaching the switch on the back-end's port."""
    topo = topology()
    frame = (
        Ether(src=topo.host(backend).mac, dst=topo.switch.mac)
        / IP(src=VIP, dst=CLIENT, ttl=64)
        / TCP(sport=80, dport=dport, flags=flags, seq=5000, ack=1001)
    )
    return bytes(frame)


class Releases:
    """Records the release notices the controller would send to agents."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()

    def release(self, notices: Sequence[tuple[str, str, int]]) -> None:
        with self._lock:
            self.sent.extend(notices)

    def close(self) -> None:
        pass


def start_controller(
    switch: Switch,
    db: Path,
    releases: Releases,
    *,
    election_id: int = 10,
    **settings: float,
) -> Controller:
    session = P4RuntimeClient(switch.address, election_id=election_id, timeout=30)
    assert session.connect(), "the test controller should be primary"
    controller = Controller(
        topology(),
        FlowStore(db, quarantine_s=60),
        session,
        releases,
        Settings(forwarder=FORWARDER, sweep_interval_s=0.2, **settings),  # type: ignore[arg-type]
        pipeline=pipeline(),
    )
    controller.activate()
    return controller


def stop_controller(controller: Controller) -> None:
    controller.close()
    controller.switch.close()
    controller.store.close()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.02)


def encap_entries(controller: Controller) -> dict[tuple[str, int, str, int], TableEntry]:
    """The switch's encap_map entries by connection (client, port, VIP, port)."""
    return {connection_of(e): e for e in controller.switch.read_table("encap_map")}
