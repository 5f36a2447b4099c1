"""A transit switch of the fabric (leaf2 of topologies/fabric.yaml) on p4sim
over P4Runtime, in process: what the controller makes of it. A client-side
packet for a host on the other leaf leaves by the link to the other leaf's
MAC; one for its own back-end leaves by that host's port; a stray encap_map
entry is deleted; a second activation changes nothing. And the controller's
`--switch` addressing of several switches."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from controller_support import pipeline
from paths import TOPOLOGIES
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from controller.config.topology import Topology, load_topology
from controller.p4rt import P4RuntimeClient, Update
from controller.switch.flowstore import Flow
from controller.switch.main import parser, switch_addresses
from controller.switch.tables import encap_entry
from controller.switch.transit import TransitSwitch
from p4sim.ports.memory import MemoryPort
from p4sim.server.server import ServerThread


def fabric() -> Topology:
    return load_topology(TOPOLOGIES / "fabric.yaml")


class Leaf:
    """p4sim as leaf2: a memory port per host of leaf2 and for the link."""

    def __init__(self) -> None:
        self.thread = ServerThread(device_id=0, cpu_port=255)
        numbers = [h.port for h in fabric().hosts_on("leaf2")] + [9]
        self.ports: dict[int, MemoryPort] = {
            n: self.thread.call(lambda n=n: self.thread.server.add_memory_port(n)) for n in numbers
        }
        self.address = self.thread.start("127.0.0.1:0")

    def sent(self, port: int, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames = self.thread.call(lambda: list(self.ports[port].sent))
            if frames:
                self.thread.call(self.ports[port].sent.clear)
                return bytes(frames[0])
            time.sleep(0.01)
        raise AssertionError(f"nothing sent on port {port} within {timeout} s")


@pytest.fixture(name="leaf")
def leaf_fixture() -> Iterator[tuple[Leaf, TransitSwitch]]:
    leaf = Leaf()
    session = P4RuntimeClient(leaf.address, election_id=10, timeout=30)
    assert session.connect()
    transit = TransitSwitch(fabric(), "leaf2", session, pipeline())
    try:
        yield leaf, transit
    finally:
        session.close()
        leaf.thread.stop()


def test_transit_switch_routes_over_the_link_and_to_its_own_hosts(
    leaf: tuple[Leaf, TransitSwitch],
) -> None:
    switch, transit = leaf
    transit.activate()
    topo = fabric()
    leaf1, leaf2 = topo.switches
    b1, b2, m1 = topo.host("b1"), topo.host("b2"), topo.host("m1")
    # m1's release notice to b1 (on leaf1): out of the link, to leaf1's MAC.
    ip = IP(src=str(m1.interface.ip), dst=str(b1.interface.ip), ttl=64)
    frame = Ether(src=m1.mac, dst=leaf2.mac) / ip / TCP()
    switch.thread.call(lambda: switch.ports[m1.port].inject(bytes(frame)))
    out = Ether(switch.sent(9))
    assert (out.src, out.dst, out[IP].ttl) == (leaf2.mac, leaf1.mac, 63)
    # A tunnelled segment from leaf1 (forwarder -> b2): to b2's port.
    tunnelled = Ether(src=leaf1.mac, dst=leaf2.mac) / IP(
        src="10.0.0.1", dst=str(b2.interface.ip), ttl=63
    ) / TCP(sport=1, dport=2)  # fmt: skip
    switch.thread.call(lambda: switch.ports[9].inject(bytes(tunnelled)))
    out = Ether(switch.sent(b2.port))
    assert (out.dst, out[IP].dst, out[TCP].sport, out[TCP].dport) == (b2.mac, "10.0.5.12", 1, 2)


def test_transit_switch_keeps_encap_map_empty_and_a_second_activation_changes_nothing(
    leaf: tuple[Leaf, TransitSwitch],
) -> None:
    _, transit = leaf
    transit.activate()
    stray = Flow("10.0.0.1", "10.0.5.12", 0x10001, "10.0.1.10", 40000, "10.0.0.100", 80,
                 "k1", "installed", 0.0, None)  # fmt: skip
    transit.switch.write([Update.insert(encap_entry(transit.switch.entities, stray, 0))])
    transit.activate()
    assert len(transit.last_reconcile["encap_map"].delete) == 1
    assert transit.switch.read_table("encap_map") == []
    transit.activate()
    plans = transit.last_reconcile
    assert all(not p.insert and not p.delete and not p.modify for p in plans.values()), plans
    assert len(transit.switch.read_table("routes")) == len(fabric().hosts)
    assert transit.activations == 3


def args(*argv: str) -> argparse.Namespace:
    return parser().parse_args(["--topology", "t.yaml", "--keys", "k", *argv])


def test_switch_addresses_of_several_switches(tmp_path: Path) -> None:
    topo = fabric()
    assert switch_addresses(args(), topo, tmp_path) == {
        "leaf1": f"unix:{tmp_path / 'p4runtime-leaf1.sock'}",
        "leaf2": f"unix:{tmp_path / 'p4runtime-leaf2.sock'}",
    }
    given = switch_addresses(args("--switch", "leaf2=10.0.9.2:9559"), topo, tmp_path)
    assert given["leaf2"] == "10.0.9.2:9559"
    with pytest.raises(SystemExit, match="--switch 'leaf3=x:1': expected NAME=ADDRESS"):
        switch_addresses(args("--switch", "leaf3=x:1"), topo, tmp_path)
    basic = load_topology(TOPOLOGIES / "basic.yaml")
    assert switch_addresses(args(), basic, tmp_path) == {
        "switch": f"unix:{tmp_path / 'p4runtime.sock'}"
    }
    assert switch_addresses(args("--switch", "h:1"), basic, tmp_path) == {"switch": "h:1"}
