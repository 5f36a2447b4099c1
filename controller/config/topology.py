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

Several switches: instead of `switch:` a topology may list `switches:` (each
with a name, target, program and CPU port), `links:` between their ports, and
the shared tunnel source (`forwarder_address`, `forwarder_address6`) at the
top level, since every switch rewrites a client's packets the same way. Each
host names the switch it is attached to (`switch:`). The switch the clients
are attached to is the *entry switch*: the one whose encap_map holds the
handed-off connections; the others route (the tunnelled packet is addressed
to its back-end). Clients on several switches are refused for now.
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
    switch: str = "switch"  # the name of the switch the host is attached to


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
    name: str = "switch"  # `switch:` topologies have one switch, named "switch"


@dataclass(frozen=True)
class Link:
    """A cable between two switches' ports (`links:` of a multi-switch topology)."""

    a: str
    a_port: int
    b: str
    b_port: int

    def end(self, switch: str) -> tuple[int, str, int] | None:
        """(own port, peer switch, peer port) seen from `switch`, or None."""
        if switch == self.a:
            return self.a_port, self.b, self.b_port
        if switch == self.b:
            return self.b_port, self.a, self.a_port
        return None


@dataclass(frozen=True)
class Topology:
    name: str
    source: Path
    switch: Switch  # the entry switch (the only one of a `switch:` topology)
    hosts: tuple[Host, ...]
    vips: tuple[Vip, ...]
    switches: tuple[Switch, ...] = ()  # every switch, `switch` among them
    links: tuple[Link, ...] = ()
    multi_switch: bool = False  # written with `switches:` (names, sockets per switch)

    @property
    def all_switches(self) -> tuple[Switch, ...]:
        return self.switches or (self.switch,)

    def switch_named(self, name: str) -> Switch:
        for switch in self.all_switches:
            if switch.name == name:
                return switch
        raise KeyError(name)

    def p4runtime_socket(self, switch: str) -> str:
        """The name of `switch`'s P4Runtime Unix socket in a run directory:
        `p4runtime.sock` for the one switch of a `switch:` topology,
        `p4runtime-NAME.sock` for each of several."""
        return f"p4runtime-{switch}.sock" if self.multi_switch else "p4runtime.sock"

    def hosts_on(self, switch: str) -> tuple[Host, ...]:
        return tuple(host for host in self.hosts if host.switch == switch)

    def next_hop(self, switch: str, toward: str) -> tuple[int, str]:
        """(port on `switch`, neighbour switch) of the first link on a
        shortest path from `switch` to `toward` (breadth first, links in
        file order, so the choice is stable)."""
        first: dict[str, tuple[int, str]] = {}
        frontier = [switch]
        seen = {switch}
        while frontier:
            following = []
            for here in frontier:
                for link in self.links:
                    end = link.end(here)
                    if end is None or end[1] in seen:
                        continue
                    seen.add(end[1])
                    first[end[1]] = first.get(here, (end[0], end[1]))
                    following.append(end[1])
            frontier = following
        if toward not in first:
            raise KeyError(f"no path from switch {switch} to {toward}")
        return first[toward]

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
    if isinstance(document, dict) and "switches" in document:
        return _load_multi(read, document, source)
    top = read.mapping(document, "top level", {"name", "switch", "hosts", "vips"}, set())
    name = read.string(top["name"], "name")
    switch = _read_switch(read, top["switch"], source.parent)
    hosts = _read_hosts(read, top["hosts"], {switch.name: switch})
    vips = _read_vips(read, top["vips"], hosts, source.parent, switch)
    return Topology(name, source, switch, hosts, vips, (switch,))


