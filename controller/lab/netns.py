"""Build a topology as Linux network namespaces and veth pairs, and remove it.

One namespace per host plus one for the switch; each host's `eth0` is a veth
whose peer sits in the switch namespace as `port<N>`, the interface the switch
opens for port N. Offloads are turned off on both ends: a software switch
reading veths with AF_PACKET would otherwise see unfinished checksums and
64 KiB GSO frames.

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

from controller.config.topology import Host, Topology

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
        run(["ip", "netns", "add", names.switch])
        run(in_netns(names.switch, ["ip", "link", "set", "lo", "up"]))
        for host in topology.hosts:
            _create_host(topology, names, host)
    except BaseException:
        destroy(names)
        raise


def _create_host(topology: Topology, names: LabNames, host: Host) -> None:
    namespace = names.host(host.name)
    run(["ip", "netns", "add", namespace])
    host_end = f"{names.prefix[:6]}h{host.port}"
    switch_end = f"{names.prefix[:6]}s{host.port}"
    run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", switch_end])
    run(["ip", "link", "set", host_end, "netns", namespace, "name", "eth0"])
    port = names.switch_port(host.port)
    run(["ip", "link", "set", switch_end, "netns", names.switch, "name", port])
    run(in_netns(names.switch, ["sysctl", "-qw", f"net.ipv6.conf.{port}.disable_ipv6=1"]))
    run(in_netns(names.switch, ["ip", "link", "set", port, "up"]))
    offloads_off(port, names.switch)
    _one_receive_cpu(names.switch, port)

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
