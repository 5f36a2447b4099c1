"""Hostile frames through the forwarder on p4sim: random frames, every
truncation of valid frames, and bit flips of valid Ethernet/ARP/IPv4/TCP/UDP
frames, on every port, with routes, gateways, VIP steering and encap_map
entries installed.

For every input three things are checked: nothing but a list of frames
comes out of `Switch.process` (no exception escapes); the frames, digests and
encap_map counter agree with an independent reading of the program
(tests/fuzz/forwarder_model.py), whose verdicts follow the malformed-input rules at
the top of p4src/forwarder.p4; and properties that do not rely on that model
hold: a frame cut inside a header the parser extracts is dropped with no
digest and no counter change, the switch never adds or removes bytes except
the 2-byte controller header, a valid IPv4 or TCP checksum stays valid through
any rewrite, and bytes past the fixed headers leave unchanged.

The counts are sized for a few seconds; FUZZ_SCALE=n multiplies them
(`make fuzz`). FUZZ_SEED changes the seed.
"""

from __future__ import annotations

import os
import random
import struct
from collections import Counter
from collections.abc import Iterator

import pytest
from forwarder_harness import (
    BACKEND1,
    BACKEND2,
    CLASSIFIER1,
    CLASSIFIER2,
    CLIENT,
    GATEWAYS,
    HOSTS,
    TUNNEL_SRC,
    VIP,
    Forwarder,
    arp_request,
    client_tcp,
    client_udp,
    ip_int,
    mac_int,
)
from forwarder_model import (
    CPU_PORT,
    DROP,
    DROP_PORT,
    PUNT,
    STEERING_BUCKETS,
    Encap,
    ForwarderModel,
    NextHop,
    Tables,
    crc16_arc,
    ipv4_checksum,
    ones_sum,
)
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert
from scapy.layers.l2 import ARP, Ether

from p4sim.runtime.tables import Exact, Lpm

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
SEED = int(os.environ.get("FUZZ_SEED", "20240611"))
RANDOM_FRAMES = 20_000 * SCALE
MUTATIONS = 40_000 * SCALE

# Every port that means something to the program: the lab's five, two it
# has no route to, the CPU port, and the drop port.
PORTS = (0, *(h.port for h in HOSTS), 6, CPU_PORT, DROP_PORT)

OTHER_CLIENT = "10.0.1.11"
PUNTED = "10.9.0.0/16"
BLACKHOLE = "10.66.0.0/16"
UNROUTED_BACKEND = "192.0.2.7"
PUNTED_BACKEND = "10.9.0.5"
# (client, client port, VIP port) -> (flow id, back-end address)
FLOWS = {
    (CLIENT.ip, 40000, 80): (0x11112222, BACKEND1.ip),
    (CLIENT.ip, 40001, 80): (0xFFFFFFFF, BACKEND2.ip),
    (CLIENT.ip, 1, 443): (0x00000000, BACKEND1.ip),
    (OTHER_CLIENT, 40000, 80): (0x80000001, UNROUTED_BACKEND),
    (OTHER_CLIENT, 40001, 80): (0x0000FFFF, PUNTED_BACKEND),
}


