"""An independent executable reading of p4src/forwarder.p4: for any frame on
any port, the frames, digests and encap_map hit the program should produce.

The packet fuzz suite (tests/fuzz/test_fuzz_packets.py) compares p4sim against it
frame by frame, so a divergence points at either p4sim or this reading of the
program; the fuzz suite's own property checks (checksums, lengths, untouched
payload) do not depend on it. Written from the program's text and its stated
malformed-input rules, in plain byte arithmetic: no p4sim code is used, the
steering hash included (CRC-16/ARC, bmv2's `crc16`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from checksums import crc16_arc, ones_sum

CPU_PORT = 255
DROP_PORT = 511
STEERING_BUCKETS = 64
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETH_LEN, ARP_LEN, IPV4_LEN, TCP_LEN, UDP_LEN = 14, 28, 20, 20, 8
TCP_FIN_OR_RST = 0x05


@dataclass(frozen=True)
class NextHop:
    port: int
    src_mac: int
    dst_mac: int


@dataclass(frozen=True)
class Encap:
    flow_id: int
    tunnel_src: int
    backend: int


# What a route entry does: a next hop, or one of these two words.
PUNT, DROP = "punt_to_cpu", "drop"
RouteAction = NextHop | str


@dataclass
class Tables:
    """The control-plane state the model reads (the same the switch gets)."""

    routes: dict[tuple[int, int], RouteAction] = field(default_factory=dict)  # (prefix, len)
    gateways: dict[int, int] = field(default_factory=dict)  # address -> MAC
    steering: dict[tuple[int, int], int] = field(default_factory=dict)  # (vip, bucket) -> host
    encap: dict[tuple[int, int, int, int], Encap] = field(default_factory=dict)
    vip_close: set[tuple[int, int]] = field(default_factory=set)  # (VIP, VIP port)

    def add_route(self, prefix: str, action: RouteAction) -> None:
        network = ipaddress.IPv4Network(prefix)
        self.routes[(int(network.network_address), network.prefixlen)] = action

    def route(self, address: int) -> RouteAction | None:
        for length in range(32, -1, -1):
            mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF
            action = self.routes.get((address & mask, length))
            if action is not None:
                return action
        return None


@dataclass
class Outcome:
    """What one input frame should produce. `verdict` names the rule that
    decided its fate, for failure messages and coverage counts."""

    verdict: str
    outputs: list[tuple[int, bytes]] = field(default_factory=list)
    digests: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    encap_key: tuple[int, int, int, int] | None = None




def ipv4_checksum(header: bytes) -> int:
    """The checksum a sender computes: over the header with the field zeroed."""
    return ~ones_sum(header[:10] + b"\x00\x00" + header[12:]) & 0xFFFF


# The RFC 1624 incremental update, in the program's own 32-bit arithmetic
# (shared/csum16.p4), so the model produces the very bits the program does.
def _delta16(old: int, new: int) -> int:
    return (~old & 0xFFFF) + new


def _delta32(old: int, new: int) -> int:
    return _delta16(old >> 16, new >> 16) + _delta16(old & 0xFFFF, new & 0xFFFF)


def _csum_apply(checksum: int, delta: int) -> int:
    total = ((~checksum & 0xFFFF) + delta) & 0xFFFFFFFF
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _u(data: bytes | bytearray, start: int, size: int) -> int:
    return int.from_bytes(data[start : start + size], "big")


def _put(data: bytearray, start: int, size: int, value: int) -> None:
    data[start : start + size] = value.to_bytes(size, "big")


class ForwarderModel:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    def expect(self, port: int, frame: bytes) -> Outcome:
        if port == CPU_PORT:
            return self._packet_out(frame)
        if len(frame) < ETH_LEN:
            return Outcome("dropped: truncated Ethernet")
        ether_type = _u(frame, 12, 2)
        if ether_type == ETHERTYPE_ARP:
            return self._arp(port, frame)
        if ether_type == ETHERTYPE_IPV4:
            return self._ipv4(port, frame)
        return Outcome("dropped: EtherType not IPv4 or ARP")

    # ------------------------------------------------------------ controller

    def _packet_out(self, frame: bytes) -> Outcome:
        if len(frame) < 2:
            return Outcome("dropped: truncated packet_out")
        if len(frame) < 2 + ETH_LEN:
            return Outcome("dropped: packet_out frame shorter than Ethernet")
        egress = _u(frame, 0, 2) >> 7
        if egress == DROP_PORT:
            return Outcome("dropped: packet_out to the drop port")
        return self._emit("packet_out", CPU_PORT, egress, frame[2:])

    def _emit(self, verdict: str, ingress: int, egress: int, frame: bytes) -> Outcome:
        """Egress: frames to the CPU port get packet_in (9-bit ingress port)."""
        if egress == DROP_PORT:
            return Outcome(f"{verdict}, then dropped: egress is the drop port")
        if egress == CPU_PORT:
            frame = ((ingress & 0x1FF) << 7).to_bytes(2, "big") + frame
        return Outcome(verdict, [(egress, frame)])

    # ------------------------------------------------------------------- ARP

    def _arp(self, port: int, frame: bytes) -> Outcome:
        if len(frame) < ETH_LEN + ARP_LEN:
            return Outcome("dropped: truncated ARP")
        a = ETH_LEN
        request = (
            _u(frame, a + 6, 2) == 1
            and _u(frame, a, 2) == 1
            and _u(frame, a + 2, 2) == ETHERTYPE_IPV4
            and frame[a + 4] == 6
            and frame[a + 5] == 4
        )
        target = _u(frame, a + 24, 4)
        mac = self.tables.gateways.get(target) if request else None
        if mac is None:
            return self._emit("ARP to the controller", port, CPU_PORT, frame)
        out = bytearray(frame)
        out[0:6] = frame[6:12]
        _put(out, 6, 6, mac)
        _put(out, a + 6, 2, 2)
        out[a + 18 : a + 24] = frame[a + 8 : a + 14]  # target hw := sender hw
        out[a + 24 : a + 28] = frame[a + 14 : a + 18]  # target ip := sender ip
        _put(out, a + 8, 6, mac)
        _put(out, a + 14, 4, target)
        return self._emit("ARP answered", port, port, bytes(out))

    # ------------------------------------------------------------------ IPv4

    def _ipv4(self, port: int, frame: bytes) -> Outcome:
        i = ETH_LEN
        if len(frame) < i + IPV4_LEN:
            return Outcome("dropped: truncated IPv4")
        version, ihl = frame[i] >> 4, frame[i] & 0xF
        if version != 4:
            return Outcome("dropped: IPv4 version")
        if ihl < 5:
            return Outcome("dropped: IPv4 IHL")
        flags, frag = frame[i + 6] >> 5, _u(frame, i + 6, 2) & 0x1FFF
        protocol = frame[i + 9]
        plain = ihl == 5 and not flags & 1 and frag == 0
        l4 = i + IPV4_LEN
        tcp = plain and protocol == 6
        udp = plain and protocol == 17
        if (tcp and len(frame) < l4 + TCP_LEN) or (udp and len(frame) < l4 + UDP_LEN):
            return Outcome("dropped: truncated TCP or UDP")
        header = frame[i : i + IPV4_LEN]
        if ihl == 5 and ipv4_checksum(header) != _u(header, 10, 2):
            return Outcome("dropped: IPv4 checksum")
        if frame[i + 8] <= 1:
            return Outcome("dropped: TTL")

        out = bytearray(frame)
        src, dst = _u(frame, i + 12, 4), _u(frame, i + 16, 4)
        route_addr = dst
        verdict = "routed"
        digests: list[tuple[str, tuple[int, ...]]] = []
        key = None
        hit = None
        if tcp:
            sport, dport = _u(frame, l4, 2), _u(frame, l4 + 2, 2)
            tcp_flags = frame[l4 + 13]
            hit = self.tables.encap.get((src, dst, sport, dport))
            if hit is not None:
                key = (src, dst, sport, dport)  # the entry counts every hit
                if tcp_flags & 0x12 == 0x02:
                    # A bare SYN opens a new connection on a handed-off
                    # 4-tuple: reported with the old entry's flow id, and
                    # dropped until the controller removes that entry.
                    dropped = Outcome("dropped: a SYN on a handed-off 4-tuple")
                    dropped.digests = [
                        ("connection_end_t", (src, dst, sport, dport, hit.flow_id, tcp_flags))
                    ]
                    dropped.encap_key = key
                    return dropped
            elif tcp_flags & TCP_FIN_OR_RST and (src, sport) in self.tables.vip_close:
                # A VIP service closing towards a client: reported from the
                # client's side, with no flow id (the VIP side has no entry).
                digests.append(("connection_end_t", (dst, src, dport, sport, 0, tcp_flags)))
        if hit is not None:
            if tcp_flags & TCP_FIN_OR_RST:
                digests.append(
                    ("connection_end_t", (src, dst, sport, dport, hit.flow_id, tcp_flags))
                )
            address_delta = _delta32(src, hit.tunnel_src) + _delta32(dst, hit.backend)
            port_delta = _delta32(sport << 16 | dport, hit.flow_id)
            _put(out, i + 10, 2, _csum_apply(_u(frame, i + 10, 2), address_delta & 0xFFFFFFFF))
            tcp_delta = (address_delta + port_delta) & 0xFFFFFFFF
            _put(out, l4 + 16, 2, _csum_apply(_u(frame, l4 + 16, 2), tcp_delta))
            _put(out, i + 12, 4, hit.tunnel_src)
            _put(out, i + 16, 4, hit.backend)
            _put(out, l4, 4, hit.flow_id)
            route_addr = hit.backend
            verdict = "encapsulated"
        else:
            ports = frame[l4 : l4 + 4] if tcp or udp else bytes(4)
            bucket = crc16_arc(frame[i + 12 : i + 20] + bytes([protocol]) + ports)
            classifier = self.tables.steering.get((dst, bucket % STEERING_BUCKETS))
            if classifier is not None:
                if not plain:
                    return Outcome("dropped: IPv4 options or fragment to a VIP")
                route_addr = classifier
                verdict = "steered to a classifier"

        def finish(outcome: Outcome) -> Outcome:
            outcome.digests, outcome.encap_key = digests, key
            return outcome

        action = self.tables.route(route_addr)
        if action is None:
            return finish(Outcome(f"{verdict}, then dropped: no route"))
        if action == DROP:
            return finish(Outcome(f"{verdict}, then dropped by a drop route"))
        if action == PUNT:
            return finish(self._emit(f"{verdict}, punted", port, CPU_PORT, bytes(out)))
        assert isinstance(action, NextHop)
        _put(out, 0, 6, action.dst_mac)
        _put(out, 6, 6, action.src_mac)
        ttl = out[i + 8]
        checksum = _u(out, i + 10, 2)
        _put(
            out,
            i + 10,
            2,
            _csum_apply(checksum, _delta16(ttl << 8 | protocol, (ttl - 1) << 8 | protocol)),
        )
        out[i + 8] = ttl - 1
        return finish(self._emit(verdict, port, action.port, bytes(out)))
