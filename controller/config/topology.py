"""Topologies: the YAML file a user writes, checked into typed values.

A topology is one switch and the hosts on its ports. Every mistake a user can
make in the file (unknown key, duplicate port, address outside the host's
subnet, a VIP served by a host that is not a classifier) is reported with the
file and the key path that holds it, before anything is created: the lab never
builds half a topology from a file it only half understood.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.config.yaml_reader import YamlReader, load_yaml

ROLES = ("client", "classifier", "backend", "controller")
TARGETS = ("p4sim", "bmv2")


class TopologyError(Exception):
    """A topology file that cannot be used; the message names file and key."""


@dataclass(frozen=True)
class Host:
    name: str
    role: str
    port: int
    interface: ipaddress.IPv4Interface  # the host's address with its prefix
    gateway: ipaddress.IPv4Address  # the switch's address on this host's subnet
    mac: str


@dataclass(frozen=True)
class Vip:
    address: ipaddress.IPv4Address
    port: int
    classifiers: tuple[str, ...]
    policy: Path | None


@dataclass(frozen=True)
class Switch:
    target: str
    program: Path
    cpu_port: int
    forwarder_address: ipaddress.IPv4Address
    mac: str


@dataclass(frozen=True)
class Topology:
    name: str
    source: Path
    switch: Switch
    hosts: tuple[Host, ...]
    vips: tuple[Vip, ...]

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def hosts_with_role(self, role: str) -> tuple[Host, ...]:
        return tuple(host for host in self.hosts if host.role == role)

    @property
    def controller_host(self) -> Host | None:
        """The management host the controller runs on, if the topology has one."""
        found = self.hosts_with_role("controller")
        return found[0] if found else None


def _mac_for(index: int, kind: int) -> str:
    """Locally administered, stable MACs: 02:<kind>:00:00:<index>."""
    return f"02:{kind:02x}:00:00:{index >> 8 & 0xFF:02x}:{index & 0xFF:02x}"


def load_topology(path: str | Path) -> Topology:
    source = Path(path)
    document = load_yaml(source, TopologyError)
    read = YamlReader(source, TopologyError)
    top = read.mapping(document, "top level", {"name", "switch", "hosts", "vips"}, set())
    name = read.string(top["name"], "name")
    switch = _read_switch(read, top["switch"], source.parent)
    hosts = _read_hosts(read, top["hosts"], switch)
    vips = _read_vips(read, top["vips"], hosts, source.parent)
    return Topology(name, source, switch, hosts, vips)


def _read_switch(read: YamlReader, value: Any, base: Path) -> Switch:
    spec = read.mapping(value, "switch", {"program", "forwarder_address"}, {"target", "cpu_port"})
    target = spec.get("target", "p4sim")
    if target not in TARGETS:
        raise read.fail("switch.target", f"expected one of {', '.join(TARGETS)}, got {target!r}")
    program = (base / read.string(spec["program"], "switch.program")).resolve()
    cpu_port = read.integer(spec.get("cpu_port", 255), "switch.cpu_port", 1, 510)
    forwarder = read.address(spec["forwarder_address"], "switch.forwarder_address")
    return Switch(target, program, cpu_port, forwarder, _mac_for(0, 0xAA))


def _read_hosts(read: YamlReader, value: Any, switch: Switch) -> tuple[Host, ...]:
    if not isinstance(value, list) or not value:
        raise read.fail("hosts", "expected a non-empty list of hosts")
    hosts: list[Host] = []
    names: set[str] = set()
    ports: dict[int, str] = {}
    for index, item in enumerate(value):
        where = f"hosts[{index}]"
        spec = read.mapping(item, where, {"name", "role", "port", "address", "gateway"}, {"mac"})
        name = read.string(spec["name"], f"{where}.name")
        if not name.isalnum() or len(name) > 8:
            raise read.fail(f"{where}.name", f"expected up to 8 letters or digits, got {name!r}")
        if name in names:
            raise read.fail(f"{where}.name", f"host {name!r} is defined twice")
        names.add(name)
        role = spec["role"]
        if role not in ROLES:
            raise read.fail(f"{where}.role", f"expected one of {', '.join(ROLES)}, got {role!r}")
        port = read.integer(spec["port"], f"{where}.port", 1, 510)
        if port == switch.cpu_port:
            raise read.fail(f"{where}.port", f"port {port} is the switch's CPU port")
        if port in ports:
            raise read.fail(f"{where}.port", f"port {port} is already used by host {ports[port]!r}")
        ports[port] = name
        interface = read.interface(spec["address"], f"{where}.address")
        gateway = read.address(spec["gateway"], f"{where}.gateway")
        if gateway not in interface.network or gateway == interface.ip:
            raise read.fail(
                f"{where}.gateway",
                f"{gateway} must be another address in the host's subnet {interface.network}",
            )
        # Real hosts keep their NIC's MAC; the lab sets the derived one.
        mac = read.mac(spec["mac"], f"{where}.mac") if "mac" in spec else _mac_for(port, 0x01)
        hosts.append(Host(name, role, port, interface, gateway, mac))
    controllers = [h.name for h in hosts if h.role == "controller"]
    if len(controllers) > 1:
        raise read.fail("hosts", f"at most one host may have role controller, got {controllers}")
    return tuple(hosts)


def _read_vips(
    read: YamlReader, value: Any, hosts: tuple[Host, ...], base: Path
) -> tuple[Vip, ...]:
    if not isinstance(value, list) or not value:
        raise read.fail("vips", "expected a non-empty list of VIPs")
    roles = {host.name: host.role for host in hosts}
    vips: list[Vip] = []
    for index, item in enumerate(value):
        where = f"vips[{index}]"
        spec = read.mapping(item, where, {"address", "port", "classifiers"}, {"policy"})
        address = read.address(spec["address"], f"{where}.address")
        port = read.integer(spec["port"], f"{where}.port", 1, 65535)
        classifiers = spec["classifiers"]
        if not isinstance(classifiers, list) or not classifiers:
            raise read.fail(f"{where}.classifiers", "expected a non-empty list of host names")
        for position, name in enumerate(classifiers):
            if roles.get(name) != "classifier":
                raise read.fail(
                    f"{where}.classifiers[{position}]",
                    f"{name!r} is not a host with role classifier",
                )
        policy = spec.get("policy")
        policy_path = (base / read.string(policy, f"{where}.policy")).resolve() if policy else None
        vips.append(Vip(address, port, tuple(classifiers), policy_path))
    return tuple(vips)
