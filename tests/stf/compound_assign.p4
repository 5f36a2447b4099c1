// Compound assignments (P4_16 1.2.5 `op=`): `x op= e` is `x = x op e`, with
// the target evaluated once, so a call in its index runs once.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> a;
    bit<8> b;
    int<8> s;
    bit<8> i;
}
header item_t { bit<8> x; }

struct headers_t { data_t d; item_t[4] items; }
struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.d);
        pkt.extract(hdr.items.next);
        pkt.extract(hdr.items.next);
        pkt.extract(hdr.items.next);
        pkt.extract(hdr.items.next);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

bit<8> postincr(inout bit<8> x) {
    bit<8> old = x;
    x += 1;
    return old;
}

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.d.a += 3;
        hdr.d.a <<= 1;
        hdr.d.a[3:0] ^= 0xF;
        hdr.d.b -= 1;
        hdr.d.b |+|= 250;
        hdr.d.s >>= 1;
        hdr.items[postincr(hdr.d.i) & 3].x |= 0x80;
        hdr.items[postincr(hdr.d.i) & 3].x *= 2;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }

control DP(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.d);
        pkt.emit(hdr.items);
    }
}

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
