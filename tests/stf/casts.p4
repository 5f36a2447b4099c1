// Casts (P4_16 spec 8.11): narrowing bit<W> truncates, widening bit<W>
// zero-extends, widening int<W> sign-extends, int<W> <-> bit<W> keeps the
// bits, bool <-> bit<1>.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<16> w;
    int<8>  s;
    bit<8>  t8;
    bit<16> z16;
    int<16> s16;
    bit<8>  s2u;
    bit<1>  flag;
    bit<7>  pad;
    bit<32> b32;
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
        hdr.d.t8 = (bit<8>)hdr.d.w;
        hdr.d.z16 = (bit<16>)((bit<8>)hdr.d.s);
        hdr.d.s16 = (int<16>)hdr.d.s;
        hdr.d.s2u = (bit<8>)hdr.d.s;
        hdr.d.flag = (bit<1>)(hdr.d.w == 16w0x1234);
        if ((bool)hdr.d.flag) {
            hdr.d.pad = 7w0x55;
        }
        hdr.d.b32 = (bit<32>)(int<32>)hdr.d.s;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
