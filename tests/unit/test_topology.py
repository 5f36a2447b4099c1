"""Topology files: what a user gets for a good file and for each kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from paths import TOPOLOGIES

from controller.config.topology import TopologyError, load_topology

GOOD = """
name: t
switch: {program: p.p4, forwarder_address: 10.0.0.1}
hosts:
  - {name: c1, role: client, port: 1, address: 10.0.1.10/24, gateway: 10.0.1.1}
  - {name: k1, role: classifier, port: 2, address: 10.0.3.10/24, gateway: 10.0.3.1}
vips:
  - {address: 10.0.0.100, port: 80, classifiers: [k1]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topo.yaml"
    path.write_text(text)
    return path


def test_shipped_topologies_load() -> None:
    basic = load_topology(TOPOLOGIES / "basic.yaml")
    assert [h.name for h in basic.hosts_with_role("backend")] == ["b1", "b2", "b3"]
    assert basic.vips[0].classifiers == ("k1",)
    assert basic.switch.target == "p4sim"


def test_defaults_and_values(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, GOOD))
    assert topo.switch.cpu_port == 255
    assert str(topo.host("c1").interface) == "10.0.1.10/24"
    assert topo.host("k1").mac != topo.host("c1").mac


def test_a_host_may_give_its_own_mac(tmp_path: Path) -> None:
    text = GOOD.replace("port: 1,", "port: 1, mac: 52:54:00:AB:CD:01,", 1)
    text = text.replace("port: 2,", 'port: 2, mac: "52:54:00:12:34:56",', 1)
    topo = load_topology(write(tmp_path, text))
    assert topo.host("c1").mac == "52:54:00:ab:cd:01"
    assert topo.host("k1").mac == "52:54:00:12:34:56"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("port: 2,", "port: 1,", "hosts[1].port: port 1 is already used by host 'c1'"),
        ("gateway: 10.0.3.1", "gateway: 10.0.9.1", "hosts[1].gateway: 10.0.9.1 must be"),
        ("role: client", "role: server", "hosts[0].role: expected one of"),
        ("classifiers: [k1]", "classifiers: [c1]", "vips[0].classifiers[0]: 'c1' is not"),
        ("name: t", "name: t\nextra: 1", "top level: unknown key 'extra'"),
        ("10.0.1.10/24", "10.0.1.10", "hosts[0].address: expected ADDRESS/PREFIX"),
        ("port: 80", "port: 70000", "vips[0].port: expected an integer in 1..65535"),
        ("port: 1,", "port: 1, mac: 01:00:5e:00:00:01,", "hosts[0].mac: expected a unicast MAC"),
        ("port: 1,", "port: 1, mac: 52:54:00:1g:34:56,", "hosts[0].mac: expected a unicast MAC"),
        ("port: 1,", "port: 1, mac: 52:54:00:12:34:56,", "hosts[0].mac: expected a MAC in quotes"),
    ],
)
def test_mistakes_name_file_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="cannot read"):
        load_topology(tmp_path / "missing.yaml")
    with pytest.raises(TopologyError, match="not valid YAML"):
        load_topology(write(tmp_path, "name: [unclosed"))


def test_large_topology_shares_the_vip_between_two_classifiers() -> None:
    large = load_topology(TOPOLOGIES / "large.yaml")
    assert large.vips[0].classifiers == ("k1", "k2")
    assert len(large.hosts_with_role("client")) == 3
    assert large.vips[0].policy == TOPOLOGIES / "policies" / "large.yaml"
