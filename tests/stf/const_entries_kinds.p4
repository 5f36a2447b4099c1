// const entries for every key kind: exact values, lpm written as a mask or
// a prefix-shaped &&&, ranges (lo .. hi), ternary masks and the don't-care _
// (P4_16 spec 14.2.1.4); entries without priorities match in listed order.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8>  e;
    bit<16> r;
    bit<32> l;
    bit<8>  t;
    bit<8>  v;
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
    action set(bit<8> v) {
        hdr.d.v = v;
    }
    table mixed {
        key = {
            hdr.d.e : exact;
            hdr.d.r : range;
            hdr.d.t : ternary;
        }
        actions = { set; NoAction; }
        default_action = NoAction();
        const entries = {
            (1, 100 .. 199, 0x0F &&& 0x0F) : set(1);
            (1, 150 .. 299, _) : set(2);
            (2, _, 0xAA) : set(3);
            (3, 0 .. 9, _) : set(4);
        }
    }
    table routes {
        key = { hdr.d.l : lpm; }
        actions = { set; NoAction; }
        default_action = NoAction();
        const entries = {
            0x0A000000 &&& 0xFF000000 : set(0x10);
            0x0A010000 &&& 0xFFFF0000 : set(0x20);
        }
    }
    apply {
        mixed.apply();
        if (hdr.d.v == 0) {
            routes.apply();
        }
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
