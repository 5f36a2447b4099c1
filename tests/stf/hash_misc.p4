// hash() with csum16 (ones' complement of the ones' complement sum), xor16
// (xor of 16-bit words), identity (the first 8 bytes of the input), and
// inputs whose fields are not byte-sized: bmv2 packs the bits back to back
// and pads the last byte with zeros. Expected values: gen/make_stf.py.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<32> a;
    bit<16> b;
    bit<8>  c;
    bit<4>  n1;
    bit<12> n2;
    bit<8>  pad;
    bit<16> h_csum;
    bit<16> h_xor;
    bit<32> h_ident;
    bit<16> h_packed;
    bit<16> h_padded;
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
        hash(hdr.d.h_csum, HashAlgorithm.csum16, (bit<16>)0, { hdr.d.a, hdr.d.b }, (bit<32>)65536);
        hash(hdr.d.h_xor, HashAlgorithm.xor16, (bit<16>)0, { hdr.d.a, hdr.d.b }, (bit<32>)65536);
        hash(hdr.d.h_ident, HashAlgorithm.identity, (bit<32>)0, { hdr.d.b, hdr.d.c, hdr.d.c },
             (bit<64>)4294967296);
        hash(hdr.d.h_packed, HashAlgorithm.crc16, (bit<16>)0, { hdr.d.n1, hdr.d.n2 },
             (bit<32>)65536);
        hash(hdr.d.h_padded, HashAlgorithm.crc16, (bit<16>)0, { hdr.d.n2 }, (bit<32>)65536);
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
