"""The forwarder's routing, ARP and packet I/O on p4sim (no VIP involved)."""

from __future__ import annotations

import random

from forwarder_harness import (
    BACKEND1,
    BACKEND2,
    CLIENT,
    CPU_PORT,
    Forwarder,
    arp_request,
    assert_frame,
    checksums_valid,
    client_tcp,
    routed_to,
)
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether


def packet_in_header(ingress_port: int) -> bytes:
    """packet_in: 9-bit ingress port then 7 bits of padding."""
    return (ingress_port << 7).to_bytes(2, "big")


def test_routed_packet_gets_next_hop_macs_and_one_less_ttl() -> None:
    fwd = Forwarder().lab_setup()
    packet = client_tcp(dst=BACKEND1.ip, payload=b"hello")
    port, frame = fwd.send_one(CLIENT.port, packet)
    assert port == BACKEND1.port
    assert_frame(frame, routed_to(packet, BACKEND1))


def test_longest_prefix_wins() -> None:
    fwd = Forwarder()
    fwd.add_route("10.0.0.0/8", BACKEND2)
    fwd.add_route("10.0.2.11/32", BACKEND1)
    assert fwd.send_one(CLIENT.port, client_tcp(dst="10.0.2.11"))[0] == BACKEND1.port
    assert fwd.send_one(CLIENT.port, client_tcp(dst="10.0.2.99"))[0] == BACKEND2.port


def test_packet_without_route_is_dropped() -> None:
    fwd = Forwarder().lab_setup()
    assert fwd.send(CLIENT.port, client_tcp(dst="192.0.2.1")) == []


def test_ttl_two_leaves_with_ttl_one_and_ttl_one_or_zero_is_dropped() -> None:
    fwd = Forwarder().lab_setup()
    _, frame = fwd.send_one(CLIENT.port, client_tcp(dst=BACKEND1.ip, ttl=2))
    assert Ether(frame)[IP].ttl == 1
    assert fwd.send(CLIENT.port, client_tcp(dst=BACKEND1.ip, ttl=1)) == []
    assert fwd.send(CLIENT.port, client_tcp(dst=BACKEND1.ip, ttl=0)) == []


def test_ipv4_checksum_stays_right_across_ttl_and_header_values() -> None:
    fwd = Forwarder().lab_setup()
    rng = random.Random(4)
    for _ in range(40):
        packet = client_tcp(dst=BACKEND1.ip, ttl=rng.randint(2, 255))
        packet[IP].id = rng.randint(0, 0xFFFF)
        packet[IP].tos = rng.randint(0, 0xFF)
        _, frame = fwd.send_one(CLIENT.port, packet)
        assert checksums_valid(frame)
        assert_frame(frame, routed_to(packet, BACKEND1))


def test_route_to_controller_adds_packet_in_with_the_ingress_port() -> None:
    fwd = Forwarder()
    fwd.add_punt_route("10.9.0.0/16")
    packet = client_tcp(dst="10.9.1.1")
    port, frame = fwd.send_one(CLIENT.port, packet)
    assert port == CPU_PORT
    assert frame == packet_in_header(CLIENT.port) + bytes(packet)


def test_arp_request_for_a_gateway_is_answered_by_the_switch() -> None:
    fwd = Forwarder().lab_setup()
    port, frame = fwd.send_one(CLIENT.port, arp_request("10.0.1.1"))
    expected = Ether(src="02:aa:00:00:00:01", dst=CLIENT.mac) / ARP(
        op=2, hwsrc="02:aa:00:00:00:01", psrc="10.0.1.1", hwdst=CLIENT.mac, pdst=CLIENT.ip
    )
    assert port == CLIENT.port
    assert_frame(frame, bytes(expected))


def test_arp_padding_of_a_minimum_size_frame_is_kept() -> None:
    fwd = Forwarder().lab_setup()
    request = bytes(arp_request("10.0.1.1")) + bytes(18)
    _, frame = fwd.send_one(CLIENT.port, request)
    assert len(frame) == 60 and frame.endswith(bytes(18))


def test_arp_request_for_another_address_goes_to_the_controller() -> None:
    fwd = Forwarder().lab_setup()
    request = arp_request("10.0.1.77")
    port, out = fwd.send_one(CLIENT.port, request)
    assert port == CPU_PORT
    assert out == packet_in_header(CLIENT.port) + bytes(request)


def test_arp_reply_goes_to_the_controller_even_for_a_gateway_address() -> None:
    fwd = Forwarder().lab_setup()
    reply = arp_request("10.0.1.1")
    reply[ARP].op = 2
    port, out = fwd.send_one(CLIENT.port, reply)
    assert port == CPU_PORT
    assert out == packet_in_header(CLIENT.port) + bytes(reply)


def test_packet_out_leaves_unchanged_on_the_port_it_names() -> None:
    fwd = Forwarder().lab_setup()
    frame = bytes(client_tcp(dst="192.0.2.1", ttl=1))  # would be dropped if routed
    port, out = fwd.send_one(CPU_PORT, (BACKEND2.port << 7).to_bytes(2, "big") + frame)
    assert port == BACKEND2.port
    assert out == frame


def test_routing_does_not_touch_tcp() -> None:
    fwd = Forwarder().lab_setup()
    packet = client_tcp(dst=BACKEND1.ip, payload=b"x" * 33)
    _, frame = fwd.send_one(CLIENT.port, packet)
    assert bytes(Ether(frame)[TCP]) == bytes(packet[TCP])
