"""The forwarder's IPv6 path on p4sim, in memory: routing with the hop limit,
neighbour advertisements for the gateway addresses, VIP steering, the
encap_map6 rewrite with its TCP checksum, the malformed-input rules for
IPv6, connection-end digests and the P4Info names the controller uses.
Frames are compared byte for byte with what scapy builds from scratch."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

import pytest
from forwarder_harness import (
    BACKEND1,
    BACKEND2,
    CLASSIFIER1,
    CLASSIFIER2,
    CLIENT,
    CPU_PORT,
    STEERING_BUCKETS,
    Forwarder,
    Host,
    assert_frame,
    assert_restore_never_steers,
    client_tcp,
    forwarder_program,
    mac_int,
)
from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from p4sim.runtime.algorithms import HASH_ALGORITHMS, pack_fields
from p4sim.runtime.tables import Exact, Lpm, TableEntry


@dataclass(frozen=True)
class Host6:
    host: Host
    ip6: str


CLIENT6 = Host6(CLIENT, "2001:db8:1::10")
BACKEND1_6 = Host6(BACKEND1, "2001:db8:2::11")
BACKEND2_6 = Host6(BACKEND2, "2001:db8:2::12")
CLASSIFIER1_6 = Host6(CLASSIFIER1, "2001:db8:3::10")
CLASSIFIER2_6 = Host6(CLASSIFIER2, "2001:db8:3::11")
HOSTS6 = (CLIENT6, BACKEND1_6, BACKEND2_6, CLASSIFIER1_6, CLASSIFIER2_6)
VIP6 = "2001:db8::100"
TUNNEL_SRC6 = "2001:db8:2::1"
GATEWAYS6 = {"2001:db8:1::1": "02:aa:00:00:00:01", "2001:db8:2::1": "02:aa:00:00:00:02"}


def ip6_int(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


def setup6(fwd: Forwarder, *, steering: bool = True) -> Forwarder:
    """The IPv6 side of the lab: host routes, gateways and (unless told
    otherwise) the VIP on both classifiers."""
    for h in HOSTS6:
        net = ipaddress.IPv6Network(f"{h.ip6}/128")
        fwd.insert(
            "routes6",
            [Lpm(int(net.network_address), net.prefixlen)],
            "set_next_hop6",
            {
                "port": h.host.port,
                "src_mac": mac_int(h.host.gateway_mac),
                "dst_mac": mac_int(h.host.mac),
            },
        )
    for address, mac in GATEWAYS6.items():
        fwd.insert(
            "gateway_ndp", [Exact(ip6_int(address))], "answer_ndp", {"gateway_mac": mac_int(mac)}
        )
    if steering:
        steer_vip6(fwd)
    return fwd


def steer_vip6(fwd: Forwarder) -> None:
    classifiers = [CLASSIFIER1_6, CLASSIFIER2_6]
    for bucket in range(STEERING_BUCKETS):
        host = classifiers[bucket * len(classifiers) // STEERING_BUCKETS]
        fwd.insert(
            "vip_steering6",
            [Exact(ip6_int(VIP6)), Exact(bucket)],
            "steer_to_classifier6",
            {"classifier": ip6_int(host.ip6)},
        )


@pytest.fixture(name="fwd")
def fwd_fixture() -> Forwarder:
    return setup6(Forwarder().lab_setup())


def add_encap6(
    fwd: Forwarder,
    sport: int,
    dport: int,
    flow_id: int,
    backend: Host6,
    *,
    client: str = CLIENT6.ip6,
    idle_timeout_ns: int = 0,
) -> TableEntry:
    return fwd.insert(
        "encap_map6",
        [Exact(ip6_int(client)), Exact(ip6_int(VIP6)), Exact(sport), Exact(dport)],
        "encap_to_backend6",
        {
            "flow_id": flow_id,
            "tunnel_src": ip6_int(TUNNEL_SRC6),
            "backend": ip6_int(backend.ip6),
        },
        idle_timeout_ns=idle_timeout_ns,
    )


def client6(*layers: Packet, dst: str = VIP6, hlim: int = 64) -> Packet:
    packet: Packet = Ether(src=CLIENT.mac, dst=CLIENT.gateway_mac) / IPv6(
        src=CLIENT6.ip6, dst=dst, hlim=hlim
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


def routed6(packet: Packet, to: Host6) -> bytes:
    expected = Ether(bytes(packet))
    expected[Ether].src, expected[Ether].dst = to.host.gateway_mac, to.host.mac
    expected[IPv6].hlim -= 1
    return bytes(expected)


def encapsulated6(packet: Packet, flow_id: int, backend: Host6) -> bytes:
    """The rewrite done by scapy, the TCP checksum recomputed from scratch."""
    expected = Ether(bytes(packet))
    expected[Ether].src, expected[Ether].dst = backend.host.gateway_mac, backend.host.mac
    expected[IPv6].src, expected[IPv6].dst = TUNNEL_SRC6, backend.ip6
    expected[IPv6].hlim -= 1
    expected[TCP].sport, expected[TCP].dport = flow_id >> 16, flow_id & 0xFFFF
    del expected[TCP].chksum
    return bytes(expected)


def expected_classifier6(sport: int, dport: int, proto: int = 6) -> Host6:
    data = pack_fields(
        [ip6_int(CLIENT6.ip6), ip6_int(VIP6), proto, sport, dport], [128, 128, 8, 16, 16]
    )
    bucket = HASH_ALGORITHMS["crc16"](data) % STEERING_BUCKETS
    return [CLASSIFIER1_6, CLASSIFIER2_6][bucket * 2 // STEERING_BUCKETS]


def neighbour_solicitation(target: str, *, option: bool = True, hlim: int = 255) -> Packet:
    solicited = ipaddress.IPv6Address(target).packed[-3:]
    group = str(ipaddress.IPv6Address(b"\xff\x02" + bytes(9) + b"\x01\xff" + solicited))
    packet = Ether(src=CLIENT.mac, dst="33:33:ff:" + solicited.hex(":")) / IPv6(
        src=CLIENT6.ip6, dst=group, hlim=hlim
    ) / ICMPv6ND_NS(tgt=target)
    if option:
        packet = packet / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT.mac)
    return packet


def neighbour_advertisement(gateway: str) -> bytes:
    mac = GATEWAYS6[gateway]
    return bytes(
        Ether(src=mac, dst=CLIENT.mac)
        / IPv6(src=gateway, dst=CLIENT6.ip6, hlim=255)
        / ICMPv6ND_NA(R=1, S=1, O=1, tgt=gateway)
        / ICMPv6NDOptDstLLAddr(lladdr=mac)
    )


# --- routing


def test_routed_ipv6_packet_gets_next_hop_macs_and_one_less_hop_limit(fwd: Forwarder) -> None:
    packet = tcp6(dst=BACKEND1_6.ip6, payload=b"hello")
    port, frame = fwd.send_one(CLIENT.port, packet)
    assert port == BACKEND1.port
    assert_frame(frame, routed6(packet, BACKEND1_6))


def test_longest_ipv6_prefix_wins_and_no_route_drops(fwd: Forwarder) -> None:
    fwd.insert(
        "routes6",
        [Lpm(ip6_int("2001:db8:2::"), 64)],
        "set_next_hop6",
        {"port": 9, "src_mac": 1, "dst_mac": 2},
    )
    assert fwd.send_one(CLIENT.port, tcp6(dst=BACKEND2_6.ip6))[0] == BACKEND2.port  # /128
    assert fwd.send_one(CLIENT.port, tcp6(dst="2001:db8:2::99"))[0] == 9  # /64
    assert fwd.send(CLIENT.port, tcp6(dst="2001:db8:77::1")) == []


@pytest.mark.parametrize("hlim", [0, 1])
def test_expiring_hop_limit_is_dropped_even_for_a_migrated_connection(
    fwd: Forwarder, hlim: int
) -> None:
    add_encap6(fwd, 40000, 80, 5, BACKEND1_6)
    assert fwd.send(CLIENT.port, tcp6(hlim=hlim)) == []
    assert fwd.send(CLIENT.port, tcp6(dst=BACKEND1_6.ip6, hlim=hlim)) == []
    assert fwd.switch.drain_digests() == []


# --- neighbour discovery


@pytest.mark.parametrize("option", [True, False], ids=["with-source-lla", "without-option"])
@pytest.mark.parametrize("gateway", list(GATEWAYS6))
def test_solicitation_for_a_gateway_is_answered_with_an_advertisement(
    fwd: Forwarder, gateway: str, option: bool
) -> None:
    port, frame = fwd.send_one(CLIENT.port, neighbour_solicitation(gateway, option=option))
    assert port == CLIENT.port
    # scapy computes the ICMPv6 checksum of the expected frame from scratch.
    assert_frame(frame, neighbour_advertisement(gateway))


@pytest.mark.parametrize(
    "frame",
    [
        neighbour_solicitation("2001:db8:1::99"),  # not a gateway address
        neighbour_solicitation("2001:db8:1::1", hlim=64),  # not from the link
        client6(ICMPv6ND_RS(), dst="ff02::2", hlim=255),
        client6(ICMPv6ND_NA(tgt=CLIENT6.ip6), dst="2001:db8:1::1", hlim=255),
    ],
    ids=["other-target", "hop-limit-64", "router-solicitation", "advertisement"],
)
def test_neighbour_discovery_the_switch_does_not_answer_goes_to_the_controller(
    fwd: Forwarder, frame: Packet
) -> None:
    port, out = fwd.send_one(CLIENT.port, frame)
    assert port == CPU_PORT
    # packet_in: 9-bit ingress port, 7 bits of padding, then the frame untouched.
    assert out[:2] == (CLIENT.port << 7).to_bytes(2, "big")
    assert out[2:] == bytes(frame)


def test_duplicate_address_detection_is_not_answered(fwd: Forwarder) -> None:
    dad = neighbour_solicitation("2001:db8:1::1", option=False)
    dad[IPv6].src = "::"
    assert fwd.send_one(CLIENT.port, dad)[0] == CPU_PORT


# --- VIP steering and encapsulation


def test_ipv6_vip_connections_go_to_the_classifier_their_hash_picks(fwd: Forwarder) -> None:
    picked = set()
    for sport in range(41000, 41032):
        for packet in (tcp6(sport, flags="S"), tcp6(sport, payload=b"GET /")):
            want = expected_classifier6(sport, 80)
            port, frame = fwd.send_one(CLIENT.port, packet)
            assert port == want.host.port
            assert_frame(frame, routed6(packet, want))
        picked.add(want.host.name)
    assert picked == {"k1", "k2"}
    ping = client6(ICMPv6EchoRequest())
    want = expected_classifier6(0, 0, proto=58)
    assert_frame(fwd.send_one(CLIENT.port, ping)[1], routed6(ping, want))
    query = client6(UDP(sport=5000, dport=53) / b"q")
    want = expected_classifier6(5000, 53, proto=17)
    assert fwd.send_one(CLIENT.port, query)[0] == want.host.port


FLOWS6 = [
    (40000, 80, 0x00010002, BACKEND1_6),
    (40001, 80, 0xFFFFFFFF, BACKEND2_6),
    (1024, 443, 0x80000001, BACKEND1_6),
    (65535, 80, 0x00000000, BACKEND2_6),
]


def test_a_restarted_switch_never_steers_an_ipv6_segment_whose_entry_is_being_written() -> None:
    """test_forwarder_encap.py's restart test for encap_map6 and
    vip_steering6: wherever between the packet's lookups the controller's
    writes land (encap_map6, then steering), the segment goes to its
    back-end or nowhere, never to a classifier."""

    def restore(fwd: Forwarder) -> None:
        add_encap6(fwd, 40000, 80, 0x01020304, BACKEND1_6)
        steer_vip6(fwd)

    assert_restore_never_steers(
        lambda: setup6(Forwarder().lab_setup(steering=False), steering=False),
        restore,
        tcp6(40000, 80, payload=b"data"),
        BACKEND1,
    )


def test_encap6_rewrites_addresses_and_ports_to_the_flow_id(fwd: Forwarder) -> None:
    for sport, dport, flow_id, backend in FLOWS6:
        add_encap6(fwd, sport, dport, flow_id, backend)
    for sport, dport, flow_id, backend in FLOWS6:
        packet = tcp6(sport, dport, payload=b"GET / HTTP/1.1\r\n\r\n")
        port, frame = fwd.send_one(CLIENT.port, packet)
        assert port == backend.host.port
        assert_frame(frame, encapsulated6(packet, flow_id, backend))
    # IPv4 has its own map: an IPv4 segment with the same ports still goes
    # to a classifier.
    port, _ = fwd.send_one(CLIENT.port, client_tcp(40000, 80))
    assert port in (CLASSIFIER1.port, CLASSIFIER2.port)


def test_encap6_checksum_over_payload_sizes_and_tcp_options(fwd: Forwarder) -> None:
    rng = random.Random(2460)
    add_encap6(fwd, 40000, 80, 0xCAFEF00D, BACKEND2_6)
    options: list[list[object]] = [
        [],
        [("MSS", 1440), ("SAckOK", b""), ("Timestamp", (1, 0)), ("WScale", 7)],
        [("NOP", None), ("NOP", None), ("Timestamp", (0xFFFFFFFF, 5))],
    ]
    for size in [0, 1, 2, 3, 1439, *rng.sample(range(4, 1400), 10)]:
        for tcp_options in options:
            packet = tcp6(payload=rng.randbytes(size), options=tcp_options)
            assert_frame(
                fwd.send_one(CLIENT.port, packet)[1],
                encapsulated6(packet, 0xCAFEF00D, BACKEND2_6),
            )


@pytest.mark.parametrize(
    "extension",
    [IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(), IPv6ExtHdrFragment(m=1)],
    ids=["hop-by-hop", "destination-options", "fragment"],
)
def test_extension_headers_are_routed_never_encapsulated_and_dropped_to_a_vip(
    fwd: Forwarder, extension: Packet
) -> None:
    add_encap6(fwd, 40000, 80, 7, BACKEND1_6)
    segment = TCP(sport=40000, dport=80, flags="A")
    assert fwd.send(CLIENT.port, client6(extension, segment)) == []
    elsewhere = client6(extension, segment, dst=BACKEND2_6.ip6)
    port, frame = fwd.send_one(CLIENT.port, elsewhere)
    assert port == BACKEND2.port
    assert_frame(frame, routed6(elsewhere, BACKEND2_6))
    assert fwd.switch.drain_digests() == []


@pytest.mark.parametrize(
    "frame",
    [
        bytes(tcp6())[:40],  # cut inside the IPv6 header
        bytes(tcp6())[:60],  # cut inside the TCP header
        bytes(neighbour_solicitation("2001:db8:1::1"))[:70],  # cut inside the body
        Ether(src=CLIENT.mac, dst=CLIENT.gateway_mac, type=0x86DD)
        / IPv6(src=CLIENT6.ip6, dst=BACKEND1_6.ip6, version=4)
        / TCP(),
    ],
    ids=["short-ipv6", "short-tcp", "short-solicitation", "version-4"],
)
def test_malformed_ipv6_is_dropped(fwd: Forwarder, frame: Packet | bytes) -> None:
    assert fwd.send(CLIENT.port, frame) == []


# --- connection ends and timeouts


def test_fin_rst_and_reopening_syn_send_the_ipv6_close_digest(fwd: Forwarder) -> None:
    add_encap6(fwd, 40000, 80, 0xABCD0001, BACKEND1_6)
    fwd.insert("vip_close6", [Exact(ip6_int(VIP6)), Exact(80)], "note_vip_close6")
    key = (ip6_int(CLIENT6.ip6), ip6_int(VIP6), 40000, 80)
    for flags, bits in (("FA", 0x11), ("R", 0x04)):
        packet = tcp6(flags=flags)
        assert_frame(
            fwd.send_one(CLIENT.port, packet)[1], encapsulated6(packet, 0xABCD0001, BACKEND1_6)
        )
        digests = fwd.switch.drain_digests()
        assert [(name.rsplit(".", 1)[-1], values) for name, values in digests] == [
            ("connection_end6_t", (*key, 0xABCD0001, bits))
        ]
    fwd.send_one(CLIENT.port, tcp6(flags="PA", payload=b"x"))
    assert fwd.switch.drain_digests() == []
    # A new SYN on the 4-tuple is dropped and reports the old flow.
    assert fwd.send(CLIENT.port, tcp6(flags="S")) == []
    assert [v for _, v in fwd.switch.drain_digests()] == [(*key, 0xABCD0001, 0x02)]
    # The back-end's RST to the client, from the VIP, is reported with flow id 0.
    rst = (
        Ether(src=BACKEND1.mac, dst=BACKEND1.gateway_mac)
        / IPv6(src=VIP6, dst=CLIENT6.ip6)
        / TCP(sport=80, dport=40000, flags="R")
    )
    assert fwd.send_one(BACKEND1.port, rst)[0] == CLIENT.port
    assert [v for _, v in fwd.switch.drain_digests()] == [(*key, 0, 0x04)]


def test_encap6_entry_counts_and_records_its_last_hit(fwd: Forwarder) -> None:
    entry = add_encap6(fwd, 40000, 80, 5, BACKEND1_6, idle_timeout_ns=10**9)
    assert entry.last_hit_ns == 0
    fwd.send_one(CLIENT.port, tcp6())
    assert entry.last_hit_ns > 0


def test_p4info_names_the_ipv6_tables_keys_and_actions() -> None:
    p4info = forwarder_program().p4info
    tables = {t.preamble.name.rsplit(".", 1)[-1]: t for t in p4info.tables}
    fields = {name: [(f.name, f.bitwidth) for f in t.match_fields] for name, t in tables.items()}
    assert fields["routes6"] == [("dst_addr", 128)]
    assert fields["gateway_ndp"] == [("gateway_addr", 128)]
    assert fields["vip_steering6"] == [("vip", 128), ("bucket", 6)]
    assert fields["vip_close6"] == [("vip", 128), ("vip_port", 16)]
    assert fields["encap_map6"] == [
        ("ipv6_src", 128),
        ("ipv6_dst", 128),
        ("tcp_sport", 16),
        ("tcp_dport", 16),
    ]
    encap = tables["encap_map6"]
    assert encap.idle_timeout_behavior == encap.NOTIFY_CONTROL
    assert [c for c in p4info.direct_counters if c.direct_table_id == encap.preamble.id]
    actions = {a.preamble.name.rsplit(".", 1)[-1]: a for a in p4info.actions}
    assert [(p.name, p.bitwidth) for p in actions["encap_to_backend6"].params] == [
        ("flow_id", 32),
        ("tunnel_src", 128),
        ("backend", 128),
    ]
    assert {d.preamble.name for d in p4info.digests} == {"connection_end_t", "connection_end6_t"}
