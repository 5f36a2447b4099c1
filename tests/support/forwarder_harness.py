"""The forwarder on p4sim's in-memory Switch, with the lab addresses, table
helpers by name, and packet builders and comparisons on scapy.

Used by tests/unit/test_forwarder_*.py and tests/fuzz. Addresses follow the default lab topology
(README): client 10.0.1.10, back-ends 10.0.2.11/12, classifiers on
10.0.3.0/24, VIP 10.0.0.100, and the forwarder's own tunnel address 10.0.2.1.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from paths import FORWARDER_P4
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet

from p4sim.compiler import CompiledProgram, compile_file
from p4sim.runtime.switch import Switch
from p4sim.runtime.tables import ActionCall, Exact, Lpm, TableEntry

CPU_PORT = 255
STEERING_BUCKETS = 64


@functools.cache
def forwarder_program() -> CompiledProgram:
    """Compiled once per test process: every test gets a fresh Switch of it."""
    return compile_file(FORWARDER_P4)


@dataclass(frozen=True)
class Host:
    name: str
    ip: str
    mac: str
    port: int

    @property
    def gateway_mac(self) -> str:
        """The switch's MAC on this host's port."""
        return f"02:aa:00:00:00:{self.port:02x}"


CLIENT = Host("client", "10.0.1.10", "02:00:00:00:01:10", 1)
BACKEND1 = Host("b1", "10.0.2.11", "02:00:00:00:02:11", 2)
BACKEND2 = Host("b2", "10.0.2.12", "02:00:00:00:02:12", 3)
CLASSIFIER1 = Host("k1", "10.0.3.10", "02:00:00:00:03:10", 4)
CLASSIFIER2 = Host("k2", "10.0.3.11", "02:00:00:00:03:11", 5)
HOSTS = (CLIENT, BACKEND1, BACKEND2, CLASSIFIER1, CLASSIFIER2)
VIP = "10.0.0.100"
TUNNEL_SRC = "10.0.2.1"
GATEWAYS = {
    "10.0.1.1": "02:aa:00:00:00:01",
    "10.0.2.1": "02:aa:00:00:00:02",
    "10.0.3.1": "02:aa:00:00:00:04",
}


def ip_int(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def mac_int(text: str) -> int:
    return int(text.replace(":", ""), 16)


class Forwarder:
    """A fresh forwarder pipeline plus helpers that program it by table and
    action name, as the controller would."""

    def __init__(self) -> None:
        self.switch = Switch(forwarder_program(), cpu_port=CPU_PORT)
        self._params = {a.name: tuple(p.name for p in a.params) for a in self.switch.schema.actions}

    # --- control plane

    def call(self, action: str, args: Mapping[str, int]) -> ActionCall:
        name = self.switch.resolve_action(action)
        params = self._params[name]
        assert set(args) == set(params), f"{name} takes {params}, got {sorted(args)}"
        return ActionCall(name, tuple(args[p] for p in params))

    def insert(
        self,
        table: str,
        matches: Sequence[Exact | Lpm],
        action: str,
        args: Mapping[str, int] | None = None,
        *,
        idle_timeout_ns: int = 0,
    ) -> TableEntry:
        entry = TableEntry(
            tuple(matches), self.call(action, args or {}), idle_timeout_ns=idle_timeout_ns
        )
        self.switch.resolve_table(table).insert(entry)
        return entry

    def add_route(self, prefix: str, host: Host) -> TableEntry:
        network = ipaddress.IPv4Network(prefix)
        return self.insert(
            "routes",
            [Lpm(int(network.network_address), network.prefixlen)],
            "set_next_hop",
            {"port": host.port, "src_mac": mac_int(host.gateway_mac), "dst_mac": mac_int(host.mac)},
        )

    def add_punt_route(self, prefix: str) -> TableEntry:
        network = ipaddress.IPv4Network(prefix)
        return self.insert(
            "routes", [Lpm(int(network.network_address), network.prefixlen)], "punt_to_cpu"
        )

    def add_gateway(self, address: str, mac: str) -> TableEntry:
        return self.insert(
            "gateway_arp", [Exact(ip_int(address))], "answer_arp", {"gateway_mac": mac_int(mac)}
        )

    def steer_vip(self, vip: str, classifiers: Sequence[Host]) -> None:
        """Every bucket of `vip` to a classifier: contiguous equal shares."""
        for bucket in range(STEERING_BUCKETS):
            host = classifiers[bucket * len(classifiers) // STEERING_BUCKETS]
            self.insert(
                "vip_steering",
                [Exact(ip_int(vip)), Exact(bucket)],
                "steer_to_classifier",
                {"classifier": ip_int(host.ip)},
            )

    def add_encap(
        self,
        client: str,
        vip: str,
        client_port: int,
        vip_port: int,
        flow_id: int,
        backend: Host,
        *,
        idle_timeout_ns: int = 0,
    ) -> TableEntry:
        return self.insert(
            "encap_map",
            [Exact(ip_int(client)), Exact(ip_int(vip)), Exact(client_port), Exact(vip_port)],
            "encap_to_backend",
            {"flow_id": flow_id, "tunnel_src": ip_int(TUNNEL_SRC), "backend": ip_int(backend.ip)},
            idle_timeout_ns=idle_timeout_ns,
        )

    def remove_encap(self, entry: TableEntry) -> None:
        self.switch.resolve_table("encap_map").delete(entry.matches)

    def lab_setup(self, *, steering: bool = True) -> Forwarder:
        """Host routes for every lab host, the gateways, and (unless told
        otherwise) the VIP on both classifiers."""
        for host in HOSTS:
            self.add_route(f"{host.ip}/32", host)
        for address, mac in GATEWAYS.items():
            self.add_gateway(address, mac)
        if steering:
            self.steer_vip(VIP, [CLASSIFIER1, CLASSIFIER2])
        return self

    # --- data plane

    def send_while_writing(
        self, port: int, frame: bytes | Packet, write: Callable[[], None], lookups_before: int
    ) -> tuple[list[tuple[int, bytes]], int]:
        """Send `frame`, running `write` (control-plane writes) once the
        packet has made `lookups_before` table lookups and before it makes
        another, as on a target whose pipeline runs while the controller
        writes (bmv2's threads, a hardware pipeline's stages). Returns what
        left the switch and how many lookups the packet made; a packet that
        made fewer saw none of the writes, which are made once it is through."""
        made = 0

        def before_lookup() -> None:
            nonlocal made
            if made == lookups_before:
                write()
            made += 1

        originals = {t: (t.lookup, t.lookup_one) for t in self.switch.tables.values()}
        for table, (lookup, lookup_one) in originals.items():
            table.lookup = lambda v, f=lookup: (before_lookup(), f(v))[1]  # type: ignore[method-assign]
            table.lookup_one = lambda v, f=lookup_one: (before_lookup(), f(v))[1]  # type: ignore[method-assign]
        try:
            out = self.send(port, frame)
        finally:
            for table, (lookup, lookup_one) in originals.items():
                table.lookup, table.lookup_one = lookup, lookup_one  # type: ignore[method-assign]
        if made <= lookups_before:
            write()
        return out, made

    def send(self, port: int, frame: bytes | Packet) -> list[tuple[int, bytes]]:
        return self.switch.process(port, bytes(frame))

    def send_one(self, port: int, frame: bytes | Packet) -> tuple[int, bytes]:
        out = self.send(port, frame)
        assert len(out) == 1, f"expected one packet out, got {len(out)}: {out!r}"
        return out[0]


def assert_restore_never_steers(
    fresh: Callable[[], Forwarder],
    restore: Callable[[Forwarder], None],
    frame: bytes | Packet,
    backend: Host,
) -> None:
    """For every point between the client's packet's table lookups (before
    the first and after the last too), a forwarder from `fresh` gets
    `restore`'s writes there: the packet leaves for `backend` or not at all,
    and once the writes are in it leaves for `backend`."""
    lookups_before = 0
    while True:
        fwd = fresh()
        out, lookups = fwd.send_while_writing(
            CLIENT.port, frame, lambda fwd=fwd: restore(fwd), lookups_before
        )
        assert [port for port, _ in out] in ([], [backend.port]), (
            f"writes after lookup {lookups_before} of {lookups}: {out}"
        )
        if lookups_before > lookups:
            break
        lookups_before += 1
    assert fwd.send_one(CLIENT.port, frame)[0] == backend.port


# ------------------------------------------------------------------ packets


def client_tcp(
    sport: int = 40000,
    dport: int = 80,
    *,
    src: str = CLIENT.ip,
    dst: str = VIP,
    flags: str = "A",
    payload: bytes = b"",
    options: Sequence[object] = (),
    ttl: int = 64,
    seq: int = 1000,
    ack: int = 2000,
) -> Packet:
    """A TCP segment from the client as it arrives at the switch."""
    return (
        Ether(src=CLIENT.mac, dst=CLIENT.gateway_mac)
        / IP(src=src, dst=dst, ttl=ttl, id=7)
        / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, options=list(options))
        / payload
    )


def client_udp(sport: int = 5000, dport: int = 53, *, dst: str = VIP) -> Packet:
    return (
        Ether(src=CLIENT.mac, dst=CLIENT.gateway_mac)
        / IP(src=CLIENT.ip, dst=dst, ttl=64)
        / UDP(sport=sport, dport=dport)
        / b"q"
    )


def routed_to(packet: Packet, host: Host) -> bytes:
    """`packet` as it should leave towards `host`: MACs rewritten, TTL one
    less, checksums recomputed from scratch by scapy."""
    expected = Ether(bytes(packet))
    expected[Ether].src = host.gateway_mac
    expected[Ether].dst = host.mac
    expected[IP].ttl -= 1
    del expected[IP].chksum
    return bytes(expected)


def encapsulated(packet: Packet, flow_id: int, backend: Host) -> bytes:
    """The handoff rewrite done by scapy, checksums recomputed from scratch:
    what the switch must emit byte for byte."""
    expected = Ether(bytes(packet))
    expected[Ether].src = backend.gateway_mac
    expected[Ether].dst = backend.mac
    expected[IP].src = TUNNEL_SRC
    expected[IP].dst = backend.ip
    expected[IP].ttl -= 1
    expected[TCP].sport = flow_id >> 16
    expected[TCP].dport = flow_id & 0xFFFF
    del expected[IP].chksum
    del expected[TCP].chksum
    return bytes(expected)


def arp_request(target: str, *, sender: Host = CLIENT) -> Packet:
    return Ether(src=sender.mac, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=sender.mac, psrc=sender.ip, hwdst="00:00:00:00:00:00", pdst=target
    )


def describe_difference(actual: bytes, expected: bytes) -> str:
    """Which fields differ, layer by layer, for a failing byte comparison."""
    lines = [f"lengths: got {len(actual)}, expected {len(expected)}"]
    layer_got: Packet | None = Ether(actual)
    layer_want: Packet | None = Ether(expected)
    while layer_got is not None and layer_want is not None:
        if type(layer_got) is not type(layer_want):
            lines.append(f"layer: got {layer_got.name}, expected {layer_want.name}")
            break
        for name in (f.name for f in layer_want.fields_desc):
            a, b = layer_got.getfieldval(name), layer_want.getfieldval(name)
            if a != b:
                lines.append(f"{layer_want.name}.{name}: got {a!r}, expected {b!r}")
        layer_got = layer_got.payload if layer_got.payload else None
        layer_want = layer_want.payload if layer_want.payload else None
    return "\n".join(lines)


def assert_frame(actual: bytes, expected: bytes) -> None:
    assert actual == expected, "frames differ:\n" + describe_difference(actual, expected)


def checksums_valid(frame: bytes) -> bool:
    """Whether the IPv4 header checksum and the TCP/UDP checksum of `frame`
    are what scapy computes from scratch over the whole packet."""
    packet = Ether(frame)
    recomputed = Ether(frame)
    del recomputed[IP].chksum
    for layer in (TCP, UDP):
        if layer in recomputed:
            del recomputed[layer].chksum
    return bytes(Ether(bytes(recomputed))) == bytes(packet)