def lab_tables() -> Tables:
    tables = Tables()
    for host in HOSTS:
        tables.add_route(
            f"{host.ip}/32", NextHop(host.port, mac_int(host.gateway_mac), mac_int(host.mac))
        )
    # A covering /24 and /8 behind the host routes, a punt and a drop route.
    tables.add_route("10.0.3.0/24", NextHop(CLASSIFIER2.port, 0x02AA000000FF, 0x0200000003FF))
    tables.add_route("10.0.0.0/8", NextHop(BACKEND2.port, 0x02AA00000003, 0x020000000299))
    tables.add_route(PUNTED, PUNT)
    tables.add_route(BLACKHOLE, DROP)
    for address, mac in GATEWAYS.items():
        tables.gateways[ip_int(address)] = mac_int(mac)
    classifiers = (CLASSIFIER1, CLASSIFIER2)
    for bucket in range(STEERING_BUCKETS):
        host = classifiers[bucket * len(classifiers) // STEERING_BUCKETS]
        tables.steering[(ip_int(VIP), bucket)] = ip_int(host.ip)
    for (client, sport, dport), (flow_id, backend) in FLOWS.items():
        key = (ip_int(client), ip_int(VIP), sport, dport)
        tables.encap[key] = Encap(flow_id, ip_int(TUNNEL_SRC), ip_int(backend))
    tables.vip_close.add((ip_int(VIP), 80))
    return tables


def install(tables: Tables) -> Forwarder:
    """The same state on a fresh switch, through the table API by name."""
    fwd = Forwarder()
    for (prefix, length), action in tables.routes.items():
        if isinstance(action, NextHop):
            args = {"port": action.port, "src_mac": action.src_mac, "dst_mac": action.dst_mac}
            fwd.insert("routes", [Lpm(prefix, length)], "set_next_hop", args)
        else:
            fwd.insert("routes", [Lpm(prefix, length)], action)
    for address, mac in tables.gateways.items():
        fwd.insert("gateway_arp", [Exact(address)], "answer_arp", {"gateway_mac": mac})
    for (vip, bucket), host in tables.steering.items():
        fwd.insert(
            "vip_steering", [Exact(vip), Exact(bucket)], "steer_to_classifier", {"classifier": host}
        )
    for key, encap in tables.encap.items():
        fwd.insert(
            "encap_map",
            [Exact(v) for v in key],
            "encap_to_backend",
            {"flow_id": encap.flow_id, "tunnel_src": encap.tunnel_src, "backend": encap.backend},
        )
    for vip, vip_port in tables.vip_close:
        fwd.insert("vip_close", [Exact(vip), Exact(vip_port)], "note_vip_close", {})
    return fwd


# ------------------------------------------------------------- valid frames


def _tcp(client: str, sport: int, dport: int, **kw: object) -> bytes:
    return bytes(client_tcp(sport, dport, src=client, **kw))  # type: ignore[arg-type]


TCP_OPTIONS = [("MSS", 1460), ("NOP", None), ("WScale", 7), ("Timestamp", (1, 2))]


def valid_frames() -> list[tuple[str, bytes, int]]:
    """(name, frame, header end) for frames that exercise every path of the
    program. Header end is where the last header the parser extracts ends:
    any shorter cut must be dropped."""
    l2, ip_end, tcp_end, udp_end = 14, 34, 54, 42
    ether = Ether(src=CLIENT.mac, dst=CLIENT.gateway_mac)
    ip_opts = IP(src=CLIENT.ip, dst=BACKEND1.ip, options=[IPOption_Router_Alert()])
    fragment = IP(src=CLIENT.ip, dst=BACKEND1.ip, flags="MF")
    reply = (
        Ether(src=BACKEND1.mac, dst=BACKEND1.gateway_mac)
        / IP(src=VIP, dst=CLIENT.ip)
        / TCP(sport=80, dport=40000, flags="PA")
        / b"HTTP/1.1 200 OK\r\n"
    )
    reset = (
        Ether(src=BACKEND1.mac, dst=BACKEND1.gateway_mac)
        / IP(src=VIP, dst=CLIENT.ip)
        / TCP(sport=80, dport=40000, flags="R")
    )
    out = [
        (
            "encap hit",
            _tcp(CLIENT.ip, 40000, 80, payload=b"GET / HTTP/1.1\r\n\r\n", options=TCP_OPTIONS),
            tcp_end,
        ),
        ("encap hit FIN", _tcp(CLIENT.ip, 40001, 80, flags="FA"), tcp_end),
        ("encap hit RST", _tcp(CLIENT.ip, 1, 443, flags="R", payload=b"x"), tcp_end),
        ("encap to unrouted back-end", _tcp(OTHER_CLIENT, 40000, 80, flags="FA"), tcp_end),
        ("encap to punted back-end", _tcp(OTHER_CLIENT, 40001, 80, payload=b"y" * 9), tcp_end),
        ("new connection to VIP", _tcp(CLIENT.ip, 40002, 80, flags="S"), tcp_end),
        ("new connection on a handed-off 4-tuple", _tcp(CLIENT.ip, 40000, 80, flags="S"), tcp_end),
        ("TCP to back-end", _tcp(CLIENT.ip, 40000, 80, dst=BACKEND1.ip, payload=b"z"), tcp_end),
        ("TTL 2", _tcp(CLIENT.ip, 40000, 80, ttl=2), tcp_end),
        ("back-end reply", bytes(reply), tcp_end),
        ("back-end RST to the client", bytes(reset), tcp_end),
        ("UDP to VIP", bytes(client_udp(40000, 80)), udp_end),
        ("UDP to classifier /24", bytes(client_udp(9, 9, dst="10.0.3.99")), udp_end),
        ("ICMP to VIP", bytes(ether / IP(src=CLIENT.ip, dst=VIP) / ICMP()), ip_end),
        ("IPv4 options", bytes(ether / ip_opts / TCP(sport=1, dport=2)), ip_end),
        (
            "IPv4 options to VIP",
            bytes(ether / IP(src=CLIENT.ip, dst=VIP, options=[IPOption_Router_Alert()]) / TCP()),
            ip_end,
        ),
        ("fragment", bytes(ether / fragment / UDP() / b"part"), ip_end),
        ("to punt route", _tcp(CLIENT.ip, 5, 6, dst="10.9.1.2"), tcp_end),
        ("to drop route", _tcp(CLIENT.ip, 5, 6, dst="10.66.1.2"), tcp_end),
        ("no route", _tcp(CLIENT.ip, 5, 6, dst="192.168.1.1"), tcp_end),
        ("ARP for a gateway", bytes(arp_request("10.0.1.1")), l2 + 28),
        ("ARP for another host", bytes(arp_request("10.0.1.77")), l2 + 28),
        (
            "ARP reply",
            bytes(
                Ether(src=CLIENT.mac, dst=CLIENT.gateway_mac)
                / ARP(op=2, hwsrc=CLIENT.mac, psrc=CLIENT.ip, pdst="10.0.1.1")
            ),
            l2 + 28,
        ),
    ]
    tcp_frame = out[0][1]
    for egress in (BACKEND2.port, CPU_PORT, DROP_PORT):
        out.append((f"packet_out to {egress}", struct.pack("!H", egress << 7) + tcp_frame, 2 + l2))
    return out


# ------------------------------------------------------- property checks


def _transport_checksum_ok(frame: bytes) -> bool | None:
    """Whether the TCP/UDP checksum of an option-less IPv4 frame verifies
    over its pseudo-header; None when it cannot be judged (not such a frame,
    inconsistent lengths, UDP without checksum)."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[14] != 0x45:
        return None
    protocol, total = frame[23], int.from_bytes(frame[16:18], "big")
    segment = frame[34 : 14 + total]
    if protocol not in (6, 17) or total != len(frame) - 14 or len(segment) < 8:
        return None
    if protocol == 17 and frame[40:42] == b"\x00\x00":
        return None
    pseudo = frame[26:34] + bytes([0, protocol]) + len(segment).to_bytes(2, "big")
    return ones_sum(pseudo + segment) == 0xFFFF


def check_properties(port: int, frame: bytes, outputs: list[tuple[int, bytes]]) -> None:
    """What must hold for any forwarded frame, whatever the tables say."""
    for egress, out in outputs:
        if port == CPU_PORT:
            body = out[2:] if egress == CPU_PORT else out
            assert body == frame[2:], "a packet_out frame leaves as the controller sent it"
            continue
        if egress == CPU_PORT:
            assert int.from_bytes(out[:2], "big") == port << 7, "packet_in names the port"
            out = out[2:]
        assert len(out) == len(frame), "the switch neither adds nor removes bytes"
        if out[12:14] != b"\x08\x00" or len(frame) < 34:
            continue
        ihl = frame[14] & 0xF
        if egress != CPU_PORT:
            assert out[22] == frame[22] - 1, "TTL decremented once"
        if ones_sum(frame[14 : 14 + ihl * 4]) == 0xFFFF and len(frame) >= 14 + ihl * 4:
            assert ones_sum(out[14 : 14 + ihl * 4]) == 0xFFFF, "IPv4 checksum still valid"
        if _transport_checksum_ok(frame):
            assert _transport_checksum_ok(out), "TCP/UDP checksum valid after the rewrite"
        fixed = 14 + ihl * 4 + (20 if frame[23] == 6 and ihl == 5 else 0)
        assert out[fixed:] == frame[fixed:], "bytes past the fixed headers unchanged"


# ------------------------------------------------------------------ driver


class Run:
    """One switch and its model, fed frame by frame, with every check."""

    def __init__(self) -> None:
        self.tables = lab_tables()
        self.fwd = install(self.tables)
        self.model = ForwarderModel(self.tables)
        self.verdicts: Counter[str] = Counter()
        self.hits: Counter[tuple[int, int, int, int]] = Counter()
        self.hit_bytes: Counter[tuple[int, int, int, int]] = Counter()

    def send(
        self, port: int, frame: bytes
    ) -> tuple[list[tuple[int, bytes]], list[tuple[str, tuple[int, ...]]]]:
        """The switch's frames and digests for one input, once checked."""
        reproducer = f"Switch.process({port}, bytes.fromhex('{frame.hex()}'))"
        try:
            outputs = self.fwd.switch.process(port, frame)
        except Exception as exc:
            raise AssertionError(f"{reproducer} raised {exc!r}") from exc
        digests = self.fwd.switch.drain_digests()
        expected = self.model.expect(port, frame)
        self.verdicts[expected.verdict] += 1
        if expected.encap_key is not None:
            self.hits[expected.encap_key] += 1
            self.hit_bytes[expected.encap_key] += len(frame)
        assert (outputs, digests) == (expected.outputs, expected.digests), (
            f"{reproducer} ({expected.verdict}):\n  got      {outputs!r} {digests!r}\n"
            f"  expected {expected.outputs!r} {expected.digests!r}"
        )
        try:
            check_properties(port, frame, outputs)
        except AssertionError as exc:
            raise AssertionError(f"{reproducer}: {exc} ({expected.verdict})") from exc
        return outputs, digests

    def encap_packets(self) -> int:
        """Packets the switch's encap_map counters hold, all entries together."""
        return sum(e.packets for e in self.fwd.switch.resolve_table("encap_map").entries())

    def check_counters(self) -> None:
        """Each encap_map entry counted exactly the packets that hit it."""
        table = self.fwd.switch.resolve_table("encap_map")
        for key in self.tables.encap:
            entry = table.get(tuple(Exact(v) for v in key))
            assert entry is not None
            assert (entry.packets, entry.bytes) == (self.hits[key], self.hit_bytes[key]), key


@pytest.fixture
def run() -> Iterator[Run]:
    r = Run()
    yield r
    r.check_counters()


def test_model_steering_hash_is_crc16_arc() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D  # the catalogued check value


def test_model_agrees_with_the_lab_frames_on_every_port(run: Run) -> None:
    for _, frame, _ in valid_frames():
        for port in PORTS:
            run.send(port, frame)
    assert run.verdicts["encapsulated"] >= 3
    assert run.verdicts["ARP answered"] >= 1


def test_every_truncation_of_a_valid_frame_on_every_port(run: Run) -> None:
    """A cut inside a header the parser extracts is dropped: no frame out,
    no digest, no counter change. Cuts in the payload are forwarded as the
    program says (it does not check IPv4 total length)."""
    cases = 0
    for name, frame, header_end in valid_frames():
        for length in range(len(frame)):
            cut = frame[:length]
            for port in PORTS:
                # packet_out frames only mean something on the CPU port.
                if name.startswith("packet_out") != (port == CPU_PORT):
                    continue
                counted = run.encap_packets()
                outputs, digests = run.send(port, cut)
                cases += 1
                if length < header_end:
                    assert outputs == [], f"{name} cut to {length} bytes was forwarded"
                    assert digests == [] and run.encap_packets() == counted, name
    assert cases > 9_000


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 6))):
        op = rng.randrange(10)
        # Most flips land in the headers, where decisions are made.
        span = min(len(data), 60) if rng.random() < 0.85 else len(data)
        if not data or span == 0:
            data += rng.randbytes(rng.randrange(1, 20))
        elif op <= 4:
            i = rng.randrange(span)
            data[i] ^= 1 << rng.randrange(8)
        elif op <= 6:
            data[rng.randrange(span)] = rng.choice(
                (0, 1, 2, 4, 5, 6, 8, 17, 0x45, 0x7F, 0x80, 0xFF)
            )
        elif op == 7:
            del data[rng.randrange(len(data) + 1) :]
        elif op == 8:
            data += rng.randbytes(rng.randrange(1, 20))
        else:
            i = rng.randrange(span)
            del data[i : i + rng.randrange(1, 5)]
    if rng.random() < 0.6:
        _fix_checksums(data, tcp=rng.random() < 0.5)
    return bytes(data)


