"""Dual-stack topologies: IPv6 addresses of hosts, the switch and VIPs, the
mistakes a user can make with them, and the IPv6 entries the controller
derives from them for the switch."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from paths import FORWARDER_P4, TOPOLOGIES

from controller.config.topology import TopologyError, load_topology
from controller.p4rt import EntityFactory, P4InfoIndex
from controller.switch.tables import static_entries
from p4sim.compiler import compile_file

DUAL = """
name: t
switch: {program: p.p4, forwarder_address: 10.0.0.1, forwarder_address6: "2001:db8::1"}
hosts:
  - {name: c1, role: client, port: 1, address: 10.0.1.10/24, gateway: 10.0.1.1,
     address6: 2001:db8:1::10/64, gateway6: 2001:db8:1::1}
  - {name: k1, role: classifier, port: 2, address: 10.0.3.10/24, gateway: 10.0.3.1,
     address6: 2001:db8:3::10/64, gateway6: 2001:db8:3::1}
  - {name: b1, role: backend, port: 3, address: 10.0.2.11/24, gateway: 10.0.2.1}
vips:
  - {address: 10.0.0.100, address6: "2001:db8::100", port: 80, classifiers: [k1]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topo.yaml"
    path.write_text(text)
    return path


def test_dual_stack_values(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, DUAL))
    assert topo.switch.forwarder_address6 == ipaddress.IPv6Address("2001:db8::1")
    c1 = topo.host("c1")
    assert str(c1.interface6) == "2001:db8:1::10/64"
    assert str(c1.gateway6) == "2001:db8:1::1"
    assert topo.host("b1").interface6 is None and topo.host("b1").gateway6 is None
    vip = topo.vips[0]
    assert [str(a) for a in vip.addresses] == ["10.0.0.100", "2001:db8::100"]


def test_basic_topology_is_dual_stack() -> None:
    basic = load_topology(TOPOLOGIES / "basic.yaml")
    assert str(basic.vips[0].address6) == "2001:db8::100"
    assert basic.switch.forwarder_address6 is not None
    for host in basic.hosts:
        assert (host.interface6 is not None) is (host.role != "controller"), host.name


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("gateway6: 2001:db8:1::1}", "}", r"hosts\[0\]\.gateway6: address6 and gateway6 go"),
        ("address6: 2001:db8:1::10/64, ", "", r"hosts\[0\]\.address6: address6 and gateway6 go"),
        ("2001:db8:1::10/64", "2001:db8:1::10", r"hosts\[0\]\.address6: expected ADDRESS/PREFIX"),
        ("2001:db8:1::10/64", "10.0.1.10/24", r"hosts\[0\]\.address6: expected ADDRESS/PREFIX"),
        ("gateway6: 2001:db8:1::1", "gateway6: 2001:db8:9::1", "must be another address"),
        ("gateway6: 2001:db8:1::1", "gateway6: 10.0.1.1", "expected an IPv6 address"),
        (', forwarder_address6: "2001:db8::1"', "", "an IPv6 VIP needs switch.forwarder_addr"),
        ('address6: "2001:db8::100"', 'address6: "10.0.0.100"', "expected an IPv6 address"),
    ],
)
def test_ipv6_mistakes_are_reported_with_their_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in DUAL
    with pytest.raises(TopologyError, match=message):
        load_topology(write(tmp_path, DUAL.replace(old, new, 1)))


def test_an_ipv6_vip_needs_ipv6_on_its_classifiers(tmp_path: Path) -> None:
    text = DUAL.replace(
        "address6: 2001:db8:3::10/64, gateway6: 2001:db8:3::1", "mac: \"02:00:00:00:00:02\""
    )
    with pytest.raises(TopologyError, match=r"vips\[0\]\.classifiers\[0\]: 'k1' serves an IPv6"):
        load_topology(write(tmp_path, text))


def test_the_controller_derives_the_ipv6_entries(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, DUAL))
    entities = EntityFactory(P4InfoIndex(compile_file(FORWARDER_P4).p4info))
    static = static_entries(topo, entities)
    routes6 = {str(e.key("dst_addr")): e.action for e in static["routes6"]}
    assert len(routes6) == 2  # c1 and k1; b1 is IPv4 only
    ndp = [e for e in static["gateway_ndp"]]
    assert sorted(ipaddress.IPv6Address(e.key("gateway_addr").value) for e in ndp) == [
        ipaddress.IPv6Address("2001:db8:1::1"),
        ipaddress.IPv6Address("2001:db8:3::1"),
    ]
    steering = static["vip_steering6"]
    assert len(steering) == 64
    assert {e.action.param("classifier") for e in steering if e.action} == {
        int(ipaddress.IPv6Address("2001:db8:3::10"))
    }
    assert [e.key("vip_port").value for e in static["vip_close6"]] == [80]
    # An IPv4-only topology asks for empty IPv6 tables, so reconciling removes leftovers.
    v4 = load_topology(TOPOLOGIES / "large.yaml")
    assert all(not static_entries(v4, entities)[t] for t in ("routes6", "gateway_ndp"))
