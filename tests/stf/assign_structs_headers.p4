// Assignment of whole structs, struct initializers, whole headers (copying
// validity too) and slices of fields (P4_16 spec 8.12, 8.17, 8.18).
#include <core.p4>
#include <v1model.p4>

header a_t {
    bit<8> x;
    bit<8> y;
}

struct pair_t {
    bit<8> x;
    bit<8> y;
}

struct headers_t {
    a_t a;
    a_t b;
}

struct meta_t {
    pair_t p;
    pair_t q;
}

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.a);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        meta.p = { hdr.a.x, hdr.a.y };
        meta.q = meta.p;
        meta.q.x = meta.q.x + 1;
        hdr.b = hdr.a;
        hdr.b.x = meta.q.x;
        hdr.a.y[3:0] = 4w0xF;
        meta.p.y = 0;
        hdr.b.y = hdr.b.y + meta.p.y;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }

control DP(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.a);
        pkt.emit(hdr.b);
    }
}

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