def _fix_checksums(data: bytearray, tcp: bool) -> None:
    """Recompute the IPv4 (and, if asked, the TCP/UDP) checksum, so a flip in
    a header field gets past the checksum rule and reaches the decision that
    reads that field."""
    if len(data) < 34 or data[12:14] != b"\x08\x00":
        return
    data[24:26] = ipv4_checksum(bytes(data[14:34])).to_bytes(2, "big")
    if tcp and data[23] in (6, 17) and len(data) >= 54:
        at = 50 if data[23] == 6 else 40
        data[at : at + 2] = b"\x00\x00"
        segment = bytes(data[34:])
        pseudo = bytes(data[26:34]) + bytes([0, data[23]]) + len(segment).to_bytes(2, "big")
        data[at : at + 2] = (~ones_sum(pseudo + segment) & 0xFFFF).to_bytes(2, "big")


def test_bit_flips_of_valid_frames(run: Run) -> None:
    rng = random.Random(SEED)
    corpus = valid_frames()
    for _ in range(MUTATIONS):
        name, frame, _ = rng.choice(corpus)
        on_cpu = name.startswith("packet_out") or rng.random() < 0.03
        port = CPU_PORT if on_cpu else rng.choice(PORTS[:-2])
        run.send(port, _mutate(rng, frame))
    for verdict in (
        "encapsulated",
        "steered to a classifier",
        "routed",
        "ARP answered",
        "ARP to the controller",
        "packet_out",
        "dropped: IPv4 checksum",
        "dropped: TTL",
        "dropped: IPv4 version",
        "dropped: IPv4 IHL",
        "dropped: EtherType not IPv4 or ARP",
        "dropped: IPv4 options or fragment to a VIP",
    ):
        assert run.verdicts[verdict] >= 30, (verdict, run.verdicts)


