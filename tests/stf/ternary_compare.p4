// ?: picks one operand, comparisons on int<W> are signed and on bit<W>
// unsigned, bool operators short-circuit (P4_16 spec 8.4-8.6).
#include <core.p4>
#include <v1model.p4>

header data_t {
    int<8> a;
    int<8> b;
    bit<8> ua;
    bit<8> ub;
    int<8> smax;
    bit<8> umax;
    bit<8> flags;
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
        hdr.d.smax = hdr.d.a > hdr.d.b ? hdr.d.a : hdr.d.b;
        hdr.d.umax = hdr.d.ua > hdr.d.ub ? hdr.d.ua : hdr.d.ub;
        bool lt_s = hdr.d.a < hdr.d.b;
        bool lt_u = hdr.d.ua < hdr.d.ub;
        bool eq_s = hdr.d.a == hdr.d.b;
        bool ge_u = hdr.d.ua >= hdr.d.ub;
        bool both = lt_u && eq_s;
        bool either = !lt_s || both;
        hdr.d.flags = (bit<1>)lt_s ++ (bit<1>)lt_u ++ (bit<1>)eq_s ++ (bit<1>)ge_u
                      ++ (bit<1>)both ++ (bit<1>)either ++ 2w0;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
