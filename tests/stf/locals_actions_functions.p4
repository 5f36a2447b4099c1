// Control-local variables and constants, actions with directional params
// called directly, actions calling actions, and P4 functions with return
// (P4_16 spec 10, 13, 14).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> a;
    bit<8> b;
    bit<8> r1;
    bit<8> r2;
    bit<8> r3;
}

struct headers_t { data_t d; }
struct meta_t { }

bit<8> max8(in bit<8> x, in bit<8> y) {
    if (x > y) {
        return x;
    }
    return y;
}

bit<8> twice(in bit<8> v) {
    bit<8> t = v;
    t = t + v;
    return t;
}

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.d);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    bit<8> acc = 0;
    const bit<8> BASE = 0x10;

    action add_to(inout bit<8> x, in bit<8> v) {
        x = x + v;
    }
    action bump() {
        add_to(acc, 3);
        add_to(acc, 4);
    }

    apply {
        bump();
        hdr.d.r1 = acc + BASE;
        hdr.d.r2 = max8(hdr.d.a, hdr.d.b);
        hdr.d.r3 = twice(hdr.d.a);
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
