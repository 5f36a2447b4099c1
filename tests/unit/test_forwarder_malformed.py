"""Each stated rule of the forwarder for malformed or unusual input (the list
at the top of p4src/forwarder.p4), one test per rule, on p4sim."""

from __future__ import annotations

import pytest
from forwarder_harness import (
    BACKEND1,
    CLASSIFIER1,
    CLASSIFIER2,
    CLIENT,
    CPU_PORT,
    STEERING_BUCKETS,
    VIP,
    Forwarder,
    Host,
    arp_request,
    assert_frame,
    checksums_valid,
    client_tcp,
    client_udp,
    ip_int,
    routed_to,
)
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert
from scapy.layers.l2 import Dot1Q, Ether

from p4sim.runtime.algorithms import HASH_ALGORITHMS, pack_fields

ETHER = Ether(src=CLIENT.mac, dst=CLIENT.gateway_mac)


@pytest.fixture
def fwd() -> Forwarder:
    """The lab setup plus an encap_map entry for the client's port 40000, so
    every rule is checked where encapsulation would otherwise happen."""
    forwarder = Forwarder().lab_setup()
    forwarder.add_encap(CLIENT.ip, VIP, 40000, 80, 0x11112222, BACKEND1)
    return forwarder


def classifier_for(proto: int, sport: int = 0, dport: int = 0) -> Host:
    data = pack_fields([ip_int(CLIENT.ip), ip_int(VIP), proto, sport, dport], [32, 32, 8, 16, 16])
    bucket = HASH_ALGORITHMS["crc16"](data) % STEERING_BUCKETS
    return [CLASSIFIER1, CLASSIFIER2][bucket * 2 // STEERING_BUCKETS]


# --- truncated headers: dropped


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(bytes(ETHER)[:10], id="ethernet"),
        pytest.param(bytes(arp_request("10.0.1.1"))[: 14 + 20], id="arp"),
        pytest.param(bytes(ETHER / IP(dst=BACKEND1.ip))[: 14 + 12], id="ipv4"),
        pytest.param(bytes(ETHER)[:12] + b"\x08\x00", id="ipv4-missing"),
        pytest.param(bytes(ETHER / IP(dst=VIP, proto=6) / bytes(8)), id="tcp"),
        pytest.param(bytes(ETHER / IP(dst=BACKEND1.ip, proto=17) / bytes(4)), id="udp"),
    ],
)
def test_truncated_headers_are_dropped(fwd: Forwarder, frame: bytes) -> None:
    assert fwd.send(CLIENT.port, frame) == []


def test_truncated_packet_out_from_the_controller_is_dropped(fwd: Forwarder) -> None:
    assert fwd.send(CPU_PORT, b"\x01") == []


# --- frames from the controller: sent as given if they hold a whole Ethernet header

TO_BACKEND1 = (BACKEND1.port << 7).to_bytes(2, "big")


@pytest.mark.parametrize("inner", [b"", bytes(ETHER)[:13]], ids=["empty", "cut-ethernet"])
def test_packet_out_shorter_than_an_ethernet_header_is_dropped(fwd: Forwarder,
                                                               inner: bytes) -> None:
    assert fwd.send(CPU_PORT, TO_BACKEND1 + inner) == []


@pytest.mark.parametrize(
    "inner",
    [
        bytes(Ether(src=CLIENT.mac, dst="01:80:c2:00:00:0e", type=0x88CC)),
        bytes(ETHER / IP(dst=BACKEND1.ip))[: 14 + 12],
        bytes(ETHER / IP(dst=BACKEND1.ip, ttl=0, chksum=0x1234) / TCP()),
        bytes(arp_request("10.0.1.77"))[:20],
    ],
    ids=["lldp-header-only", "cut-ipv4", "ttl-0-bad-checksum", "cut-arp"],
)
def test_packet_out_contents_are_the_controllers(fwd: Forwarder, inner: bytes) -> None:
    """Admission does not apply to what the controller sends."""
    assert fwd.send(CPU_PORT, TO_BACKEND1 + inner) == [(BACKEND1.port, inner)]


# --- bad IPv4 headers: dropped


@pytest.mark.parametrize(
    "ip", [IP(version=6), IP(ihl=4), IP(chksum=0x1234)], ids=["version-6", "ihl-4", "checksum"]
)
def test_bad_ipv4_headers_are_dropped(fwd: Forwarder, ip: IP) -> None:
    ip.src, ip.dst = CLIENT.ip, BACKEND1.ip
    assert fwd.send(CLIENT.port, ETHER / ip / TCP(sport=1, dport=2)) == []