# ------------------------------------------------------------ random frames

INTERESTING_ADDRESSES = [
    ip_int(a)
    for a in (
        CLIENT.ip,
        OTHER_CLIENT,
        VIP,
        BACKEND1.ip,
        BACKEND2.ip,
        CLASSIFIER1.ip,
        "10.0.3.200",
        "10.9.9.9",
        "10.66.0.1",
        "10.1.2.3",
        "192.0.2.1",
        "0.0.0.0",
        "255.255.255.255",
        *GATEWAYS,
    )
]
INTERESTING_PORTS = [0, 1, 80, 443, 40000, 40001, 65535]


def _random_ipv4(rng: random.Random) -> bytes:
    """A frame built field by field with valid checksums, from values the
    tables care about, so random input reaches every table."""

    def pick(pool: list[int], bits: int) -> int:
        return rng.choice(pool) if rng.random() < 0.85 else rng.getrandbits(bits)

    flow = rng.choice(list(FLOWS)) if rng.random() < 0.3 else None
    protocol = 6 if flow else rng.choice((6, 6, 6, 17, 17, 1, rng.getrandbits(8)))
    ttl = rng.choice((0, 1, 2, 64, 255, rng.getrandbits(8)))
    flags_frag = rng.choice((0, 0, 0, 0x4000, 0x2000, 0x0010, rng.getrandbits(16)))
    ihl = rng.choice((5, 5, 5, 5, 6, 15))
    options = rng.randbytes((ihl - 5) * 4)
    src, dst = pick(INTERESTING_ADDRESSES, 32), pick(INTERESTING_ADDRESSES, 32)
    sport, dport = pick(INTERESTING_PORTS, 16), pick(INTERESTING_PORTS, 16)
    if flow:
        src, dst, sport, dport = ip_int(flow[0]), ip_int(VIP), flow[1], flow[2]
    if protocol == 6:
        l4 = struct.pack(
            "!HHIIBBHHH",
            sport,
            dport,
            rng.getrandbits(32),
            rng.getrandbits(32),
            0x50,
            rng.choice((0x02, 0x10, 0x11, 0x04, 0x14, rng.getrandbits(8))),
            rng.getrandbits(16),
            0,
            0,
        )
    elif protocol == 17:
        l4 = struct.pack("!HHHH", sport, dport, 0, 0)
    else:
        l4 = b""
    payload = rng.randbytes(rng.choice((0, 1, 7, 40)))
    total = 20 + len(options) + len(l4) + len(payload)
    header = struct.pack(
        "!BBHHHBBHII",
        0x40 | ihl,
        rng.getrandbits(8),
        total,
        rng.getrandbits(16),
        flags_frag,
        ttl,
        protocol,
        0,
        src,
        dst,
    )
    ether = bytes.fromhex("02aa00000001020000000110") + b"\x08\x00"
    data = bytearray(ether + header + options + l4 + payload)
    _fix_checksums(data, tcp=ihl == 5 and rng.random() < 0.9)
    return bytes(data)


