"""PTF tests of the forwarder's IPv6 path on a running switch (p4sim or bmv2):
routing with the hop limit, neighbour advertisements for the gateway
addresses, VIP steering, the encap_map6 rewrite with its TCP checksum, the
malformed-input rules, the connection-end digest and the idle timeout.
Expected frames are built by scapy from scratch (checksums included)."""

from __future__ import annotations

import ipaddress
import random

from forwarder_base import (
    BACKENDS,
    CLASSIFIERS,
    CLIENT_MAC,
    CLIENT_PORT,
    HOSTS,
    ForwarderTest,
    switch_mac,
)
from scapy.layers.inet import TCP
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from controller.p4rt import TableEntry, Update

# The IPv6 address of each PTF host (same ports and MACs as the IPv4 ones).
HOSTS6 = {
    "client": "2001:db8:1::10",
    "b1": "2001:db8:2::11",
    "b2": "2001:db8:2::12",
    "k1": "2001:db8:3::10",
    "k2": "2001:db8:3::11",
}
CLIENT6 = HOSTS6["client"]
VIP6 = "2001:db8::100"
TUNNEL_SRC6 = "2001:db8:2::1"
GATEWAYS6 = {"2001:db8:1::1": "02:aa:00:00:00:01", "2001:db8:2::1": "02:aa:00:00:00:02"}
CONNECTION_END6 = "connection_end6_t"
B1_PORT = BACKENDS["b1"][2]
B2_PORT = BACKENDS["b2"][2]


