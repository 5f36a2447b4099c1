"""PTF tests of the forwarder on a running switch (p4sim or bmv2), over
veths, programmed through controller.p4rt. Each class proves one behaviour."""

from __future__ import annotations

import random

from forwarder_base import (
    BACKENDS,
    CLIENT_IP,
    CLIENT_MAC,
    CLIENT_PORT,
    CONNECTION_END,
    VIP,
    ForwarderTest,
    arp_request,
    classifier_packets,
    client_tcp,
    encapsulated,
    routed_to,
    switch_mac,
)
from scapy.layers.inet import ICMP, IP, TCP, IPOption_Router_Alert
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet

from controller.p4rt import NotPrimaryError, P4RuntimeClient, Update

B1_PORT = BACKENDS["b1"][2]
B2_PORT = BACKENDS["b2"][2]


class RoutingRewritesMacsAndDecrementsTtl(ForwarderTest):
    def runTest(self) -> None:
        packet = client_tcp(dst=BACKENDS["b1"][0], payload=b"hello")
        self.send(CLIENT_PORT, packet)
        self.expect(routed_to(packet, "b1"), B1_PORT)
        self.send(CLIENT_PORT, client_tcp(dst=BACKENDS["b1"][0], ttl=1))
        self.send(CLIENT_PORT, client_tcp(dst="192.0.2.1"))  # no route
        self.expect_nothing()


class ArpForGatewayIsAnswered(ForwarderTest):
    def runTest(self) -> None:
        self.send(CLIENT_PORT, arp_request("10.0.1.1"))
        reply = Ether(src="02:aa:00:00:00:01", dst=CLIENT_MAC) / ARP(
            op=2, hwsrc="02:aa:00:00:00:01", psrc="10.0.1.1", hwdst=CLIENT_MAC, pdst=CLIENT_IP
        )
        self.expect(reply, CLIENT_PORT)
        self.expect_nothing()


class VipMissGoesToOneClassifierPerConnection(ForwarderTest):
    def runTest(self) -> None:
        used = set()
        for sport in range(41000, 41016):
            syn = client_tcp(sport, 80, flags="S")
            self.send(CLIENT_PORT, syn)
            port = self.expect_one_of(classifier_packets(syn))
            data = client_tcp(sport, 80, payload=b"GET /")
            self.send(CLIENT_PORT, data)
            self.expect(classifier_packets(data)[port], port)
            used.add(port)
        self.assertEqual(len(used), 2, "both classifiers should get connections")


class EncapRewritesToBackendExactBytes(ForwarderTest):
    FLOWS = (
        (40000, 80, 0x00010002, "b1"),
        (40001, 80, 0xFFFFFFFF, "b2"),
        (1024, 443, 0x80000001, "b1"),
        (65535, 80, 0x00000000, "b2"),
    )

    def runTest(self) -> None:
        self.client.insert(*(self.encap_entry(s, d, f, b) for s, d, f, b in self.FLOWS))
        for sport, dport, flow_id, backend in self.FLOWS:
            packet = client_tcp(sport, dport, payload=b"GET / HTTP/1.1\r\n\r\n")
            self.send(CLIENT_PORT, packet)
            self.expect(encapsulated(packet, flow_id, backend), BACKENDS[backend][2])
        self.expect_nothing()


class EncapChecksumsOverPayloadSizesAndTcpOptions(ForwarderTest):
    def runTest(self) -> None:
        rng = random.Random(1624)
        self.client.insert(self.encap_entry(40000, 80, 0xCAFEF00D, "b2"))
        options = [
            [],
            [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("WScale", 7)],
            [("NOP", None), ("NOP", None), ("Timestamp", (0xFFFFFFFF, 5))],
        ]
        sizes = [0, 1, 2, 3, 1459, 1460, *rng.sample(range(4, 1459), 14)]
        for size in sizes:
            for tcp_options in options:
                # Keep the frame within the veths' 1500-byte MTU.
                option_bytes = len(bytes(TCP(options=tcp_options))) - 20
                payload = rng.randbytes(min(size, 1460 - option_bytes))
                packet = client_tcp(40000, 80, payload=payload, options=tcp_options)
                self.send(CLIENT_PORT, packet)
                self.expect(encapsulated(packet, 0xCAFEF00D, "b2"), B2_PORT)
        self.expect_nothing()


class DeletingEntryRestoresClassifierPath(ForwarderTest):
    def runTest(self) -> None:
        packet = client_tcp(40000, 80, payload=b"data")
        self.send(CLIENT_PORT, packet)
        classifier = self.expect_one_of(classifier_packets(packet))
        entry = self.encap_entry(40000, 80, 0x01020304, "b1")
        self.client.insert(entry)
        self.send(CLIENT_PORT, packet)
        self.expect(encapsulated(packet, 0x01020304, "b1"), B1_PORT)
        self.client.delete(entry)
        self.send(CLIENT_PORT, packet)
        self.expect(classifier_packets(packet)[classifier], classifier)
        self.expect_nothing()


