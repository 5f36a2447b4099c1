// Fields wider than 64 bits keep exact width semantics: 128-bit add, unary
// minus and ~ wrap at 128 bits, 64-bit multiply keeps the low 64 bits,
// shifts and slices cross 64-bit boundaries. Also: an 8-bit sum wraps before
// a widening cast, a cast of a negative int constant is two's complement.
// Expected values: gen/make_stf.py.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<128> a;
    bit<128> b;
    bit<128> sum;
    bit<128> neg;
    bit<128> inv;
    bit<128> shl;
    bit<64>  p;
    bit<64>  q;
    bit<64>  prod;
    bit<16>  mid;
    bit<8>   m8;
    bit<8>   n8;
    bit<16>  narrow_sum;
    bit<16>  wide_sum;
    bit<8>   minus1;
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
        hdr.d.neg = -hdr.d.a;
        hdr.d.inv = ~hdr.d.b;
        hdr.d.shl = hdr.d.a << 68;
        hdr.d.prod = hdr.d.p * hdr.d.q;
        hdr.d.mid = hdr.d.a[71:56];
        hdr.d.narrow_sum = (bit<16>)(hdr.d.m8 + hdr.d.n8);
        hdr.d.wide_sum = (bit<16>)hdr.d.m8 + (bit<16>)hdr.d.n8;
        hdr.d.minus1 = (bit<8>)(-1);
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
