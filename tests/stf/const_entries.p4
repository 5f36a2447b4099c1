// const entries: without priorities the first listed matching entry wins;
// with `priority = N:` (in a non-const `entries` list: p4c refuses
// priorities in `const entries`, and so does p4sim) the largest N wins
// (P4_16 spec 14.2.1.4). Also a const default action with action data, and
// size.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> f;
    bit<8> r1;
    bit<8> r2;
}

struct headers_t { data_t d; }
struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.d);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    action set1(bit<8> v) {
        hdr.d.r1 = v;
    }
    action set2(bit<8> v) {
        hdr.d.r2 = v;
    }
    table in_order {
        key = { hdr.d.f : ternary; }
        actions = { set1; }
        const default_action = set1(0xEE);
        size = 16;
        const entries = {
            0x10 &&& 0xF0 : set1(1);
            0x12 : set1(2);
        }
    }
    table by_priority {
        key = { hdr.d.f : ternary; }
        actions = { set2; }
        default_action = set2(0x77);
        entries = {
            priority = 10: 0x20 &&& 0xF0 : set2(1);
            priority = 20: 0x22 : set2(2);
        }
    }
    apply {
        in_order.apply();
        by_priority.apply();
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
