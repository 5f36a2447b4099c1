// == and != on headers and structs (P4_16 spec 8.17, 8.12): two headers are
// equal when both are invalid, or both are valid with equal fields.
#include <core.p4>
#include <v1model.p4>

header res_t { bit<8> flags; }

header h_t {
    bit<8> a;
    bit<8> b;
}

struct pair_t {
    bit<8> x;
    bit<8> y;
}

struct headers_t {
    res_t res;
    h_t   h1;
    h_t   h2;
    h_t   h3;
    h_t   h4;
}

struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.res);
        pkt.extract(hdr.h1);
        pkt.extract(hdr.h2);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        pair_t p = { hdr.h1.a, hdr.h1.b };
        pair_t q = { hdr.h2.a, hdr.h2.b };
        hdr.res.flags = (bit<1>)(hdr.h1 == hdr.h2) ++ (bit<1>)(hdr.h3 == hdr.h4)
                        ++ (bit<1>)(hdr.h1 == hdr.h3) ++ (bit<1>)(p == q)
                        ++ (bit<1>)(p != q) ++ 3w0;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }

control DP(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.res);
        pkt.emit(hdr.h1);
        pkt.emit(hdr.h2);
    }
}

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
