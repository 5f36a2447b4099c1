"""v1model architecture behaviour, checked against bmv2 simple_switch's:
drop port, multicast, clones, resubmit, recirculate, digests, registers,
counters, meters, hashes, checksums, truncation and timestamps."""

from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from semantics_harness import switch

from p4sim.runtime.algorithms import HASH_ALGORITHMS

FIELDS = "bit<8> a; bit<8> b; bit<32> c;"
INSTANCE = "hdr.h.b = (bit<8>)sm.instance_type;"


def test_egress_spec_511_drops_and_mark_to_drop_clears_multicast() -> None:
    sw = switch(FIELDS, """
        if (hdr.h.a == 1) { sm.egress_spec = 511; }
        if (hdr.h.a == 2) { sm.mcast_grp = 1; mark_to_drop(sm); }
        if (hdr.h.a == 3) { sm.egress_spec = 4; }
    """)
    sw.pre.create_group(1, [(5, 0)])
    assert sw.process(0, bytes(6)) == [(1, bytes(6))]
    assert sw.process(0, bytes([1]) + bytes(5)) == []
    assert sw.process(0, bytes([2]) + bytes(5)) == []
    assert sw.process(0, bytes([3]) + bytes(5)) == [(4, bytes([3]) + bytes(5))]


def test_multicast_replicates_with_rid_and_replication_instance_type() -> None:
    sw = switch(FIELDS, "sm.mcast_grp = 7;",
                egress="hdr.h.a = (bit<8>)sm.egress_rid;" + INSTANCE)
    sw.pre.create_group(7, [(2, 10), (3, 11)])
    assert sw.process(0, bytes(6)) == [(2, bytes([10, 5, 0, 0, 0, 0])),
                                       (3, bytes([11, 5, 0, 0, 0, 0]))]


def test_ingress_clone_reparses_original_and_preserves_field_list() -> None:
    sw = switch(FIELDS, """
        meta.keep = hdr.h.a;
        meta.lose = hdr.h.a;
        hdr.h.a = 0xFF;
        clone_preserving_field_list(CloneType.I2E, 3, 1);
    """, meta="@field_list(1) bit<8> keep; bit<8> lose;",
        egress="hdr.h.c = meta.keep ++ meta.lose ++ 16w0;" + INSTANCE)
    sw.pre.create_session(3, [(9, 0)])
    out = sw.process(0, bytes([4, 0, 0, 0, 0, 0]))
    # The clone goes first (bmv2 enqueues it before the original).
    assert out == [(9, bytes([4, 1, 4, 0, 0, 0])),
                   (1, bytes([0xFF, 0, 4, 4, 0, 0]))]


def test_egress_clone_copies_headers_and_resets_metadata() -> None:
    sw = switch(FIELDS, "", egress="""
        if (sm.instance_type == 0) {
            hdr.h.a = 0x11;
            clone(CloneType.E2E, 5);
            hdr.h.c = 1;
        }
    """ + INSTANCE)
    sw.pre.create_session(5, [(6, 0)])
    out = sw.process(0, bytes(6))
    assert out == [(1, bytes([0x11, 0, 0, 0, 0, 1])), (6, bytes([0x11, 2, 0, 0, 0, 1]))]


def test_resubmit_runs_ingress_again_with_preserved_fields() -> None:
    sw = switch(FIELDS, """
        if (sm.instance_type == 0) {
            meta.n = 3;
            resubmit_preserving_field_list(2);
        } else {
            hdr.h.a = meta.n;
            hdr.h.b = (bit<8>)sm.instance_type;
        }
    """, meta="@field_list(FL_RESUBMIT) bit<8> n;", decls="const bit<8> FL_RESUBMIT = 2;")
    assert sw.process(0, bytes(6)) == [(1, bytes([3, 6, 0, 0, 0, 0]))]


def test_recirculate_sends_the_deparsed_packet_back_to_ingress() -> None:
    sw = switch(FIELDS, """
        if (sm.instance_type == 4) { hdr.h.b = hdr.h.a; }
        hdr.h.a = hdr.h.a + 1;
    """, meta="@field_list(0) bit<8> n;", egress="""
        if (hdr.h.a < 3) { recirculate_preserving_field_list(0); }
    """)
    assert sw.process(0, bytes(6)) == [(1, bytes([3, 2, 0, 0, 0, 0]))]


def test_digest_captures_struct_values_at_the_call() -> None:
    sw = switch(FIELDS, """
        digest<learn_t>(1, {hdr.h.a, hdr.h.c});
        hdr.h.a = 0;
    """, decls="struct learn_t { bit<8> port; bit<32> addr; }")
    sw.process(0, bytes([7, 0, 0, 0, 1, 2]))
    assert sw.drain_digests() == [("learn_t", (7, 0x102))]
    assert sw.drain_digests() == []
    assert [m.name for m in sw.schema.digests[0].members] == ["port", "addr"]