class CountersReadBackThroughP4Runtime(ForwarderTest):
    def runTest(self) -> None:
        mine, other = self.encap_entry(40000, 80, 1, "b1"), self.encap_entry(40001, 80, 2, "b1")
        self.client.insert(mine, other)
        sizes = (0, 100, 1000)
        for size in sizes:
            packet = client_tcp(40000, 80, payload=bytes(size))
            self.send(CLIENT_PORT, packet)
            self.expect(encapsulated(packet, 1, "b1"), B1_PORT)
        counted = self.client.read_direct_counter(mine)
        self.assertEqual(counted.packets, 3)
        self.assertEqual(
            counted.bytes, sum(len(client_tcp(40000, 80, payload=bytes(s))) for s in sizes)
        )
        self.assertEqual(self.client.read_direct_counter(other).packets, 0)


class FinAndRstSendTheCloseDigest(ForwarderTest):
    def runTest(self) -> None:
        self.client.enable_digest(CONNECTION_END)
        try:
            self.client.insert(self.encap_entry(40000, 80, 0xABCD0001, "b1"))
            for flags, bits in (("FA", 0x11), ("R", 0x04)):
                packet = client_tcp(40000, 80, flags=flags)
                self.send(CLIENT_PORT, packet)
                self.expect(encapsulated(packet, 0xABCD0001, "b1"), B1_PORT)
                digest = self.client.receive_digest(timeout=5)
                self.assertIsNotNone(digest, f"no digest for {flags}")
                assert digest is not None
                self.assertEqual(
                    digest.as_dicts(),
                    [
                        {
                            "client_addr": 0x0A00010A,
                            "vip": 0x0A000064,
                            "client_port": 40000,
                            "vip_port": 80,
                            "flow_id": 0xABCD0001,
                            "tcp_flags": bits,
                        }
                    ],
                )
            self.send(CLIENT_PORT, client_tcp(40000, 80, flags="PA", payload=b"x"))
            self.expect(
                encapsulated(client_tcp(40000, 80, flags="PA", payload=b"x"), 0xABCD0001, "b1"),
                B1_PORT,
            )
            self.assertIsNone(self.client.receive_digest(timeout=0.5))
        finally:
            self.client.delete(self.entities.digest_entry(CONNECTION_END))


class IdleEntryIsReported(ForwarderTest):
    def runTest(self) -> None:
        entry = self.encap_entry(40000, 80, 9, "b1", idle_timeout_ns=300_000_000)
        self.client.insert(entry)
        packet = client_tcp(40000, 80)
        self.send(CLIENT_PORT, packet)
        self.expect(encapsulated(packet, 9, "b1"), B1_PORT)
        notification = self.client.receive_idle_timeout(timeout=10)
        self.assertIsNotNone(notification, "no idle-timeout notification")
        assert notification is not None
        self.assertEqual([e.match for e in notification.entries], [entry.match])


class MalformedInputFollowsTheStatedRules(ForwarderTest):
    def runTest(self) -> None:
        self.client.insert(self.encap_entry(40000, 80, 0x11112222, "b1"))
        ether = Ether(src=CLIENT_MAC, dst=switch_mac(CLIENT_PORT))
        dropped = [
            bytes(ether / IP(dst=BACKENDS["b1"][0]))[:26],  # truncated IPv4
            bytes(ether / IP(src=CLIENT_IP, dst=VIP, proto=6) / bytes(8)),  # truncated TCP
            ether / IP(src=CLIENT_IP, dst=BACKENDS["b1"][0], version=6) / TCP(),
            ether / IP(src=CLIENT_IP, dst=BACKENDS["b1"][0], chksum=0x1234) / TCP(),
            client_tcp(40000, 80, ttl=0),
            ether / IPv6(src="fd00::1", dst="fd00::2") / TCP(),  # no IPv6 route
        ]
        options_to_vip = client_tcp(40000, 80)
        options_to_vip[IP].options = [IPOption_Router_Alert()]
        fragment_to_vip = client_tcp(40000, 80, payload=b"part")
        fragment_to_vip[IP].flags = "MF"
        for packet in [*dropped, options_to_vip, fragment_to_vip]:
            self.send(CLIENT_PORT, packet)
        self.expect_nothing()

        options_elsewhere = client_tcp(dst=BACKENDS["b1"][0])
        options_elsewhere[IP].options = [IPOption_Router_Alert()]
        self.send(CLIENT_PORT, options_elsewhere)
        self.expect(routed_to(options_elsewhere, "b1"), B1_PORT)

        ping = ether / IP(src=CLIENT_IP, dst=VIP) / ICMP()
        self.send(CLIENT_PORT, ping)
        self.expect_one_of(classifier_packets(ping))
        self.expect_nothing()


