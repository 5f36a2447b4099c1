"""Topologies: the YAML file a user writes, checked into typed values.

A topology is one switch and the hosts on its ports. Every mistake a user can
make in the file (unknown key, duplicate port, address outside the host's
subnet, a VIP served by a host that is not a classifier) is reported with the
file and the key path that holds it, before anything is created: the lab never
builds half a topology from a file it only half understood.

Topologies may be dual stack: a host may have an IPv6 address and gateway
(`address6`, `gateway6`) beside its IPv4 ones, the switch an IPv6 tunnel
source (`forwarder_address6`), and a VIP an IPv6 address (`address6`) under
which the same service (port, classifiers, policy) is reachable. A VIP with
an IPv6 address needs `forwarder_address6` and IPv6 addresses on its
classifiers.
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
    interface6: ipaddress.IPv6Interface | None = None  # dual stack: the IPv6 address
    gateway6: ipaddress.IPv6Address | None = None  # the switch's IPv6 address on the subnet


@dataclass(frozen=True)
class Vip:
    address: ipaddress.IPv4Address
    port: int
    classifiers: tuple[str, ...]
    policy: Path | None
    address6: ipaddress.IPv6Address | None = None  # the same service over IPv6

    @property
    def addresses(self) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
        """The VIP's addresses, IPv4 first."""
        return (self.address,) if self.address6 is None else (self.address, self.address6)


@dataclass(frozen=True)
class Switch:
    target: str
    program: Path
    cpu_port: int
    forwarder_address: ipaddress.IPv4Address
    mac: str
    # The source address of tunnelled IPv6 packets (never assigned to a host).
    forwarder_address6: ipaddress.IPv6Address | None = None


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
    vips = _read_vips(read, top["vips"], hosts, source.parent, switch)
    return Topology(name, source, switch, hosts, vips)


def _read_switch(read: YamlReader, value: Any, base: Path) -> Switch:
    spec = read.mapping(
        value,
        "switch",
        {"program", "forwarder_address"},
        {"target", "cpu_port", "forwarder_address6"},
    )
    target = spec.get("target", "p4sim")
    if target not in TARGETS:
        raise read.fail("switch.target", f"expected one of {', '.join(TARGETS)}, got {target!r}")
    program = (base / read.string(spec["program"], "switch.program")).resolve()
    cpu_port = read.integer(spec.get("cpu_port", 255), "switch.cpu_port", 1, 510)
    forwarder = read.address(spec["forwarder_address"], "switch.forwarder_address")
    forwarder6 = (
        read.address6(spec["forwarder_address6"], "switch.forwarder_address6")
        if "forwarder_address6" in spec
        else None
    )
    return Switch(target, program, cpu_port, forwarder, _mac_for(0, 0xAA), forwarder6)


def _read_hosts(read: YamlReader, value: Any, switch: Switch) -> tuple[Host, ...]:
    if not isinstance(value, list) or not value:
        raise read.fail("hosts", "expected a non-empty list of hosts")
    hosts: list[Host] = []
    names: set[str] = set()
    ports: dict[int, str] = {}
    for index, item in enumerate(value):
        where = f"hosts[{index}]"
        spec = read.mapping(
            item,
            where,
            {"name", "role", "port", "address", "gateway"},
            {"mac", "address6", "gateway6"},
        )
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
        interface6, gateway6 = _read_ipv6(read, spec, where)
        # Real hosts keep their NIC's MAC; the lab sets the derived one.
        mac = read.mac(spec["mac"], f"{where}.mac") if "mac" in spec else _mac_for(port, 0x01)
        hosts.append(Host(name, role, port, interface, gateway, mac, interface6, gateway6))
    controllers = [h.name for h in hosts if h.role == "controller"]
    if len(controllers) > 1:
        raise read.fail("hosts", f"at most one host may have role controller, got {controllers}")
    return tuple(hosts)


def _read_ipv6(
    read: YamlReader, spec: dict[str, Any], where: str
) -> tuple[ipaddress.IPv6Interface | None, ipaddress.IPv6Address | None]:
    """A host's optional IPv6 address and gateway: both or neither."""
    if "address6" not in spec and "gateway6" not in spec:
        return None, None
    for key in ("address6", "gateway6"):
        if key not in spec:
            raise read.fail(f"{where}.{key}", "address6 and gateway6 go together")
    interface6 = read.interface6(spec["address6"], f"{where}.address6")
    gateway6 = read.address6(spec["gateway6"], f"{where}.gateway6")
    if gateway6 not in interface6.network or gateway6 == interface6.ip:
        raise read.fail(
            f"{where}.gateway6",
            f"{gateway6} must be another address in the host's subnet {interface6.network}",
        )
    return interface6, gateway6


def _read_vips(
    read: YamlReader, value: Any, hosts: tuple[Host, ...], base: Path, switch: Switch
) -> tuple[Vip, ...]:
    if not isinstance(value, list) or not value:
        raise read.fail("vips", "expected a non-empty list of VIPs")
    roles = {host.name: host.role for host in hosts}
    vips: list[Vip] = []
    for index, item in enumerate(value):
        where = f"vips[{index}]"
        spec = read.mapping(item, where, {"address", "port", "classifiers"}, {"policy", "address6"})
        address = read.address(spec["address"], f"{where}.address")
        address6 = (
            read.address6(spec["address6"], f"{where}.address6") if "address6" in spec else None
        )
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
        if address6 is not None:
            if switch.forwarder_address6 is None:
                raise read.fail(f"{where}.address6", "an IPv6 VIP needs switch.forwarder_address6")
            by_name = {host.name: host for host in hosts}
            for position, name in enumerate(classifiers):
                if by_name[name].interface6 is None:
                    raise read.fail(
                        f"{where}.classifiers[{position}]",
                        f"{name!r} serves an IPv6 VIP but has no address6",
                    )
        policy = spec.get("policy")
        policy_path = (base / read.string(policy, f"{where}.policy")).resolve() if policy else None
        vips.append(Vip(address, port, tuple(classifiers), policy_path, address6))
    return tuple(vips)
