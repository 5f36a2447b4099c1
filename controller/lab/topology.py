"""Lab topologies: the YAML file a user writes, checked into typed values.

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

import yaml

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


class _Reader:
    """Walks the parsed YAML and names `file: key.path` in every error."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> TopologyError:
        return TopologyError(f"{self.source}: {where}: {message}")

    def mapping(
        self, value: Any, where: str, required: set[str], optional: set[str]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        unknown = sorted(set(value) - required - optional)
        if unknown:
            allowed = ", ".join(sorted(required | optional))
            raise self.fail(where, f"unknown key {unknown[0]!r} (allowed: {allowed})")
        missing = sorted(required - set(value))
        if missing:
            raise self.fail(where, f"missing key {missing[0]!r}")
        return value

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"expected a non-empty string, got {value!r}")
        return value

    def integer(self, value: Any, where: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(where, f"expected an integer in {low}..{high}, got {value!r}")
        return value

    def address(self, value: Any, where: str) -> ipaddress.IPv4Address:
        try:
            return ipaddress.IPv4Address(self.string(value, where))
        except ipaddress.AddressValueError:
            raise self.fail(where, f"expected an IPv4 address, got {value!r}") from None

    def interface(self, value: Any, where: str) -> ipaddress.IPv4Interface:
        text = self.string(value, where)
        expected = f"expected ADDRESS/PREFIX such as 10.0.1.10/24, got {text!r}"
        if "/" not in text:
            raise self.fail(where, expected)
        try:
            return ipaddress.IPv4Interface(text)
        except ValueError:
            raise self.fail(where, expected) from None


def _mac_for(index: int, kind: int) -> str:
    """Locally administered, stable MACs: 02:<kind>:00:00:<index>."""
    return f"02:{kind:02x}:00:00:{index >> 8 & 0xFF:02x}:{index & 0xFF:02x}"


def load_topology(path: str | Path) -> Topology:
    source = Path(path)
    try:
        document = yaml.safe_load(source.read_text())
    except OSError as error:
        raise TopologyError(f"{source}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise TopologyError(f"{source}: not valid YAML: {error}") from None
    read = _Reader(source)
    top = read.mapping(document, "top level", {"name", "switch", "hosts", "vips"}, set())
    name = read.string(top["name"], "name")
    switch = _read_switch(read, top["switch"], source.parent)
    hosts = _read_hosts(read, top["hosts"], switch)
    vips = _read_vips(read, top["vips"], hosts, source.parent)
    return Topology(name, source, switch, hosts, vips)


def _read_switch(read: _Reader, value: Any, base: Path) -> Switch:
    spec = read.mapping(value, "switch", {"program", "forwarder_address"}, {"target", "cpu_port"})
    target = spec.get("target", "p4sim")
    if target not in TARGETS:
        raise read.fail("switch.target", f"expected one of {', '.join(TARGETS)}, got {target!r}")
    program = (base / read.string(spec["program"], "switch.program")).resolve()
    cpu_port = read.integer(spec.get("cpu_port", 255), "switch.cpu_port", 1, 510)
    forwarder = read.address(spec["forwarder_address"], "switch.forwarder_address")
    return Switch(target, program, cpu_port, forwarder, _mac_for(0, 0xAA))


def _read_hosts(read: _Reader, value: Any, switch: Switch) -> tuple[Host, ...]:
    if not isinstance(value, list) or not value:
        raise read.fail("hosts", "expected a non-empty list of hosts")
    hosts: list[Host] = []
    names: set[str] = set()
    ports: dict[int, str] = {}
    for index, item in enumerate(value):
        where = f"hosts[{index}]"
        spec = read.mapping(item, where, {"name", "role", "port", "address", "gateway"}, set())
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
        hosts.append(Host(name, role, port, interface, gateway, _mac_for(port, 0x01)))
    controllers = [h.name for h in hosts if h.role == "controller"]
    if len(controllers) > 1:
        raise read.fail("hosts", f"at most one host may have role controller, got {controllers}")
    return tuple(hosts)


def _read_vips(read: _Reader, value: Any, hosts: tuple[Host, ...], base: Path) -> tuple[Vip, ...]:
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
