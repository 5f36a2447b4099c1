// Concatenation (++) widths add up, slices [hi:lo] read and write bit ranges
// (P4_16 spec 8.5, 8.6.3).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8>  a;
    bit<8>  b;
    bit<16> cat;
    bit<4>  hi;
    bit<4>  lo;
    bit<8>  mid;
    bit<8>  setlow;
    bit<12> c12;
    bit<4>  pad;
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
    apply {
        hdr.d.cat = hdr.d.a ++ hdr.d.b;
        hdr.d.hi = hdr.d.a[7:4];
        hdr.d.lo = hdr.d.b[3:0];
        bit<16> both = hdr.d.a ++ hdr.d.b;
        hdr.d.mid = both[11:4];
        hdr.d.setlow = hdr.d.a;
        hdr.d.setlow[3:0] = hdr.d.b[7:4];
        hdr.d.c12 = hdr.d.hi ++ hdr.d.a;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
