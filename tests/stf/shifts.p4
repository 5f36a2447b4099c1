// Shifts: << and >> on bit<W> are logical, >> on int<W> is arithmetic, and a
// shift by W or more gives 0 (or all sign bits for a negative int<W> >>),
// P4_16 spec 8.5/8.6. Amounts come from the packet so nothing is folded.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> x;
    bit<8> n;
    bit<8> big;
    int<8> s;
    bit<8> shl_c;
    bit<8> shr_c;
    bit<8> shl_v;
    bit<8> shr_v;
    int<8> sshr_c;
    int<8> sshr_v;
    bit<8> shl_big;
    bit<8> shr_big;
    int<8> sshr_big;
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
        hdr.d.shl_c = hdr.d.x << 3;
        hdr.d.shr_c = hdr.d.x >> 3;
        hdr.d.shl_v = hdr.d.x << hdr.d.n;
        hdr.d.shr_v = hdr.d.x >> hdr.d.n;
        hdr.d.sshr_c = hdr.d.s >> 2;
        hdr.d.sshr_v = hdr.d.s >> hdr.d.n;
        hdr.d.shl_big = hdr.d.x << hdr.d.big;
        hdr.d.shr_big = hdr.d.x >> hdr.d.big;
        hdr.d.sshr_big = hdr.d.s >> hdr.d.big;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
