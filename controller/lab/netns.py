"""Build a topology as Linux network namespaces and veth pairs, and remove it.

One namespace per host plus one for the switch; each host's `eth0` is a veth
whose peer sits in the switch namespace as `port<N>`, the interface the switch
opens for port N. Offloads are turned off on both ends: a software switch
reading veths with AF_PACKET would otherwise see unfinished checksums and
64 KiB GSO frames. With several switches (a `switches:` topology) each
switch has its own namespace (`PREFIX-sw-NAME`), each host's peer sits in its
own switch's, and each link between switches is a veth with a `port<N>` end
in each of the two.

Dual-stack hosts get their IPv6 address and default route too (duplicate
address detection off: the lab's addresses are unique by construction, and
an address in DAD's tentative state cannot be used for a second or so), and
classifiers and back-ends get each VIP's IPv6 address on lo. The switch's
own ends of the veths carry no IPv6 (their kernel would otherwise send
router solicitations and DAD probes straight to the hosts).

Everything is named from one prefix, so `destroy` finds what a crashed run
left behind by name alone; no state file is needed to clean up.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from controller.config.topology import Host, Link, Topology

OFFLOADS = ("rx", "tx", "tso", "gso", "gro")


class LabError(Exception):
    """A lab step failed; the message holds the command and what it printed."""


def run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise LabError(f"`{' '.join(argv)}` failed ({result.returncode}): {detail}")
    return result


def in_netns(namespace: str, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", namespace, *argv]


@dataclass(frozen=True)
class LabNames:
    """Every name one lab instance uses, derived from its prefix."""

    prefix: str

    @property
    def switch(self) -> str:
        return f"{self.prefix}-sw"

    def host(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def switch_of(self, topology: Topology, name: str | None = None) -> str:
        """The namespace of switch `name` (default the entry switch): the
        one switch namespace of a `switch:` topology, `PREFIX-sw-NAME` for
        each switch of several."""
        if not topology.multi_switch:
            return self.switch
        return f"{self.prefix}-sw-{name or topology.switch.name}"

    @staticmethod
    def switch_port(port: int) -> str:
        return f"port{port}"

    def owns(self, namespace: str) -> bool:
        return namespace.startswith(f"{self.prefix}-")


def list_namespaces() -> list[str]:
    output = run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in output.splitlines() if line.strip()]


def create(topology: Topology, names: LabNames) -> None:
    """Create every namespace, link, address and route; on failure, undo all."""
    leftovers = [ns for ns in list_namespaces() if names.owns(ns)]
    if leftovers:
        raise LabError(
            f"namespaces of a previous lab with prefix {names.prefix!r} still exist "
            f"({', '.join(leftovers)}): run `handoff lab down` first"
        )
    try:
        for switch in topology.all_switches:
            namespace = names.switch_of(topology, switch.name)
            run(["ip", "netns", "add", namespace])
            run(in_netns(namespace, ["ip", "link", "set", "lo", "up"]))
        for host in topology.hosts:
            _create_host(topology, names, host)
        for index, link in enumerate(topology.links):
            _create_link(topology, names, index, link)
    except BaseException:
        destroy(names)
        raise


def _switch_end(switch_ns: str, temporary: str, port: int) -> None:
    """Move a veth end into a switch namespace as `port<N>`, up, without
    IPv6, offloads off, one receive CPU."""
    name = LabNames.switch_port(port)
    run(["ip", "link", "set", temporary, "netns", switch_ns, "name", name])
    run(in_netns(switch_ns, ["sysctl", "-qw", f"net.ipv6.conf.{name}.disable_ipv6=1"]))
    run(in_netns(switch_ns, ["ip", "link", "set", name, "up"]))
    offloads_off(name, switch_ns)
    _one_receive_cpu(switch_ns, name)


def _create_link(topology: Topology, names: LabNames, index: int, link: Link) -> None:
    """A veth between two switches' namespaces, `port<N>` at each end."""
    a_end, b_end = f"{names.prefix[:6]}l{index}a", f"{names.prefix[:6]}l{index}b"
    run(["ip", "link", "add", a_end, "type", "veth", "peer", "name", b_end])
    _switch_end(names.switch_of(topology, link.a), a_end, link.a_port)
    _switch_end(names.switch_of(topology, link.b), b_end, link.b_port)