def _random_arp(rng: random.Random) -> bytes:
    fields = struct.pack(
        "!HHBBH6sI6sI",
        rng.choice((1, 1, 6)),
        rng.choice((0x800, 0x800, 0x86DD)),
        rng.choice((6, 6, 8)),
        rng.choice((4, 4, 16)),
        rng.choice((1, 1, 2, 3)),
        rng.randbytes(6),
        rng.choice(INTERESTING_ADDRESSES),
        rng.randbytes(6),
        rng.choice(INTERESTING_ADDRESSES),
    )
    ether = b"\xff" * 6 + rng.randbytes(6) + b"\x08\x06"
    return ether + fields + rng.randbytes(rng.choice((0, 18)))


def _random_frame(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.2:
        return rng.randbytes(rng.randrange(0, 100))
    if kind < 0.35:
        ether_type = rng.choice((b"\x08\x00", b"\x08\x06"))
        return rng.randbytes(12) + ether_type + rng.randbytes(rng.randrange(0, 70))
    if kind < 0.5:
        return _random_arp(rng)
    return _random_ipv4(rng)


def test_random_frames_on_every_port(run: Run) -> None:
    rng = random.Random(SEED + 1)
    for i in range(RANDOM_FRAMES):
        frame = _random_frame(rng)
        port = PORTS[i % len(PORTS)]
        if port == CPU_PORT and rng.random() < 0.5:
            frame = struct.pack("!H", rng.choice(PORTS) << 7 | rng.getrandbits(7)) + frame
        run.send(port, frame)
    for verdict in (
        "encapsulated",
        "steered to a classifier",
        "routed, punted",
        "routed, then dropped: no route",
        "routed, then dropped by a drop route",
        "ARP answered",
        "packet_out",
        "dropped: TTL",
    ):
        assert run.verdicts[verdict] >= 10, (verdict, run.verdicts)