class Forwarder6Test(ForwarderTest):
    """ForwarderTest with the IPv6 side of the lab installed as well."""

    def setUp(self) -> None:
        super().setUp()
        try:
            self._lab_setup6()
        except BaseException:
            self.tearDown()  # not called by unittest when setUp fails
            raise

    def _lab_setup6(self) -> None:
        e = self.entities
        updates = []
        for name, ip6 in HOSTS6.items():
            _, mac, port = HOSTS[name]
            updates.append(
                e.table_entry(
                    "routes6",
                    {"dst_addr": f"{ip6}/128"},
                    "set_next_hop6",
                    {"port": port, "src_mac": switch_mac(port), "dst_mac": mac},
                )
            )
        for address, mac in GATEWAYS6.items():
            updates.append(
                e.table_entry(
                    "gateway_ndp", {"gateway_addr": address}, "answer_ndp", {"gateway_mac": mac}
                )
            )
        buckets = 2 ** self.client.index.table("vip_steering6").field("bucket").bitwidth
        classifiers = [HOSTS6[name] for name in CLASSIFIERS]
        for bucket in range(buckets):
            updates.append(
                e.table_entry(
                    "vip_steering6",
                    {"vip": VIP6, "bucket": bucket},
                    "steer_to_classifier6",
                    {"classifier": classifiers[bucket * len(classifiers) // buckets]},
                )
            )
        self.client.write([Update.insert(u) for u in updates])

    def encap6_entry(
        self, sport: int, dport: int, flow_id: int, backend: str, idle_timeout_ns: int = 0
    ) -> TableEntry:
        return self.entities.table_entry(
            "encap_map6",
            {"ipv6_src": CLIENT6, "ipv6_dst": VIP6, "tcp_sport": sport, "tcp_dport": dport},
            "encap_to_backend6",
            {"flow_id": flow_id, "tunnel_src": TUNNEL_SRC6, "backend": HOSTS6[backend]},
            idle_timeout_ns=idle_timeout_ns,
        )


def client6(*layers: Packet, dst: str = VIP6, hlim: int = 64) -> Packet:
    packet: Packet = Ether(src=CLIENT_MAC, dst=switch_mac(CLIENT_PORT)) / IPv6(
        src=CLIENT6, dst=dst, hlim=hlim
    )
    for layer in layers:
        packet = packet / layer
    return packet


def tcp6(
    sport: int = 40000,
    dport: int = 80,
    *,
    dst: str = VIP6,
    flags: str = "A",
    payload: bytes = b"",
    options: list[object] | None = None,
    hlim: int = 64,
) -> Packet:
    segment = TCP(sport=sport, dport=dport, flags=flags, seq=1000, ack=2000, options=options or [])
    return client6(segment / payload, dst=dst, hlim=hlim)


def routed6(packet: Packet, host: str) -> bytes:
    _, mac, port = HOSTS[host]
    expected = Ether(bytes(packet))
    expected[Ether].src, expected[Ether].dst = switch_mac(port), mac
    expected[IPv6].hlim -= 1
    return bytes(expected)


def encapsulated6(packet: Packet, flow_id: int, backend: str) -> bytes:
    _, mac, port = HOSTS[backend]
    expected = Ether(bytes(packet))
    expected[Ether].src, expected[Ether].dst = switch_mac(port), mac
    expected[IPv6].src, expected[IPv6].dst = TUNNEL_SRC6, HOSTS6[backend]
    expected[IPv6].hlim -= 1
    expected[TCP].sport, expected[TCP].dport = flow_id >> 16, flow_id & 0xFFFF
    del expected[TCP].chksum
    return bytes(expected)


def classifier_packets6(packet: Packet) -> dict[int, bytes]:
    return {port: routed6(packet, name) for name, (_, _, port) in CLASSIFIERS.items()}


def solicitation(target: str, *, option: bool = True) -> Packet:
    low = ipaddress.IPv6Address(target).packed[-3:]
    group = str(ipaddress.IPv6Address(b"\xff\x02" + bytes(9) + b"\x01\xff" + low))
    packet = (
        Ether(src=CLIENT_MAC, dst="33:33:ff:" + low.hex(":"))
        / IPv6(src=CLIENT6, dst=group, hlim=255)
        / ICMPv6ND_NS(tgt=target)
    )
    return packet / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT_MAC) if option else packet


class Ipv6RoutingDecrementsHopLimit(Forwarder6Test):
    def runTest(self) -> None:
        packet = tcp6(dst=HOSTS6["b1"], payload=b"hello")
        self.send(CLIENT_PORT, packet)
        self.expect(routed6(packet, "b1"), B1_PORT)
        self.send(CLIENT_PORT, tcp6(dst=HOSTS6["b1"], hlim=1))
        self.send(CLIENT_PORT, tcp6(dst="2001:db8:99::1"))  # no route
        self.expect_nothing()


class NeighbourSolicitationForGatewayIsAnswered(Forwarder6Test):
    def runTest(self) -> None:
        for gateway, mac in GATEWAYS6.items():
            for option in (True, False):
                self.send(CLIENT_PORT, solicitation(gateway, option=option))
                advert = (
                    Ether(src=mac, dst=CLIENT_MAC)
                    / IPv6(src=gateway, dst=CLIENT6, hlim=255)
                    / ICMPv6ND_NA(R=1, S=1, O=1, tgt=gateway)
                    / ICMPv6NDOptDstLLAddr(lladdr=mac)
                )
                self.expect(advert, CLIENT_PORT)
        request = solicitation("2001:db8:1::77")
        self.send(CLIENT_PORT, request)
        packet_in = self.client.receive_packet(timeout=5)
        self.assertIsNotNone(packet_in, "no packet-in for a solicitation not answered")
        assert packet_in is not None
        self.assertEqual(packet_in.get("ingress_port"), CLIENT_PORT)
        self.assertEqual(packet_in.payload[: len(bytes(request))], bytes(request))
        self.expect_nothing()


class Ipv6VipMissGoesToOneClassifierPerConnection(Forwarder6Test):
    def runTest(self) -> None:
        used = set()
        for sport in range(41000, 41016):
            syn = tcp6(sport, flags="S")
            self.send(CLIENT_PORT, syn)
            port = self.expect_one_of(classifier_packets6(syn))
            data = tcp6(sport, payload=b"GET /")
            self.send(CLIENT_PORT, data)
            self.expect(classifier_packets6(data)[port], port)
            used.add(port)
        self.assertEqual(len(used), 2, "both classifiers should get connections")
        ping = client6(ICMPv6EchoRequest())
        self.send(CLIENT_PORT, ping)
        self.expect_one_of(classifier_packets6(ping))
        self.expect_nothing()


class Encap6RewritesToBackendExactBytes(Forwarder6Test):
    FLOWS = (
        (40000, 80, 0x00010002, "b1"),
        (40001, 80, 0xFFFFFFFF, "b2"),
        (1024, 443, 0x80000001, "b1"),
        (65535, 80, 0x00000000, "b2"),
    )

    def runTest(self) -> None:
        self.client.insert(*(self.encap6_entry(s, d, f, b) for s, d, f, b in self.FLOWS))
        for sport, dport, flow_id, backend in self.FLOWS:
            packet = tcp6(sport, dport, payload=b"GET / HTTP/1.1\r\n\r\n")
            self.send(CLIENT_PORT, packet)
            self.expect(encapsulated6(packet, flow_id, backend), BACKENDS[backend][2])
        self.expect_nothing()


class Encap6ChecksumOverPayloadSizesAndTcpOptions(Forwarder6Test):
    def runTest(self) -> None:
        rng = random.Random(2460)
        self.client.insert(self.encap6_entry(40000, 80, 0xCAFEF00D, "b2"))
        options: list[list[object]] = [
            [],
            [("MSS", 1440), ("SAckOK", b""), ("Timestamp", (1, 0)), ("WScale", 7)],
        ]
        for size in [0, 1, 2, 3, 1400, *rng.sample(range(4, 1400), 6)]:
            for tcp_options in options:
                packet = tcp6(payload=rng.randbytes(size), options=tcp_options)
                self.send(CLIENT_PORT, packet)
                self.expect(encapsulated6(packet, 0xCAFEF00D, "b2"), B2_PORT)
        self.expect_nothing()


class Ipv6MalformedInputFollowsTheStatedRules(Forwarder6Test):
    def runTest(self) -> None:
        self.client.insert(self.encap6_entry(40000, 80, 0x11112222, "b1"))
        segment = TCP(sport=40000, dport=80, flags="A")
        dropped = [
            bytes(tcp6())[:40],  # truncated IPv6
            bytes(tcp6())[:60],  # truncated TCP
            Ether(src=CLIENT_MAC, dst=switch_mac(CLIENT_PORT), type=0x86DD)
            / IPv6(src=CLIENT6, dst=HOSTS6["b1"], version=4)
            / TCP(),
            tcp6(hlim=0),
            client6(IPv6ExtHdrDestOpt(), segment),  # extension header to a VIP
            client6(IPv6ExtHdrFragment(m=1), segment),
        ]
        for packet in dropped:
            self.send(CLIENT_PORT, packet)
        self.expect_nothing()
        elsewhere = client6(IPv6ExtHdrDestOpt(), segment, dst=HOSTS6["b1"])
        self.send(CLIENT_PORT, elsewhere)
        self.expect(routed6(elsewhere, "b1"), B1_PORT)
        self.expect_nothing()


class Ipv6FinAndRstSendTheCloseDigest(Forwarder6Test):
    def runTest(self) -> None:
        self.client.enable_digest(CONNECTION_END6)
        try:
            self.client.insert(self.encap6_entry(40000, 80, 0xABCD0001, "b1"))
            for flags, bits in (("FA", 0x11), ("R", 0x04)):
                packet = tcp6(flags=flags)
                self.send(CLIENT_PORT, packet)
                self.expect(encapsulated6(packet, 0xABCD0001, "b1"), B1_PORT)
                digest = self.client.receive_digest(timeout=5)
                self.assertIsNotNone(digest, f"no digest for {flags}")
                assert digest is not None
                self.assertEqual(
                    digest.as_dicts(),
                    [
                        {
                            "client_addr": int(ipaddress.IPv6Address(CLIENT6)),
                            "vip": int(ipaddress.IPv6Address(VIP6)),
                            "client_port": 40000,
                            "vip_port": 80,
                            "flow_id": 0xABCD0001,
                            "tcp_flags": bits,
                        }
                    ],
                )
            data = tcp6(flags="PA", payload=b"x")
            self.send(CLIENT_PORT, data)
            self.expect(encapsulated6(data, 0xABCD0001, "b1"), B1_PORT)
            self.assertIsNone(self.client.receive_digest(timeout=0.5))
        finally:
            self.client.delete(self.entities.digest_entry(CONNECTION_END6))


class Ipv6IdleEntryIsReported(Forwarder6Test):
    def runTest(self) -> None:
        entry = self.encap6_entry(40000, 80, 9, "b1", idle_timeout_ns=300_000_000)
        self.client.insert(entry)
        packet = tcp6()
        self.send(CLIENT_PORT, packet)
        self.expect(encapsulated6(packet, 9, "b1"), B1_PORT)
        notification = self.client.receive_idle_timeout(timeout=10)
        self.assertIsNotNone(notification, "no idle-timeout notification")
        assert notification is not None
        self.assertEqual([e.match for e in notification.entries], [entry.match])