@pytest.mark.parametrize("ttl", [0, 1])
def test_expiring_ttl_is_dropped_even_for_a_migrated_connection(fwd: Forwarder, ttl: int) -> None:
    assert fwd.send(CLIENT.port, client_tcp(40000, 80, ttl=ttl)) == []
    assert fwd.switch.drain_digests() == []


# --- other EtherTypes: dropped


@pytest.mark.parametrize(
    "frame",
    [
        ETHER / Dot1Q(vlan=10) / IP(src=CLIENT.ip, dst=BACKEND1.ip) / TCP(),
        Ether(src=CLIENT.mac, dst="01:80:c2:00:00:0e", type=0x88CC) / bytes(46),
    ],
    ids=["vlan", "lldp"],
)
def test_other_ethertypes_are_dropped(fwd: Forwarder, frame: Ether) -> None:
    assert fwd.send(CLIENT.port, frame) == []


# --- IPv4 options and fragments: routed, but never to a VIP


def test_ipv4_options_are_routed_with_options_untouched(fwd: Forwarder) -> None:
    packet = ETHER / IP(src=CLIENT.ip, dst=BACKEND1.ip, options=[IPOption_Router_Alert()]) / TCP()
    assert packet[IP].ihl is None or packet[IP].ihl == 6
    port, frame = fwd.send_one(CLIENT.port, packet)
    assert port == BACKEND1.port
    assert checksums_valid(frame)
    assert_frame(frame, routed_to(packet, BACKEND1))


def test_ipv4_options_to_a_vip_are_dropped_not_encapsulated(fwd: Forwarder) -> None:
    packet = client_tcp(40000, 80)
    packet[IP].options = [IPOption_Router_Alert()]
    assert fwd.send(CLIENT.port, packet) == []


@pytest.mark.parametrize(("flags", "offset"), [("MF", 0), (0, 100), ("MF", 100)])
def test_fragments_to_a_vip_are_dropped(fwd: Forwarder, flags: object, offset: int) -> None:
    packet = client_tcp(40000, 80, payload=b"part")
    packet[IP].flags = flags
    packet[IP].frag = offset
    assert fwd.send(CLIENT.port, packet) == []


def test_fragments_to_other_destinations_are_routed(fwd: Forwarder) -> None:
    packet = client_tcp(40000, 80, dst=BACKEND1.ip, payload=b"part")
    packet[IP].flags = "MF"
    port, frame = fwd.send_one(CLIENT.port, packet)
    assert port == BACKEND1.port
    assert_frame(frame, routed_to(packet, BACKEND1))


# --- non-TCP to a VIP: steered, never encapsulated


def test_icmp_to_a_vip_goes_to_the_classifier_its_addresses_hash_to(fwd: Forwarder) -> None:
    packet = ETHER / IP(src=CLIENT.ip, dst=VIP) / ICMP(id=40000, seq=80)
    classifier = classifier_for(proto=1)
    port, frame = fwd.send_one(CLIENT.port, packet)
    assert port == classifier.port
    assert_frame(frame, routed_to(packet, classifier))


def test_udp_to_a_vip_is_steered_by_its_ports_and_not_encapsulated(fwd: Forwarder) -> None:
    packet = client_udp(40000, 80)  # same ports as the TCP encap entry
    classifier = classifier_for(proto=17, sport=40000, dport=80)
    port, frame = fwd.send_one(CLIENT.port, packet)
    assert port == classifier.port
    assert_frame(frame, routed_to(packet, classifier))
    assert Ether(frame)[UDP].sport == 40000


# --- TCP: the switch never reads beyond the fixed header


def test_a_wrong_tcp_checksum_stays_wrong_after_the_rewrite(fwd: Forwarder) -> None:
    packet = client_tcp(40000, 80, payload=b"data")
    packet[TCP].chksum = 0xBEEF
    port, frame = fwd.send_one(CLIENT.port, packet)
    assert port == BACKEND1.port
    out = Ether(frame)
    assert out[IP].dst == BACKEND1.ip
    assert not checksums_valid(frame)


def test_a_bogus_tcp_data_offset_is_not_interpreted(fwd: Forwarder) -> None:
    packet = client_tcp(40000, 80, payload=bytes(40))
    packet[TCP].dataofs = 15  # claims 40 bytes of options
    port, frame = fwd.send_one(CLIENT.port, packet)
    assert port == BACKEND1.port
    assert len(frame) == len(bytes(packet))