def _load_multi(read: YamlReader, document: dict[str, Any], source: Path) -> Topology:
    """A topology with `switches:` and `links:` (see the module's docstring)."""
    top = read.mapping(
        document, "top level", {"name", "switches", "links", "forwarder_address", "hosts", "vips"},
        {"forwarder_address6"},
    )  # fmt: skip
    name = read.string(top["name"], "name")
    forwarder = read.address(top["forwarder_address"], "forwarder_address")
    forwarder6 = (
        read.address6(top["forwarder_address6"], "forwarder_address6")
        if "forwarder_address6" in top
        else None
    )
    value = top["switches"]
    if not isinstance(value, list) or len(value) < 2:
        raise read.fail("switches", "expected a list of two or more switches")
    switches: list[Switch] = []
    for index, item in enumerate(value):
        where = f"switches[{index}]"
        spec = read.mapping(item, where, {"name", "program"}, {"target", "cpu_port"})
        switch_name = read.string(spec["name"], f"{where}.name")
        if not switch_name.isalnum() or len(switch_name) > 8:
            raise read.fail(
                f"{where}.name", f"expected up to 8 letters or digits, got {switch_name!r}"
            )
        if any(s.name == switch_name for s in switches):
            raise read.fail(f"{where}.name", f"switch {switch_name!r} is defined twice")
        target = spec.get("target", "p4sim")
        if target not in TARGETS:
            raise read.fail(
                f"{where}.target", f"expected one of {', '.join(TARGETS)}, got {target!r}"
            )
        program = (source.parent / read.string(spec["program"], f"{where}.program")).resolve()
        cpu_port = read.integer(spec.get("cpu_port", 255), f"{where}.cpu_port", 1, 510)
        switches.append(Switch(
            target, program, cpu_port, forwarder, _mac_for(index, 0xAA), forwarder6, switch_name
        ))  # fmt: skip
    by_name = {s.name: s for s in switches}
    used: dict[tuple[str, int], str] = {}
    links = _read_links(read, top["links"], by_name, used)
    hosts = _read_hosts(read, top["hosts"], by_name, used)
    host_names = {host.name for host in hosts}
    for index, switch in enumerate(switches):
        if switch.name in host_names:
            raise read.fail(f"switches[{index}].name", f"{switch.name!r} is also a host's name")
    client_switches = sorted({h.switch for h in hosts if h.role == "client"})
    if len(client_switches) > 1:
        first = next(i for i, h in enumerate(hosts) if h.role == "client"
                     and h.switch != client_switches[0])  # fmt: skip
        raise read.fail(
            f"hosts[{first}].switch",
            f"clients on several switches ({', '.join(client_switches)}) are not supported: "
            "each connection's entry is held by one entry switch, the clients' switch",
        )
    entry = by_name[client_switches[0]] if client_switches else switches[0]
    topology = Topology(name, source, entry, hosts, (), tuple(switches), links, True)
    for switch in switches:
        for other in switches:
            if other is not switch:
                try:
                    topology.next_hop(switch.name, other.name)
                except KeyError:
                    raise read.fail(
                        "links", f"switch {other.name!r} cannot be reached from {switch.name!r}"
                    ) from None
    vips = _read_vips(read, top["vips"], hosts, source.parent, entry)
    return Topology(name, source, entry, hosts, vips, tuple(switches), links, True)


def _read_links(
    read: YamlReader, value: Any, switches: dict[str, Switch], used: dict[tuple[str, int], str]
) -> tuple[Link, ...]:
    if not isinstance(value, list) or not value:
        raise read.fail("links", "expected a non-empty list of links between switches")
    links: list[Link] = []
    for index, item in enumerate(value):
        where = f"links[{index}]"
        spec = read.mapping(item, where, {"a", "a_port", "b", "b_port"})
        ends = []
        for side in ("a", "b"):
            switch = spec[side]
            if switch not in switches:
                raise read.fail(f"{where}.{side}", f"{switch!r} is not a switch of this topology")
            port = read.integer(spec[f"{side}_port"], f"{where}.{side}_port", 1, 510)
            if port == switches[switch].cpu_port:
                raise read.fail(f"{where}.{side}_port", f"port {port} is {switch}'s CPU port")
            if (switch, port) in used:
                raise read.fail(
                    f"{where}.{side}_port",
                    f"port {port} of {switch} is already used by {used[(switch, port)]}",
                )
            used[(switch, port)] = f"link {index}"
            ends.append((switch, port))
        if ends[0][0] == ends[1][0]:
            raise read.fail(f"{where}.b", "a link joins two different switches")
        links.append(Link(ends[0][0], ends[0][1], ends[1][0], ends[1][1]))
    return tuple(links)


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


def _read_hosts(
    read: YamlReader,
    value: Any,
    switches: dict[str, Switch],
    used: dict[tuple[str, int], str] | None = None,
) -> tuple[Host, ...]:
    """The hosts; with several `switches` each names its own (`switch:`)."""
    if not isinstance(value, list) or not value:
        raise read.fail("hosts", "expected a non-empty list of hosts")
    multi = len(switches) > 1
    hosts: list[Host] = []
    names: set[str] = set()
    ports: dict[tuple[str, int], str] = dict(used or {})
    for index, item in enumerate(value):
        where = f"hosts[{index}]"
        spec = read.mapping(
            item,
            where,
            {"name", "role", "port", "address", "gateway", *(("switch",) if multi else ())},
            {"mac", "address6", "gateway6"},
        )
        if multi:
            if spec["switch"] not in switches:
                raise read.fail(
                    f"{where}.switch", f"{spec['switch']!r} is not a switch of this topology"
                )
            switch = switches[spec["switch"]]
        else:
            switch = next(iter(switches.values()))
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
        if (switch.name, port) in ports:
            by = ports[(switch.name, port)]
            on = f" of {switch.name}" if multi else ""
            raise read.fail(
                f"{where}.port",
                f"port {port}{on} is already used by "
                + (by if by.startswith("link ") else f"host {by!r}"),
            )
        ports[(switch.name, port)] = name
        interface = read.interface(spec["address"], f"{where}.address")
        gateway = read.address(spec["gateway"], f"{where}.gateway")
        if gateway not in interface.network or gateway == interface.ip:
            raise read.fail(
                f"{where}.gateway",
                f"{gateway} must be another address in the host's subnet {interface.network}",
            )
        interface6, gateway6 = _read_ipv6(read, spec, where)
        # Real hosts keep their NIC's MAC; the lab sets the derived one.
        mac = (
            read.mac(spec["mac"], f"{where}.mac")
            if "mac" in spec
            else _mac_for(port, 0x01 | list(switches).index(switch.name) << 4)
        )
        hosts.append(
            Host(name, role, port, interface, gateway, mac, interface6, gateway6, switch.name)
        )
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
