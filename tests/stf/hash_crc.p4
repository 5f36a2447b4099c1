// hash() with crc16 and crc32 as bmv2 computes them (CRC-16/ARC and the
// zlib CRC-32 over the fields packed big-endian without padding), then
// result = base + (hash % max). Expected values: gen/make_stf.py.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<32> a;
    bit<16> b;
    bit<8>  c;
    bit<8>  pad;
    bit<16> h_crc16;
    bit<32> h_crc32;
    bit<16> h_base;
    bit<32> h_mod;
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
        hash(hdr.d.h_crc16, HashAlgorithm.crc16, (bit<16>)0, { hdr.d.a, hdr.d.b }, (bit<32>)65536);
        hash(hdr.d.h_crc32, HashAlgorithm.crc32, (bit<32>)0, { hdr.d.a, hdr.d.b, hdr.d.c },
             (bit<64>)4294967296);
        hash(hdr.d.h_base, HashAlgorithm.crc16, (bit<16>)100, { hdr.d.a }, (bit<32>)1000);
        hash(hdr.d.h_mod, HashAlgorithm.crc32, (bit<32>)0, { hdr.d.c, hdr.d.b }, (bit<32>)7);
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
