// Saturating |+| and |-| clamp at the type's bounds instead of wrapping
// (P4_16 spec 8.5 for bit<W>, 8.6 for int<W>).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> a;
    bit<8> b;
    bit<8> add_u;
    bit<8> sub_u;
    int<8> sa;
    int<8> sb;
    int<8> add_s;
    int<8> sub_s;
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
        hdr.d.add_u = hdr.d.a |+| hdr.d.b;
        hdr.d.sub_u = hdr.d.a |-| hdr.d.b;
        hdr.d.add_s = hdr.d.sa |+| hdr.d.sb;
        hdr.d.sub_s = hdr.d.sa |-| hdr.d.sb;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