def _create_host(topology: Topology, names: LabNames, host: Host) -> None:
    namespace = names.host(host.name)
    run(["ip", "netns", "add", namespace])
    # Temporary names in the root namespace: by port with one switch, by
    # host name with several (ports repeat across switches); 15 characters.
    tag = host.name if topology.multi_switch else str(host.port)
    host_end = f"{names.prefix[:6]}h{tag}"
    switch_end = f"{names.prefix[:6]}s{tag}"
    run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", switch_end])
    run(["ip", "link", "set", host_end, "netns", namespace, "name", "eth0"])
    _switch_end(names.switch_of(topology, host.switch), switch_end, host.port)

    def ns(*argv: str) -> None:
        run(in_netns(namespace, argv))

    ns("ip", "link", "set", "lo", "up")
    ns("ip", "link", "set", "eth0", "address", host.mac)
    ns("ip", "addr", "add", str(host.interface), "dev", "eth0")
    if host.interface6 is not None:
        for scope in ("all", "default", "eth0"):
            ns("sysctl", "-qw", f"net.ipv6.conf.{scope}.accept_dad=0")
        ns("ip", "-6", "addr", "add", str(host.interface6), "dev", "eth0", "nodad")
    ns("ip", "link", "set", "eth0", "up")
    ns("ip", "route", "add", "default", "via", str(host.gateway), "dev", "eth0")
    if host.gateway6 is not None:
        ns("ip", "-6", "route", "add", "default", "via", str(host.gateway6), "dev", "eth0")
    offloads_off("eth0", namespace)
    if host.role in ("classifier", "backend"):
        for vip in topology.vips:
            ns("ip", "addr", "add", f"{vip.address}/32", "dev", "lo")
            if vip.address6 is not None and host.interface6 is not None:
                ns("ip", "-6", "addr", "add", f"{vip.address6}/128", "dev", "lo")
        # The VIP lives on lo; replies leave by eth0 with the VIP as source,
        # and packets to the VIP arrive on eth0: strict reverse-path
        # filtering would drop them.
        ns("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
        ns("sysctl", "-qw", "net.ipv4.conf.eth0.rp_filter=0")


def offloads_off(interface: str, namespace: str | None = None) -> None:
    """Turn off checksum offload, TSO, GSO and GRO: a software switch reading
    the interface must see finished checksums and wire-sized frames."""
    argv = ["ethtool", "-K", interface]
    for feature in OFFLOADS:
        argv += [feature, "off"]
    run(argv if namespace is None else in_netns(namespace, argv))


def _one_receive_cpu(namespace: str, interface: str) -> None:
    """Steer the interface's received frames to one CPU (RPS).

    A veth hands a frame to its peer on the CPU that sent it. Two segments a
    host sends back to back from different CPUs (the kernel's ACK from
    softirq, the application's FIN from its thread) land in two per-CPU
    queues and can reach the switch swapped; the client then answers the
    stale one and the closed back-end sends a RST. One link of a real switch
    does not reorder a flow, so the lab's links must not either.
    """
    path = f"/sys/class/net/{interface}/queues/rx-0/rps_cpus"
    run(in_netns(namespace, ["sh", "-c", f"echo 1 > {path}"]))


def destroy(names: LabNames) -> list[str]:
    """Kill what runs in the lab's namespaces and delete them; returns their names."""
    removed = []
    for namespace in list_namespaces():
        if not names.owns(namespace):
            continue
        pids = run(["ip", "netns", "pids", namespace], check=False).stdout.split()
        if pids:
            run(["kill", "-KILL", *pids], check=False)
        run(["ip", "netns", "del", namespace])
        removed.append(namespace)
    return removed
