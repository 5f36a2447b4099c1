"""The lab's namespaces: built from a topology, offloads off, and removed completely."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from needs import skip_reason
from paths import BASIC_TOPOLOGY

from controller.config.topology import load_topology
from controller.lab.netns import LabError, LabNames, create, destroy, list_namespaces

SKIP_REASON = skip_reason("ip", "ethtool")
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")



@pytest.fixture
def names() -> Iterator[LabNames]:
    lab = LabNames(f"pt{os.getpid() % 100000}")
    try:
        yield lab
    finally:
        destroy(lab)


def sh(namespace: str, *argv: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *argv], capture_output=True, text=True, check=True
    ).stdout


def test_basic_topology_is_built_and_removed(names: LabNames) -> None:
    topology = load_topology(BASIC_TOPOLOGY)
    create(topology, names)
    expected = {names.switch} | {names.host(h.name) for h in topology.hosts}
    assert expected <= set(list_namespaces())

    links = sh(names.switch, "ip", "-o", "link", "show")
    for host in topology.hosts:
        assert f"port{host.port}@" in links
    addresses = sh(names.host("b1"), "ip", "-o", "addr", "show")
    assert "10.0.2.11/24" in addresses and "10.0.0.100/32" in addresses
    assert "default via 10.0.1.1" in sh(names.host("c1"), "ip", "route")
    # Dual stack: IPv6 address (usable at once, no DAD), route and VIP; the
    # switch's ends of the veths carry no IPv6.
    addresses6 = sh(names.host("b1"), "ip", "-6", "-o", "addr", "show")
    assert "2001:db8:2::11/64" in addresses6 and "2001:db8::100/128" in addresses6
    assert "tentative" not in addresses6
    assert "default via 2001:db8:1::1" in sh(names.host("c1"), "ip", "-6", "route")
    assert "2001:db8" not in sh(names.switch, "ip", "-6", "addr", "show")
    assert "inet6" not in sh(names.switch, "ip", "-6", "addr", "show", "dev", "port1")
    features = sh(names.host("c1"), "ethtool", "-k", "eth0")
    for line in ("tx-checksumming: off", "rx-checksumming: off",
                 "tcp-segmentation-offload: off", "generic-receive-offload: off"):
        assert line in features

    removed = destroy(names)
    assert set(removed) == expected
    assert not any(names.owns(ns) for ns in list_namespaces())


def test_refuses_to_build_over_leftovers(names: LabNames) -> None:
    subprocess.run(["ip", "netns", "add", names.host("stale")], check=True)
    with pytest.raises(LabError, match="still exist"):
        create(load_topology(BASIC_TOPOLOGY), names)


def test_switch_ports_receive_on_one_cpu(names: LabNames) -> None:
    """Frames of one port are processed by one CPU, so the lab never reorders a flow."""
    create(load_topology(BASIC_TOPOLOGY), names)
    mask = sh(names.switch, "cat", "/sys/class/net/port1/queues/rx-0/rps_cpus")
    assert int(mask.strip().replace(",", ""), 16) == 1