def test_registers_and_counters() -> None:
    sw = switch(FIELDS, """
        bit<32> v;
        seen.read(v, (bit<32>)hdr.h.a);
        seen.write((bit<32>)hdr.h.a, v + 1);
        hdr.h.c = v;
        hits.count((bit<32>)hdr.h.a);
    """, ingress_decls="""
        register<bit<32>>(16) seen;
        counter(16, CounterType.packets_and_bytes) hits;
    """)
    sw.registers["I.seen"].write(2, 40)
    assert sw.process(0, bytes([2, 0, 0, 0, 0, 0]))[0][1][2:] == bytes([0, 0, 0, 40])
    assert sw.registers["I.seen"].read(2) == 41
    sw.process(0, bytes([2]) + bytes(5))
    assert sw.counters["I.hits"].read(2) == (2, 12)
    # An index out of range changes nothing and reads 0, as in bmv2.
    assert sw.process(0, bytes([200]) + bytes(5))[0][1][2:] == bytes(4)


def test_meter_marks_red_after_the_burst() -> None:
    now = [0]
    sw = switch(FIELDS, "rate.execute_meter((bit<32>)0, hdr.h.b);",
                ingress_decls="meter(1, MeterType.packets) rate;")
    sw = type(sw)(sw.program, clock_ns=lambda: now[0])
    sw.meters["I.rate"].configure(0, 1, 1, 2, 2)
    colors = [sw.process(0, bytes(6))[0][1][1] for _ in range(4)]
    assert colors[0] == 0 and colors[-1] == 2


def test_hash_algorithms_match_the_reference_functions() -> None:
    fields = "bit<16> x; bit<16> y; bit<16> crc; bit<16> sum; bit<32> crc32;"
    sw = switch(fields, """
        hash(hdr.h.crc, HashAlgorithm.crc16, 16w0, {hdr.h.x, hdr.h.y}, 17w65536);
        hash(hdr.h.sum, HashAlgorithm.csum16, 16w0, {hdr.h.x, hdr.h.y}, 17w65536);
        hash(hdr.h.crc32, HashAlgorithm.crc32, 32w100, {hdr.h.x}, 32w1000);
    """)
    data = bytes([0x12, 0x34, 0xAB, 0xCD])
    out = sw.process(0, data + bytes(8))[0][1]
    assert int.from_bytes(out[4:6], "big") == HASH_ALGORITHMS["crc16"](data)
    assert int.from_bytes(out[6:8], "big") == HASH_ALGORITHMS["csum16"](data)
    assert int.from_bytes(out[8:12], "big") == 100 + HASH_ALGORITHMS["crc32"](data[:2]) % 1000


IPV4_PROGRAM = dict(
    decls="""
        header ethernet_t { bit<48> dst; bit<48> src; bit<16> type; }
        header ipv4_t { bit<4> version; bit<4> ihl; bit<8> tos; bit<16> len; bit<16> id;
                        bit<3> flags; bit<13> frag; bit<8> ttl; bit<8> proto; bit<16> csum;
                        bit<32> src; bit<32> dst; }
    """,
    more_headers="ethernet_t eth; ipv4_t ip;",
    parser="""
    state start { pkt.extract(hdr.eth); pkt.extract(hdr.ip); transition accept; }
    """,
    verify="""verify_checksum(hdr.ip.isValid(), {hdr.ip.version, hdr.ip.ihl, hdr.ip.tos,
        hdr.ip.len, hdr.ip.id, hdr.ip.flags, hdr.ip.frag, hdr.ip.ttl, hdr.ip.proto,
        hdr.ip.src, hdr.ip.dst}, hdr.ip.csum, HashAlgorithm.csum16);""",
    compute="""update_checksum(hdr.ip.isValid(), {hdr.ip.version, hdr.ip.ihl, hdr.ip.tos,
        hdr.ip.len, hdr.ip.id, hdr.ip.flags, hdr.ip.frag, hdr.ip.ttl, hdr.ip.proto,
        hdr.ip.src, hdr.ip.dst}, hdr.ip.csum, HashAlgorithm.csum16);""",
    deparser="pkt.emit(hdr.eth); pkt.emit(hdr.ip);",
)


def test_checksum_update_matches_scapy_and_verify_flags_errors() -> None:
    sw = switch("bit<8> unused;", """
        hdr.ip.ttl = hdr.ip.ttl - 1;
        if (sm.checksum_error == 1) { sm.egress_spec = 9; }
    """, **IPV4_PROGRAM)
    packet = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2", ttl=64) / UDP() / b"xy")
    port, out = sw.process(0, packet)[0]
    assert port == 1
    expected = Ether(packet)
    expected[IP].ttl = 63
    del expected[IP].chksum
    assert out == bytes(expected)
    broken = bytearray(packet)
    broken[24] ^= 0xFF  # damage the IPv4 checksum
    assert sw.process(0, bytes(broken))[0][0] == 9


