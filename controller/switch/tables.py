"""What the forwarder should hold, and how to bring a switch there.

The static state (routes, gateway ARP, VIP steering) follows from the
topology; the `encap_map` entries follow from the flow table. Both are
reconciled the same way: read what the switch has, compare with what it
should have by match key, and delete, modify or insert the difference. So a
restarted controller, a backup taking over, or a switch that lost its state
all end in the same place, and nothing the controller does not know about
survives on the switch.

Tables, actions and fields are named as in p4src/README.md and resolved
through P4Info; no id is written here.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from controller.config.topology import Host, Topology
from controller.handoff.addresses import version
from controller.p4rt import EntityFactory, Exact, TableEntry, Update
from controller.switch.flowstore import Flow

ROUTES = "routes"
GATEWAY_ARP = "gateway_arp"
VIP_STEERING = "vip_steering"
VIP_CLOSE = "vip_close"
ENCAP_MAP = "encap_map"
CONNECTION_END = "connection_end_t"
# The IPv6 twins (p4src/README.md).
ROUTES6 = "routes6"
GATEWAY_NDP = "gateway_ndp"
VIP_STEERING6 = "vip_steering6"
VIP_CLOSE6 = "vip_close6"
ENCAP_MAP6 = "encap_map6"
CONNECTION_END6 = "connection_end6_t"

Connection = tuple[str, int, str, int]  # client ip, client port, VIP, VIP port
MatchKey = tuple[str, tuple[tuple[str, object], ...]]


def host_names(topology: Topology) -> dict[str, str]:
    """Host name by address, IPv4 and IPv6 (for listings)."""
    names = {str(h.interface.ip): h.name for h in topology.hosts}
    names.update({str(h.interface6.ip): h.name for h in topology.hosts if h.interface6})
    return names


def next_hop(topology: Topology, switch: str, host: Host) -> tuple[int, str, str]:
    """(port, source MAC, destination MAC) of `switch`'s route to `host`: its
    own port to a host attached to it, else the link toward the host's
    switch, addressed to the neighbour switch at the other end."""
    mac = topology.switch_named(switch).mac
    if host.switch == switch:
        return host.port, mac, host.mac
    port, neighbour = topology.next_hop(switch, host.switch)
    return port, mac, topology.switch_named(neighbour).mac


def static_entries(
    topology: Topology, entities: EntityFactory, switch: str | None = None
) -> dict[str, list[TableEntry]]:
    """Routes to every host (a /32 each: back-ends share one subnet), gateway
    ARP for every gateway address, and each VIP's steering buckets spread
    round robin over its classifier hosts, and each VIP service's entry in
    vip_close (its FINs and RSTs to clients are reported). Of `switch` (by
    name; default the entry switch): a host on another switch is reached by
    the link toward it; steering is the same on every switch, so a steered
    packet (still addressed to the VIP) is steered alike on the way."""
    switch = switch or topology.switch.name
    mac = topology.switch_named(switch).mac
    routes = []
    for host in topology.hosts:
        port, src_mac, dst_mac = next_hop(topology, switch, host)
        routes.append(
            entities.table_entry(
                ROUTES,
                {"dst_addr": f"{host.interface.ip}/32"},
                "set_next_hop",
                {"port": port, "src_mac": src_mac, "dst_mac": dst_mac},
            )
        )
    gateways = sorted({host.gateway for host in topology.hosts})
    arp = [
        entities.table_entry(
            GATEWAY_ARP, {"gateway_addr": str(gw)}, "answer_arp", {"gateway_mac": mac}
        )
        for gw in gateways
    ]
    buckets = 1 << entities.index.table(VIP_STEERING).field("bucket").bitwidth
    steering = []
    for vip in topology.vips:
        for bucket in range(buckets):
            classifier = topology.host(vip.classifiers[bucket % len(vip.classifiers)])
            steering.append(
                entities.table_entry(
                    VIP_STEERING,
                    {"vip": str(vip.address), "bucket": bucket},
                    "steer_to_classifier",
                    {"classifier": str(classifier.interface.ip)},
                )
            )
    close = [
        entities.table_entry(
            VIP_CLOSE, {"vip": str(vip.address), "vip_port": vip.port}, "note_vip_close", {}
        )
        for vip in topology.vips
    ]
    return {
        ROUTES: routes,
        GATEWAY_ARP: arp,
        VIP_STEERING: steering,
        VIP_CLOSE: close,
        **static_entries6(topology, entities, switch),
    }


def static_entries6(
    topology: Topology, entities: EntityFactory, switch: str | None = None
) -> dict[str, list[TableEntry]]:
    """The IPv6 side of a dual-stack topology, as `static_entries`: a /128
    route to every host with an IPv6 address, neighbour advertisements for
    every IPv6 gateway, and steering and vip_close6 for every VIP with an
    IPv6 address (spread over its classifiers' IPv6 addresses in the same
    order as the IPv4 buckets). Empty tables for an IPv4-only topology."""
    switch = switch or topology.switch.name
    mac = topology.switch_named(switch).mac
    routes = []
    for host in topology.hosts:
        if host.interface6 is None:
            continue
        port, src_mac, dst_mac = next_hop(topology, switch, host)
        routes.append(
            entities.table_entry(
                ROUTES6,
                {"dst_addr": f"{host.interface6.ip}/128"},
                "set_next_hop6",
                {"port": port, "src_mac": src_mac, "dst_mac": dst_mac},
            )
        )
    gateways = sorted({host.gateway6 for host in topology.hosts if host.gateway6 is not None})
    ndp = [
        entities.table_entry(
            GATEWAY_NDP, {"gateway_addr": str(gw)}, "answer_ndp", {"gateway_mac": mac}
        )
        for gw in gateways
    ]
    buckets = 1 << entities.index.table(VIP_STEERING6).field("bucket").bitwidth
    steering = []
    close = []
    for vip in topology.vips:
        if vip.address6 is None:
            continue
        for bucket in range(buckets):
            classifier = topology.host(vip.classifiers[bucket % len(vip.classifiers)])
            assert classifier.interface6 is not None  # checked when the topology was read
            steering.append(
                entities.table_entry(
                    VIP_STEERING6,
                    {"vip": str(vip.address6), "bucket": bucket},
                    "steer_to_classifier6",
                    {"classifier": str(classifier.interface6.ip)},
                )
            )
        close.append(
            entities.table_entry(
                VIP_CLOSE6, {"vip": str(vip.address6), "vip_port": vip.port}, "note_vip_close6", {}
            )
        )
    return {ROUTES6: routes, GATEWAY_NDP: ndp, VIP_STEERING6: steering, VIP_CLOSE6: close}


ENCAP_TABLES = (ENCAP_MAP, ENCAP_MAP6)


def is_ipv6(address: str) -> bool:
    return version(address) == 6


def encap_table(flow: Flow) -> str:
    """encap_map for an IPv4 connection, encap_map6 for an IPv6 one."""
    return ENCAP_MAP6 if is_ipv6(flow.client_ip) else ENCAP_MAP


def is_encap_table(name: str) -> bool:
    """Whether a table name (full or short) is encap_map or encap_map6."""
    return name.rsplit(".", 1)[-1] in ENCAP_TABLES


def encap_entry(entities: EntityFactory, flow: Flow, idle_timeout_ns: int) -> TableEntry:
    """The encap_map entry of one handed-off connection (encap_map6 for IPv6)."""
    return _encap_entry(
        entities, flow.client_ip, flow.client_port, flow.vip, flow.vip_port,
        flow.flow_id, flow.forwarder, flow.backend, idle_timeout_ns,
    )  # fmt: skip


# A connection's entry is built for its insert, the counter Reads at its end
# and its delete, within seconds: cached, it is built once. Entries are
# immutable; a new pipeline brings a new EntityFactory, hence new entries.
@functools.lru_cache(maxsize=4096)
def _encap_entry(
    entities: EntityFactory, client_ip: str, client_port: int, vip: str, vip_port: int,
    flow_id: int, forwarder: str, backend: str, idle_timeout_ns: int,
) -> TableEntry:  # fmt: skip
    v6 = is_ipv6(client_ip)
    return entities.table_entry(
        ENCAP_MAP6 if v6 else ENCAP_MAP,
        {
            "ipv6_src" if v6 else "ipv4_src": client_ip,
            "ipv6_dst" if v6 else "ipv4_dst": vip,
            "tcp_sport": client_port,
            "tcp_dport": vip_port,
        },
        "encap_to_backend6" if v6 else "encap_to_backend",
        {"flow_id": flow_id, "tunnel_src": forwarder, "backend": backend},
        idle_timeout_ns=idle_timeout_ns,
    )


def _exact(entry: TableEntry, name: str) -> int:
    match = entry.key(name)
    if not isinstance(match, Exact):
        raise ValueError(f"{entry}: key {name} is not an exact match")
    return match.value


def connection_of(entry: TableEntry) -> Connection:
    """The client -> VIP connection an encap_map or encap_map6 entry steers."""
    if entry.key("ipv6_src") is not None:
        return (
            str(ipaddress.IPv6Address(_exact(entry, "ipv6_src"))),
            _exact(entry, "tcp_sport"),
            str(ipaddress.IPv6Address(_exact(entry, "ipv6_dst"))),
            _exact(entry, "tcp_dport"),
        )
    return (
        str(ipaddress.IPv4Address(_exact(entry, "ipv4_src"))),
        _exact(entry, "tcp_sport"),
        str(ipaddress.IPv4Address(_exact(entry, "ipv4_dst"))),
        _exact(entry, "tcp_dport"),
    )


def connection_of_digest(digest: str, record: dict[str, int]) -> Connection:
    """The connection a connection_end_t or connection_end6_t record names;
    the digest's name says the address family (an IPv6 address may be a
    small number)."""
    ip: type[ipaddress.IPv4Address | ipaddress.IPv6Address] = (
        ipaddress.IPv6Address if digest.endswith(CONNECTION_END6) else ipaddress.IPv4Address
    )
    return (
        str(ip(record["client_addr"])),
        record["client_port"],
        str(ip(record["vip"])),
        record["vip_port"],
    )


def flow_id_of(entry: TableEntry) -> int | None:
    return entry.action.param("flow_id") if entry.action is not None else None


def match_key(entry: TableEntry) -> MatchKey:
    return entry.table, tuple((name, match) for name, match in entry.match)


@dataclass
class SyncPlan:
    """The updates that turn what a switch holds into what it should hold."""

    delete: list[TableEntry] = field(default_factory=list)
    modify: list[TableEntry] = field(default_factory=list)
    insert: list[TableEntry] = field(default_factory=list)
    kept: int = 0

    def updates(self) -> list[Update]:
        # Deletes first: a table near its size limit makes room before inserts.
        return (
            [Update.delete(e) for e in self.delete]
            + [Update.modify(e) for e in self.modify]
            + [Update.insert(e) for e in self.insert]
        )


def plan_sync(current: Iterable[TableEntry], desired: Iterable[TableEntry]) -> SyncPlan:
    """Compare by match key; an entry whose action or idle timeout differs is
    modified in place, so traffic never sees it missing."""
    wanted = {match_key(e): e for e in desired}
    plan = SyncPlan()
    seen = set()
    for entry in current:
        if entry.is_default:
            continue
        key = match_key(entry)
        target = wanted.get(key)
        if target is None:
            plan.delete.append(entry)
            continue
        seen.add(key)
        same = (entry.action, entry.idle_timeout_ns) == (target.action, target.idle_timeout_ns)
        if same:
            plan.kept += 1
        else:
            plan.modify.append(target)
    plan.insert = [e for key, e in wanted.items() if key not in seen]
    return plan
