// Calling convention (P4_16 spec 6.8): out/inout arguments are copied in
// left to right before the call and copied out left to right after it, so
// aliased arguments keep the last copy-out. && short-circuits, so a table
// applied on its right runs only when the left side holds (spec 8.4).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> k;
    bit<8> x;
    bit<8> y;
    bit<8> z;
    bit<8> w;
    bit<8> r;
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
    action set2(out bit<8> a, out bit<8> b) {
        a = 1;
        b = 2;
    }
    action swap(inout bit<8> a, inout bit<8> b) {
        bit<8> t = a;
        a = b;
        b = t;
    }
    action bump_both(inout bit<8> a, inout bit<8> b) {
        a = a + 1;
        b = b + 0x10;
    }
    action mark(bit<8> v) {
        hdr.d.r = v;
    }
    table first {
        key = { hdr.d.k : exact; }
        actions = { NoAction; }
        default_action = NoAction();
    }
    table second {
        key = { hdr.d.k : exact; }
        actions = { mark; }
        default_action = mark(0xEE);
    }
    apply {
        set2(hdr.d.x, hdr.d.x);
        swap(hdr.d.y, hdr.d.z);
        bump_both(hdr.d.w, hdr.d.w);
        if (first.apply().hit && second.apply().hit) {
            hdr.d.r = 0x11;
        }
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