def test_truncate_limits_the_output() -> None:
    sw = switch(FIELDS, "truncate(3);")
    assert sw.process(0, bytes(range(10))) == [(1, bytes([0, 1, 2]))]


def test_timestamps_are_microseconds_and_packet_length_is_set() -> None:
    now = [5_000_000]
    fields = "bit<48> ts; bit<32> length;"
    sw = switch(fields, "hdr.h.ts = sm.ingress_global_timestamp; hdr.h.length = "
                "sm.packet_length;")
    sw = type(sw)(sw.program, clock_ns=lambda: now[0])
    now[0] += 3_000_000
    out = sw.process(0, bytes(12))[0][1]
    assert int.from_bytes(out[:6], "big") == 3000
    assert int.from_bytes(out[6:10], "big") == 12


def test_malformed_packets_never_raise() -> None:
    sw = switch("bit<8> unused;", "", **IPV4_PROGRAM)
    for size in range(0, 40):
        sw.process(0, bytes(range(size)))


def test_failed_assert_drops_the_packet() -> None:
    sw = switch(FIELDS, "assert(hdr.h.a != 0);")
    assert sw.process(0, bytes(6)) == []
    assert sw.process(0, bytes([1]) + bytes(5)) == [(1, bytes([1]) + bytes(5))]


def test_direct_meter_reads_the_color_of_the_matched_entry() -> None:
    from p4sim.runtime.tables import ActionCall, Exact, OptionalMatch, TableEntry

    now = [0]
    sw = switch(FIELDS, "t.apply();", ingress_decls="""
        direct_meter<bit<8>>(MeterType.packets) m;
        action color() { m.read(hdr.h.b); }
        table t { key = { hdr.h.a: exact; hdr.h.c: optional; } actions = { color; }
                  meters = m; }
    """)
    sw = type(sw)(sw.program, clock_ns=lambda: now[0])
    entry = TableEntry((Exact(1), OptionalMatch(0)), ActionCall("I.color"), priority=1)
    sw.resolve_table("t").insert(entry)
    sw.configure_direct_meter(entry, 1, 1, 2, 2)
    colors = [sw.process(0, bytes([1]) + bytes(5))[0][1][1] for _ in range(4)]
    assert colors[0] == 0 and colors[-1] == 2
    # The optional key does not match another value: the default runs, b stays 0.
    assert sw.process(0, bytes([1, 0, 0, 0, 0, 1]))[0][1][1] == 0


def test_old_style_field_lists_name_fields_or_whole_structs() -> None:
    sw = switch(FIELDS, """
        if (sm.instance_type == 0) {
            meta.x = 5;
            meta.y = 6;
            if (hdr.h.a == 1) { resubmit({meta.x}); } else { resubmit(meta); }
        } else {
            hdr.h.b = meta.x + meta.y;
        }
    """, meta="bit<8> x; bit<8> y;")
    assert sw.process(0, bytes([1]) + bytes(5))[0][1][1] == 5
    assert sw.process(0, bytes([2]) + bytes(5))[0][1][1] == 11


def test_plain_and_replicated_packets_interleave_without_leftovers() -> None:
    """Plain packets take a shortcut through the architecture; packets that
    are multicast, cloned or recirculated in between must not disturb it."""
    sw = switch(FIELDS, """
        if (hdr.h.a == 1) { sm.mcast_grp = 7; }
        if (hdr.h.a == 2) { clone(CloneType.I2E, 5); }
        hdr.h.c = hdr.h.c + 1;
    """, egress="""
        if (hdr.h.a == 3 && hdr.h.c < 3) { recirculate_preserving_field_list(0); }
    """, meta="@field_list(0) bit<8> n;")
    sw.pre.create_group(7, [(2, 0), (3, 1)])
    sw.pre.create_session(5, [(6, 0)])
    for _ in range(2):
        assert sw.process(0, bytes(6)) == [(1, bytes([0, 0, 0, 0, 0, 1]))]
        assert sw.process(0, bytes([1, 0, 0, 0, 0, 0])) == [
            (2, bytes([1, 0, 0, 0, 0, 1])), (3, bytes([1, 0, 0, 0, 0, 1]))]
        assert sw.process(0, bytes([2, 0, 0, 0, 0, 0])) == [
            (6, bytes([2, 0, 0, 0, 0, 0])), (1, bytes([2, 0, 0, 0, 0, 1]))]
        assert sw.process(0, bytes([3, 0, 0, 0, 0, 0])) == [(1, bytes([3, 0, 0, 0, 0, 3]))]