class PacketOutAndPacketIn(ForwarderTest):
    def runTest(self) -> None:
        frame = bytes(client_tcp(dst="192.0.2.1", ttl=1))
        self.client.send_packet(self.entities.packet_out(frame, egress_port=B2_PORT))
        self.expect(frame, B2_PORT)
        request = arp_request("10.0.1.77")
        self.send(CLIENT_PORT, request)
        packet_in = self.client.receive_packet(timeout=5)
        self.assertIsNotNone(packet_in, "no packet-in for ARP the switch does not answer")
        assert packet_in is not None
        self.assertEqual(packet_in.get("ingress_port"), CLIENT_PORT)
        self.assertEqual(packet_in.payload[: len(bytes(request))], bytes(request))
        self.expect_nothing()


class NonPrimaryClientCannotWrite(ForwarderTest):
    def runTest(self) -> None:
        backup = P4RuntimeClient(
            self.client.address,
            device_id=self.client.device_id,
            election_id=1,
            p4info=self.client.index,
        )
        try:
            self.assertFalse(backup.connect())
            with self.assertRaises(NotPrimaryError):
                backup.write([Update.insert(self.encap_entry(40000, 80, 1, "b1"))])
        finally:
            backup.close()


def backend_tcp(sport: int, dport: int, flags: str, src: str = VIP) -> Packet:
    """A back-end's segment from the VIP straight to the client (direct server return)."""
    _, mac, port = BACKENDS["b1"]
    return (
        Ether(src=mac, dst=switch_mac(port))
        / IP(src=src, dst=CLIENT_IP, ttl=64, id=1)
        / TCP(sport=sport, dport=dport, flags=flags, seq=2000, ack=1000)
    )


class BackendCloseAndReopenedTupleSendTheCloseDigest(ForwarderTest):
    """The VIP side's FIN and RST to a client are routed and reported (flow id
    0: the controller finds the flow by its connection); a SYN that hits a
    handed-off connection's entry goes to a classifier and is reported with
    that entry's flow id; other VIP-side segments and sources report nothing."""

    def runTest(self) -> None:
        vip_close = self.entities.table_entry(
            "vip_close", {"vip": VIP, "vip_port": 80}, "note_vip_close", {}
        )
        self.client.insert(vip_close)
        self.client.enable_digest(CONNECTION_END)

        def reported(sport: int, flow_id: int, bits: int) -> None:
            digest = self.client.receive_digest(timeout=5)
            self.assertIsNotNone(digest, f"no digest for flags {bits:#x}")
            assert digest is not None
            self.assertEqual(
                digest.as_dicts(),
                [{"client_addr": 0x0A00010A, "vip": 0x0A000064, "client_port": sport,
                  "vip_port": 80, "flow_id": flow_id, "tcp_flags": bits}],
            )  # fmt: skip

        try:
            for sport, (flags, bits) in enumerate((("R", 0x04), ("FA", 0x11)), start=40000):
                packet = backend_tcp(80, sport, flags)
                self.send(B1_PORT, packet)
                self.expect(routed_to(packet, "client"), CLIENT_PORT)
                reported(sport, 0, bits)
            quiet = [
                backend_tcp(80, 40002, "PA"),  # data: no end
                backend_tcp(81, 40003, "R"),  # another port of the VIP: no service
                backend_tcp(80, 40004, "R", src=BACKENDS["b1"][0]),  # not from the VIP
            ]
            for packet in quiet:
                self.send(B1_PORT, packet)
                self.expect(routed_to(packet, "client"), CLIENT_PORT)
            self.assertIsNone(self.client.receive_digest(timeout=0.5))

            self.client.insert(self.encap_entry(40010, 80, 0xABCD0002, "b1"))
            syn = client_tcp(40010, 80, flags="S")  # a new connection on a mapped 4-tuple
            self.send(CLIENT_PORT, syn)
            reported(40010, 0xABCD0002, 0x02)  # and dropped: expect_nothing below
            data = client_tcp(40010, 80, flags="A")  # the entry itself is the controller's
            self.send(CLIENT_PORT, data)
            self.expect(encapsulated(data, 0xABCD0002, "b1"), B1_PORT)
            self.expect_nothing()
        finally:
            self.client.delete(self.entities.digest_entry(CONNECTION_END))
