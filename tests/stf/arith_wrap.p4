// Unsigned and signed arithmetic wraps around modulo 2^W (P4_16 spec 8.5, 8.6).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8>  a;
    bit<8>  b;
    bit<8>  sum;
    bit<8>  diff;
    bit<8>  prod;
    bit<16> wide;
    int<8>  sa;
    int<8>  sb;
    int<8>  ssum;
    int<8>  sneg;
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
        hdr.d.sum = hdr.d.a + hdr.d.b;
        hdr.d.diff = hdr.d.a - hdr.d.b;
        hdr.d.prod = hdr.d.a * hdr.d.b;
        hdr.d.wide = (bit<16>)hdr.d.a * (bit<16>)hdr.d.b;
        hdr.d.ssum = hdr.d.sa + hdr.d.sb;
        hdr.d.sneg = -hdr.d.sa;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
