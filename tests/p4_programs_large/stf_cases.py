"""STF scripts for the large programs, one per (program, build profile)
case; tests/unit/test_large_programs.py runs each on p4sim.

Expected packets are built with scapy (checksums, encapsulations), not by
p4sim; each case says what it exercises. `CASES` maps a case name to its
program, its -D defines and its script.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scapy.contrib.gtp import GTP_U_Header
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet, Raw

HERE = Path(__file__).resolve().parent
LEAF = HERE / "leaf" / "leaf.p4"
GATEWAY = HERE / "gateway" / "gateway.p4"


@dataclass(frozen=True)
class Case:
    program: Path
    defines: dict[str, str | None]
    script: str


def hexb(pkt: Packet | bytes) -> str:
    return bytes(pkt).hex().upper()


def mac(last: int, prefix: int = 0) -> str:
    value = (prefix << 8) | last
    return ":".join(f"{b:02x}" for b in value.to_bytes(6, "big"))


def ip4(text: str) -> str:
    return "0x" + bytes(int(p) for p in text.split(".")).hex()


def routed(pkt: Packet) -> Packet:
    """The IPv4 packet one hop later: TTL - 1, checksum recomputed by scapy."""
    out = pkt.copy()
    out[IP].ttl -= 1
    del out[IP].chksum
    return Ether(bytes(out))


# ---------------------------------------------------------------- leaf

ROUTER_MAC = 0xAA01
PAYLOAD = Raw(b"leaf-payload-0123")


def _leaf_common() -> list[str]:
    return [
        "# ports 1 and 2: untagged, internal VLAN 10; port 3: MPLS, VLAN 30",
        "add ingress_port_vlan 1 ig_port:1 vlan_is_valid:0 permit_with_internal_vlan(vlan_id:10)",
        "add ingress_port_vlan 1 ig_port:2 vlan_is_valid:0 permit_with_internal_vlan(vlan_id:10)",
        "add ingress_port_vlan 1 ig_port:3 vlan_is_valid:0 permit_with_internal_vlan(vlan_id:30)",
        f"add fwd_classifier 1 ig_port:1 eth_dst:{ROUTER_MAC:#014x}&&&0xFFFFFFFFFFFF "
        "ip_eth_type:0x0800 set_forwarding_type(fwd_type:2)",
        "add fwd_classifier 1 ig_port:3 eth_type:0x8847&&&0xFFFF ip_eth_type:0x0800 "
        "set_forwarding_type(fwd_type:1)",
        "# known sources: B1 on port 1",
        "add smac vlan_id:10 eth_src:0xB1 ig_port:1 smac_hit()",
        "# bridging: B4 -> next 201 (port 2); broadcast -> next 400 (group 1)",
        "add bridging 1 vlan_id:10 eth_dst:0xB4&&&0xFFFFFFFFFFFF set_next_id_bridging(next_id:201)",
        "add bridging 1 vlan_id:10 eth_dst:0xB5&&&0xFFFFFFFFFFFF set_next_id_bridging(next_id:202)",
        "add bridging 1 vlan_id:10 eth_dst:0xFFFFFFFFFFFF&&&0xFFFFFFFFFFFF "
        "set_next_id_bridging(next_id:400)",
        "add simple next_id:201 output_simple(port_num:2)",
        "add simple next_id:202 output_simple(port_num:3)",
        "add next_vlan next_id:202 set_double_vlan(outer_vlan_id:100, inner_vlan_id:200)",
        "add multicast next_id:400 set_mcast_group_id(group_id:1)",
        "mc_mgrp_create 1",
        "mc_node_create 0 1 2",
        "mc_node_associate 1 0",
        "# routing: 10.0.2.0/24 -> next 100 (port 2, MACs rewritten)",
        f"add routing_v4 ipv4_dst:{ip4('10.0.2.0')}/24 set_next_id_routing_v4(next_id:100)",
        "add simple next_id:100 routing_simple(port_num:2, smac:0xAA02, dmac:0xB2)",
        "# MPLS: label 100 popped, next 300 (port 2)",
        "add mpls mpls_label:100 pop_mpls_and_next(next_id:300)",
        "add simple next_id:300 routing_simple(port_num:2, smac:0xAA02, dmac:0xB2)",
        "# egress: VLAN 10 leaves ports 1 and 2 untagged, VLAN 30 port 2",
        "add egress_vlan vlan_id:10 eg_port:1 pop_vlan()",
        "add egress_vlan vlan_id:10 eg_port:2 pop_vlan()",
        "add egress_vlan vlan_id:30 eg_port:2 pop_vlan()",
        "# ACL: drop 10.0.2.99, copy ICMP to the CPU (clone session 511 -> port 255)",
        f"add acl 10 ipv4_dst:{ip4('10.0.2.99')}&&&0xFFFFFFFF drop() = ACL_DROP",
        "add acl 20 ip_proto:1&&&0xFF copy_to_cpu() = ACL_COPY",
        "mirroring_add 511 255",
    ]


def leaf_base() -> str:
    lines = _leaf_common()
    udp = (
        Ether(dst=mac(0xB4), src=mac(0xB1))
        / IP(src="10.0.1.1", dst="10.0.1.4", ttl=64)
        / UDP(sport=1000, dport=2000)
        / PAYLOAD
    )
    lines += [
        "",
        "# 1. bridged to B4 on port 2, source known: no digest",
        f"packet 1 {hexb(udp)}",
        f"expect 2 {hexb(udp)} $",
    ]
    unknown = udp.copy()
    unknown[Ether].src = mac(0xB9)
    lines += [
        "# 2. an unknown source MAC is learned by digest, still bridged",
        f"packet 1 {hexb(unknown)}",
        f"expect 2 {hexb(unknown)} $",
        "expect_digest mac_learn_digest_t(src_addr:0xB9, ingress_port:1, vlan_id:10)",
    ]
    to_router = (
        Ether(dst=mac(0x01, 0xAA), src=mac(0xB1))
        / IP(src="10.0.1.1", dst="10.0.2.5", ttl=64)
        / UDP(sport=5, dport=6)
        / PAYLOAD
    )
    out = routed(to_router)
    out[Ether].src, out[Ether].dst = mac(0x02, 0xAA), mac(0xB2)
    lines += [
        "# 3. routed: MACs rewritten, TTL 64 -> 63, checksum updated",
        f"packet 1 {hexb(to_router)}",
        f"expect 2 {hexb(out)} $",
    ]
    dropped = to_router.copy()
    dropped[IP].dst = "10.0.2.99"
    del dropped[IP].chksum
    lines += ["# 4. the ACL drops 10.0.2.99", f"packet 1 {hexb(Ether(bytes(dropped)))}"]
    ping = (
        Ether(dst=mac(0x01, 0xAA), src=mac(0xB1))
        / IP(src="10.0.1.1", dst="10.0.2.5", ttl=64)
        / ICMP(id=7, seq=1)
        / PAYLOAD
    )
    ping_out = routed(ping)
    ping_out[Ether].src, ping_out[Ether].dst = mac(0x02, 0xAA), mac(0xB2)
    # packet_in: ingress_port 1 (9 bits), pad (7 bits), reason ACL (1)
    packet_in = bytes([0x00, 0x80, 0x01])
    lines += [
        "# 5. ICMP is routed and copied to the CPU: an ingress clone that keeps",
        "#    the ingress port and reason (field list 1) under a packet_in header",
        f"packet 1 {hexb(ping)}",
        f"expect 2 {hexb(ping_out)} $",
        f"expect 255 {packet_in.hex().upper()}{hexb(ping)} $",
    ]
    bcast = (
        Ether(dst="ff:ff:ff:ff:ff:ff", src=mac(0xB1))
        / IP(src="10.0.1.1", dst="10.0.1.255")
        / UDP(sport=67, dport=68)
        / PAYLOAD
    )
    lines += [
        "# 6. broadcast: multicast group 1 (ports 1, 2) minus the ingress port",
        f"packet 1 {hexb(bcast)}",
        f"expect 2 {hexb(bcast)} $",
    ]
    to_b5 = udp.copy()
    to_b5[Ether].dst = mac(0xB5)
    qinq = Ether(dst=mac(0xB5), src=mac(0xB1)) / Dot1AD(vlan=100) / Dot1Q(vlan=200) / to_b5[IP]
    lines += [
        "# 7. next 202 pushes two tags (0x88A8 100, 0x8100 200) towards port 3",
        f"packet 1 {hexb(to_b5)}",
        f"expect 3 {hexb(qinq)} $",
    ]
    labelled = (
        Ether(dst=mac(0xC0), src=mac(0xC3), type=0x8847)
        / MPLS(label=100, s=1, ttl=9)
        / IP(src="10.0.3.1", dst="10.0.2.7", ttl=20)
        / UDP(sport=1, dport=2)
        / PAYLOAD
    )
    popped = Ether(dst=mac(0xB2), src=mac(0x02, 0xAA)) / labelled[IP]
    lines += [
        "# 8. MPLS label 100 popped on port 3, the IPv4 payload leaves port 2",
        f"packet 3 {hexb(labelled)}",
        f"expect 2 {hexb(popped)} $",
        "expect_digest mac_learn_digest_t(src_addr:0xC3, ingress_port:3, vlan_id:30)",
    ]
    tagged = Ether(dst=mac(0xB4), src=mac(0xB1)) / Dot1Q(vlan=77) / udp[IP]
    lines += ["# 9. a VLAN tag port 1 does not admit: denied, dropped", f"packet 1 {hexb(tagged)}"]
    on_port1 = [udp, unknown, to_router, Ether(bytes(dropped)), ping, bcast, to_b5, tagged]
    total = sum(len(bytes(p)) for p in on_port1)
    lines += [
        "",
        "# statistics: port counters and registers, ACL direct counters",
        f"check_counter ingress_port_counter(1) packets == {len(on_port1)}",
        f"check_counter ingress_port_counter(1) bytes == {total}",
        f"check_register rx_bytes(1) == {total}",
        f"check_register last_packet_len(1) == {len(bytes(tagged))}",
        f"check_register rx_bytes(3) == {len(bytes(labelled))}",
        "check_counter acl_counter($ACL_DROP) packets == 1",
        "check_counter acl_counter($ACL_COPY) packets == 1",
        "check_counter egress_port_counter(2) packets == 6",
        "",
    ]
    return "\n".join(lines)


def leaf_ecmp() -> str:
    """ECMP through the action selector (entries hold their action directly,
    as p4c's STF driver writes them: one member per entry) and an ACL range
    key punting UDP 5000-5999 to the CPU."""
    lines = _leaf_common()
    lines += [
        f"add routing_v4 ipv4_dst:{ip4('10.0.5.0')}/24 set_next_id_routing_v4(next_id:500)",
        "add hashed next_id:500 routing_hashed(port_num:3, smac:0xAA03, dmac:0xB3)",
        "add egress_vlan vlan_id:10 eg_port:3 pop_vlan()",
        "add acl 30 ip_proto:17&&&0xFF l4_dport:5000..5999 punt_to_cpu() = ACL_PUNT",
    ]
    flow = (
        Ether(dst=mac(0x01, 0xAA), src=mac(0xB1))
        / IP(src="10.0.1.1", dst="10.0.5.9", ttl=64)
        / UDP(sport=7, dport=8)
        / PAYLOAD
    )
    out = routed(flow)
    out[Ether].src, out[Ether].dst = mac(0x03, 0xAA), mac(0xB3)
    game = flow.copy()
    game[UDP].dport = 5500
    del game[UDP].chksum
    game = Ether(bytes(game))
    packet_in = bytes([0x00, 0x80, 0x01])  # port 1, reason ACL
    lines += [
        "",
        "# 1. 10.0.5.0/24 goes through next 500, a selector group, to port 3",
        f"packet 1 {hexb(flow)}",
        f"expect 3 {hexb(out)} $",
        "# 2. UDP 5500 falls in the ACL's l4_dport range: punted, not forwarded",
        f"packet 1 {hexb(game)}",
        f"expect 255 {packet_in.hex().upper()}{hexb(game)} $",
        "check_counter acl_counter($ACL_PUNT) packets == 1",
        "",
    ]
    return "\n".join(lines)


def leaf_vxlan() -> str:
    """-DWITH_VXLAN: VNI 5000 with an IPv4 inner header (one of the header
    union) is terminated into VLAN 10 and bridged; an IPv6 inner header has no
    entry and passes routed on the outer header."""
    lines = _leaf_common()
    lines += [
        "add vni_map vni:5000 inner_ipv4:1 inner_ipv6:0 decap(vlan_id:10)",
        f"add fwd_classifier 1 ig_port:2 eth_dst:{ROUTER_MAC:#014x}&&&0xFFFFFFFFFFFF "
        "ip_eth_type:0x0800 set_forwarding_type(fwd_type:2)",
        f"add routing_v4 ipv4_dst:{ip4('10.9.0.0')}/16 set_next_id_routing_v4(next_id:101)",
        "add simple next_id:101 routing_simple(port_num:1, smac:0xAA01, dmac:0xE1)",
    ]
    inner = (
        Ether(dst=mac(0xB4), src=mac(0xB1))
        / IP(src="10.0.1.1", dst="10.0.1.4", ttl=30)
        / UDP(sport=1000, dport=2000)
        / PAYLOAD
    )
    outer = (
        Ether(dst=mac(0x01, 0xAA), src=mac(0xE2))
        / IP(src="10.9.0.2", dst="10.9.0.1")
        / UDP(sport=49152, dport=4789)
        / VXLAN(vni=5000)
        / inner
    )
    lines += [
        "",
        "# 1. VXLAN VNI 5000, inner IPv4: decapsulated, bridged to B4 on port 2",
        f"packet 2 {hexb(outer)}",
        f"expect 2 {hexb(inner)} $",
    ]
    inner6 = (
        Ether(dst=mac(0xB4), src=mac(0xB1))
        / IPv6(src="2001:db8::1", dst="2001:db8::4")
        / UDP(sport=1000, dport=2000)
        / PAYLOAD
    )
    outer6 = (
        Ether(dst=mac(0x01, 0xAA), src=mac(0xE2))
        / IP(src="10.9.0.2", dst="10.9.0.9")
        / UDP(sport=49152, dport=4789)
        / VXLAN(vni=5000)
        / inner6
    )
    out6 = routed(outer6)
    out6[Ether].src, out6[Ether].dst = mac(0x01, 0xAA), mac(0xE1)
    lines += [
        "# 2. inner IPv6 (the union's other member): no vni_map entry, routed as is",
        f"packet 2 {hexb(outer6)}",
        f"expect 1 {hexb(out6)} $",
        "check_counter vni_counter(0x388) packets == 1",
        "",
    ]
    return "\n".join(lines)


def leaf_int() -> str:
    """-DWITH_INT: a watched flow is forwarded and an egress-to-egress clone
    (session 500, port 4) becomes a report; registers count reports."""
    lines = _leaf_common()
    lines += [
        f"add watchlist 1 ipv4_valid:1 ipv4_dst:{ip4('10.0.1.4')}&&&0xFFFFFFFF mark_to_report()",
        "add report instance_type:2 do_report_encap(src_mac:0xAA09, mon_mac:0xDD01, "
        f"src_ip:{ip4('10.0.0.1')}, mon_ip:{ip4('10.0.0.200')}, mon_port:32766)",
        "mirroring_add 500 4",
    ]
    udp = (
        Ether(dst=mac(0xB4), src=mac(0xB1))
        / IP(src="10.0.1.1", dst="10.0.1.4", ttl=64)
        / UDP(sport=1000, dport=2000)
        / PAYLOAD
    )
    report = (
        Ether(dst=mac(0x01, 0xDD), src=mac(0x09, 0xAA))
        / IP(src="10.0.0.1", dst="10.0.0.200", ttl=64, id=0, len=48)
        / UDP(sport=0, dport=32766, len=28, chksum=0)
    )
    lines += [
        "",
        "# a watched flow: forwarded, and a report leaves port 4",
        f"packet 1 {hexb(udp)}",
        f"expect 2 {hexb(udp)} $",
        # the report: Ethernet, IPv4 to the collector, UDP 32766, the INT
        # report (version 1; ports and timestamps not checked), the packet
        f"expect 4 {hexb(report)}1000{'*' * 36}{hexb(udp)} $",
        "check_register reports_sent(0) == 1",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------- gateway

N3 = "192.168.0.1"  # the gateway's access-side (GTP-U) address
ENB = "192.168.0.2"  # a base station
UE = "10.45.0.7"
SERVER = "8.8.8.8"
GW_MAC, ENB_MAC, CORE_MAC = 0x0A01, 0x0E01, 0x0C01


def _gateway_common() -> list[str]:
    return [
        "# port 1: access (GTP-U to the N3 address); port 2: core",
        f"add interfaces port:1 ipv4_dst_prefix:{ip4(N3)}/32 set_access_iface(direction:1)",
        "add interfaces port:2 ipv4_dst_prefix:0/0 set_source_iface(src_iface:2, direction:2)",
        "# session 5: uplink TEID 0x1234, downlink to the UE through the base station",
        f"add uplink_sessions n3_address:{ip4(N3)} teid:0x1234 set_uplink_session(session_id:5)",
        f"add downlink_sessions ue_address:{ip4(UE)} set_downlink_session(session_id:5, "
        f"teid:0x5678, tunnel_src:{ip4(N3)}, tunnel_dst:{ip4(ENB)}, tunnel_sport:2152, qfi:0)",
        "add terminations session_id:5 app_id:0 direction:1 app_forward_unmetered()",
        "add terminations session_id:5 app_id:0 direction:2 app_forward_unmetered()",
        "# firewall: uplink HTTPS allowed, telnet denied; downlink only for known",
        "# connections",
        "add rules 10 direction:1 ip_proto:6&&&0xFF l4_dport:23..23 deny() = FW_DENY",
        "add rules 20 direction:1 ip_proto:6&&&0xFF l4_dport:443..443 allow() = FW_ALLOW",
        "# routes and neighbors (routes_v4 entries hold their actions directly)",
        f"add routes_v4 dst_prefix:{ip4('8.8.8.0')}/24 set_next_hop(next_hop:{ip4('8.8.8.8')})",
        f"add routes_v4 dst_prefix:{ip4(ENB)}/32 set_next_hop(next_hop:{ip4(ENB)})",
        f"add neighbors next_hop:{ip4(SERVER)} set_neighbor(port:2, src_mac:{GW_MAC:#x}, "
        f"dst_mac:{CORE_MAC:#x})",
        f"add neighbors next_hop:{ip4(ENB)} set_neighbor(port:1, src_mac:{GW_MAC:#x}, "
        f"dst_mac:{ENB_MAC:#x})",
    ]


def _uplink(inner: Packet, teid: int = 0x1234, dport: int = 2152) -> Packet:
    return (
        Ether(dst=mac(0x01, 0x0A), src=mac(0x01, 0x0E))
        / IP(src=ENB, dst=N3, id=1)
        / UDP(sport=2152, dport=dport, chksum=0)
        / GTP_U_Header(teid=teid, gtp_type=0xFF)
        / inner
    )


def _decapped(inner: Packet) -> Packet:
    out = Ether(dst=mac(0x01, 0x0C), src=mac(0x01, 0x0A)) / inner.copy()
    return routed(out)


def gateway_base() -> str:
    lines = _gateway_common()
    syn = IP(src=UE, dst=SERVER, ttl=64, id=9) / TCP(sport=40000, dport=443, flags="S", seq=1)
    up = _uplink(syn)
    lines += [
        "",
        "# 1. uplink SYN in GTP-U: decapsulated, routed to the core",
        f"packet 1 {hexb(up)}",
        f"expect 2 {hexb(_decapped(syn))} $",
    ]
    synack = (
        Ether(dst=mac(0x01, 0x0A), src=mac(0x01, 0x0C))
        / IP(src=SERVER, dst=UE, ttl=50, id=3)
        / TCP(sport=443, dport=40000, flags="SA")
    )
    inner = synack[IP].copy()
    inner.ttl -= 1
    del inner.chksum
    inner = IP(bytes(inner))
    down = (
        Ether(dst=mac(0x01, 0x0E), src=mac(0x01, 0x0A))
        / IP(src=N3, dst=ENB, ttl=64, id=0x1513, flags=0)
        / UDP(sport=2152, dport=2152, chksum=0)
        / GTP_U_Header(teid=0x5678, gtp_type=0xFF, length=len(bytes(inner)))
        / inner
    )
    lines += [
        "# 2. the answer: the connection is known (registers), encapsulated to the",
        "#    base station with the session's TEID",
        f"packet 2 {hexb(synack)}",
        f"expect 1 {hexb(down)} $",
    ]
    stranger = synack.copy()
    stranger[IP].src = "9.9.9.9"
    del stranger[IP].chksum
    stranger = Ether(bytes(stranger))
    cpu_in = bytes([0x01, 0x00, 0x01, 0, 0, 0, 5])  # port 2, reason NEW_FLOW, session 5
    lines += [
        "# 3. a downlink flow nobody opened: digest and punt (cpu_in header)",
        f"packet 2 {hexb(stranger)}",
        f"expect 510 {cpu_in.hex().upper()}{hexb(stranger)} $",
        f"expect_digest new_flow_digest_t(session_id:5, src:{ip4('9.9.9.9')}, "
        f"dst:{ip4(UE)}, sport:443, dport:40000, proto:6, direction:2)",
    ]
    telnet = IP(src=UE, dst=SERVER, ttl=64) / TCP(sport=40001, dport=23, flags="S")
    lines += ["# 4. telnet uplink: denied by rule", f"packet 1 {hexb(_uplink(telnet))}"]
    lost = IP(src=UE, dst=SERVER) / UDP(sport=1, dport=2)
    lines += [
        "# 5. an unknown TEID: digest, dropped",
        f"packet 1 {hexb(_uplink(lost, teid=0x9999))}",
        f"expect_digest unknown_teid_digest_t(tunnel_src:{ip4(ENB)}, teid:0x9999, ingress_port:1)",
    ]
    echo = (
        Ether(dst=mac(0x01, 0x0A), src=mac(0x01, 0x0E))
        / IP(src=ENB, dst=N3, id=4)
        / UDP(sport=2152, dport=2152)
        / GTP_U_Header(teid=0, gtp_type=1, length=0)
    )
    reply = (
        Ether(dst=mac(0x01, 0x0E), src=mac(0x01, 0x0A))
        / IP(src=N3, dst=ENB, id=4)
        / UDP(sport=2152, dport=2152, chksum=0)
        / GTP_U_Header(teid=0, gtp_type=2, length=0)
    )
    lines += [
        "# 6. a GTP-U echo request is answered on its port",
        f"packet 1 {hexb(echo)}",
        f"expect 1 {hexb(reply)} $",
    ]
    syn2 = IP(src=UE, dst=SERVER, ttl=64, id=10) / TCP(sport=40002, dport=443, flags="S")
    lines += [
        "# 7. GTP-U on UDP 2153 is plain UDP until the parser's value set has it:",
        "#    to the gateway's own address, no route, dropped",
        f"packet 1 {hexb(_uplink(syn2, dport=2153))}",
    ]
    arp = Ether(dst="ff:ff:ff:ff:ff:ff", src=mac(0x01, 0x0E)) / ARP(pdst=N3, psrc=ENB)
    lines += [
        "# 8. ARP goes to the controller",
        f"packet 1 {hexb(arp)}",
        f"expect 510 008005000000 00{hexb(arp)} $",
    ]
    accounted_up = sum(len(bytes(p)) for p in (up, _uplink(telnet)))
    lines += [
        "",
        "# accounting registers, rule counters, port counters",
        f"check_register uplink_bytes(5) == {accounted_up}",
        "# (accounting comes before the firewall: the punted packet counts)",
        f"check_register downlink_bytes(5) == {len(bytes(synack)) + len(bytes(stranger))}",
        "check_register new_flows_reported(0) == 1",
        "check_counter rules_counter($FW_DENY) packets == 1",
        "check_counter rules_counter($FW_ALLOW) packets == 1",
        "check_counter rx_port_counter(1) packets == 6",
        "check_counter drop_reasons(1) packets == 2",
        "check_counter drop_reasons(2) packets == 1",
        "",
    ]
    return "\n".join(lines)


def gateway_value_set() -> str:
    """A UDP port the controller adds to the parser's value set carries GTP-U."""
    lines = _gateway_common()
    syn2 = IP(src=UE, dst=SERVER, ttl=64, id=10) / TCP(sport=40002, dport=443, flags="S")
    up = _uplink(syn2, dport=2153)
    lines += [
        "",
        "value_set_add extra_gtpu_ports 2153",
        f"packet 1 {hexb(up)}",
        f"expect 2 {hexb(_decapped(syn2))} $",
        f"check_register uplink_bytes(5) == {len(bytes(up))}",
        "",
    ]
    return "\n".join(lines)


def gateway_reports() -> str:
    """-DWITH_FLOW_REPORTS: every packet of session 5 is sampled and cloned
    to the collector (session 77, port 3) under a cpu_in header; a FIN ends
    the flow record with a digest."""
    lines = _gateway_common()
    lines += [
        "add sampling 1 session_id:5&&&0xFFFFFFFF set_sample_period(period:1)",
        "mirroring_add 77 3",
    ]
    syn = IP(src=UE, dst=SERVER, ttl=64, id=9) / TCP(sport=40000, dport=443, flags="S")
    fin = IP(src=UE, dst=SERVER, ttl=64, id=11) / TCP(sport=40000, dport=443, flags="FA")
    sample_in = bytes([0x00, 0x80, 0x04, 0, 0, 0, 5])  # port 1, reason SAMPLE, session 5
    for pkt in (syn, fin):
        up = _uplink(pkt)
        lines += [
            f"packet 1 {hexb(up)}",
            f"expect 2 {hexb(_decapped(pkt))} $",
            f"expect 3 {sample_in.hex().upper()}{hexb(up)} $",
        ]
    lines += [
        f"expect_digest flow_end_digest_t(src:{ip4(UE)}, dst:{ip4(SERVER)}, "
        "sport:40000, dport:443, packets:2)",
        "check_counter samples_taken(0) packets == 2",
        "",
    ]
    return "\n".join(lines)


CASES: dict[str, Case] = {
    "leaf": Case(LEAF, {}, leaf_base()),
    "leaf-vxlan": Case(LEAF, {"WITH_VXLAN": "1"}, leaf_vxlan()),
    "leaf-int": Case(LEAF, {"WITH_INT": "1"}, leaf_int()),
    "leaf-ecmp": Case(LEAF, {}, leaf_ecmp()),
    "gateway": Case(GATEWAY, {}, gateway_base()),
    "gateway-value-set": Case(GATEWAY, {}, gateway_value_set()),
    "gateway-flow-reports": Case(GATEWAY, {"WITH_FLOW_REPORTS": "1"}, gateway_reports()),
}

# Build profiles compiled by the tests and the compile-time benchmark:
# program -> profile name -> -D defines.
ALL_LEAF: dict[str, str | None] = {
    "WITH_IPV6": "1",
    "WITH_INT": "1",
    "WITH_VXLAN": "1",
    "TABLE_SCALE": "4",
}
ALL_GATEWAY: dict[str, str | None] = {"WITH_IPV6": "1", "WITH_VXLAN": "1", "WITH_FLOW_REPORTS": "1"}
PROFILES: dict[str, tuple[Path, dict[str, dict[str, str | None]]]] = {
    "leaf": (
        LEAF,
        {
            "base": {},
            "ipv6": {"WITH_IPV6": "1"},
            "int": {"WITH_INT": "1"},
            "vxlan": {"WITH_VXLAN": "1"},
            "all": ALL_LEAF,
        },
    ),
    "gateway": (
        GATEWAY,
        {
            "base": {},
            "ipv6": {"WITH_IPV6": "1"},
            "vxlan": {"WITH_VXLAN": "1"},
            "flow-reports": {"WITH_FLOW_REPORTS": "1"},
            "strict": {"STRICT_FIREWALL": "1", "SESSION_SIZE": "8192"},
            "all": ALL_GATEWAY,
        },
    ),
}


def source_lines(program: Path) -> int:
    """Lines of the program's own files (its directory's .p4 files)."""
    return sum(len(p.read_text().splitlines()) for p in program.parent.glob("*.p4"))


def d_flags(defines: dict[str, str | None]) -> list[str]:
    """The defines as p4c's command line takes them."""
    return [f"-D{k}={v}" if v is not None else f"-U{k}" for k, v in defines.items()]
