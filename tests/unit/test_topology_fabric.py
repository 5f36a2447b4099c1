"""Topologies with several switches: what a user gets for a good file and for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from paths import FORWARDER_P4, TOPOLOGIES

from controller.config.topology import TopologyError, load_topology
from controller.p4rt import EntityFactory, P4InfoIndex
from controller.switch.tables import static_entries
from p4sim.compiler import compile_file

GOOD = """
name: f
forwarder_address: 10.0.0.1
switches:
  - {name: s1, program: p.p4}
  - {name: s2, program: p.p4, target: bmv2}
  - {name: s3, program: p.p4}
links:
  - {a: s1, a_port: 9, b: s2, b_port: 9}
  - {a: s2, a_port: 8, b: s3, b_port: 8}
hosts:
  - {name: c1, role: client, switch: s1, port: 1, address: 10.0.1.10/24, gateway: 10.0.1.1}
  - {name: k1, role: classifier, switch: s3, port: 1, address: 10.0.3.10/24, gateway: 10.0.3.1}
  - {name: b1, role: backend, switch: s2, port: 1, address: 10.0.2.11/24, gateway: 10.0.2.1}
vips:
  - {address: 10.0.0.100, port: 80, classifiers: [k1]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topo.yaml"
    path.write_text(text)
    return path


def test_fabric_topology_loads() -> None:
    fabric = load_topology(TOPOLOGIES / "fabric.yaml")
    assert [s.name for s in fabric.switches] == ["leaf1", "leaf2"]
    assert fabric.switch.name == "leaf1"  # the clients' switch is the entry switch
    assert {h.switch for h in fabric.hosts_with_role("backend")} == {"leaf1", "leaf2"}
    assert {h.switch for h in fabric.hosts_with_role("classifier")} == {"leaf1", "leaf2"}
    assert len({s.mac for s in fabric.switches}) == 2
    assert len({h.mac for h in fabric.hosts}) == len(fabric.hosts)
    assert {s.forwarder_address for s in fabric.switches} == {fabric.switch.forwarder_address}


def test_single_switch_topologies_have_one_named_switch() -> None:
    basic = load_topology(TOPOLOGIES / "basic.yaml")
    assert not basic.multi_switch
    assert [s.name for s in basic.all_switches] == ["switch"]
    assert {h.switch for h in basic.hosts} == {"switch"}


def test_values_and_paths(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, GOOD))
    assert topo.multi_switch and topo.switch.name == "s1"
    assert topo.switch_named("s2").target == "bmv2"
    assert topo.host("b1").switch == "s2"
    # s1 reaches s3 through s2: out of its port 9
    assert topo.next_hop("s1", "s3") == (9, "s2")
    assert topo.next_hop("s3", "s1") == (8, "s2")
    assert topo.next_hop("s2", "s3") == (8, "s3")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("switch: s2, port: 1", "switch: s9, port: 1", "hosts[2].switch: 's9' is not a switch"),
        (
            "switch: s2, port: 1",
            "switch: s2, port: 9",
            "hosts[2].port: port 9 of s2 is already used by link 0",
        ),
        ("b: s2, b_port: 9", "b: s1, b_port: 7", "links[0].b: a link joins two different"),
        ("b: s2, b_port: 9", "b: s4, b_port: 9", "links[0].b: 's4' is not a switch"),
        ("a: s2, a_port: 8", "a: s2, a_port: 9", "links[1].a_port: port 9 of s2 is already used"),
        (
            "  - {a: s2, a_port: 8, b: s3, b_port: 8}\n",
            "",
            "links: switch 's3' cannot be reached from 's1'",
        ),
        (
            "{name: s3, program: p.p4}",
            "{name: s1, program: p.p4}",
            "switches[2].name: switch 's1' is defined twice",
        ),
        (
            "{name: s3, program: p.p4}",
            "{name: s3, program: p.p4, target: tofino}",
            "switches[2].target: expected one of",
        ),
        (
            "role: classifier, switch: s3",
            "role: client, switch: s3",
            "hosts[1].switch: clients on several switches (s1, s3) are not supported",
        ),
        ("role: client, switch: s1,", "role: client,", "hosts[0]: missing key 'switch'"),
        ("name: c1,", "name: s2,", "switches[1].name: 's2' is also a host's name"),
        ("forwarder_address: 10.0.0.1\n", "", "top level: missing key 'forwarder_address'"),
        (
            "name: f\n",
            "name: f\nswitch: {program: p.p4, forwarder_address: 10.0.0.1}\n",
            "top level: unknown key 'switch'",
        ),
    ],
)
def test_mistakes_name_file_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_one_switch_in_a_switches_list_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("  - {name: s2, program: p.p4, target: bmv2}\n", "")
    text = text.replace("  - {name: s3, program: p.p4}\n", "")
    with pytest.raises(TopologyError, match=r"switches: expected a list of two or more"):
        load_topology(write(tmp_path, text))


def test_each_switch_routes_other_switches_hosts_over_the_link() -> None:
    fabric = load_topology(TOPOLOGIES / "fabric.yaml")
    entities = EntityFactory(P4InfoIndex(compile_file(FORWARDER_P4).p4info))
    leaf1, leaf2 = fabric.switches
    mac = {s.name: int(s.mac.replace(":", ""), 16) for s in fabric.switches}
    for switch, other in ((leaf1, leaf2), (leaf2, leaf1)):
        static = static_entries(fabric, entities, switch.name)
        for table, prefix in (("routes", 32), ("routes6", 128)):
            hops = {}
            for entry in static[table]:
                assert entry.action is not None
                hops[entry.key("dst_addr").value] = (  # type: ignore[union-attr]
                    entry.action.param("port"),
                    entry.action.param("src_mac"),
                    entry.action.param("dst_mac"),
                )
            for host in fabric.hosts:
                address = host.interface.ip if prefix == 32 else host.interface6
                if address is None:
                    continue
                ip = address if prefix == 32 else host.interface6.ip  # type: ignore[union-attr]
                found = hops[int(ip)]
                if host.switch == switch.name:
                    assert found == (
                        host.port,
                        mac[switch.name],
                        int(host.mac.replace(":", ""), 16),
                    )
                else:  # out of the link's port 9, to the other leaf's MAC
                    assert found == (9, mac[switch.name], mac[other.name])
    # Steering is the same on both leaves: a steered packet, still addressed to
    # the VIP, is steered to the same classifier at the next switch.
    steer = [
        sorted((str(e.key("bucket")), e.action.param("classifier")) for e in s)  # type: ignore[union-attr]
        for s in (static_entries(fabric, entities, n)["vip_steering"] for n in ("leaf1", "leaf2"))
    ]
    assert steer[0] == steer[1]
