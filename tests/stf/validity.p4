// setValid/setInvalid/isValid decide what the deparser emits
// (P4_16 spec 8.17).
#include <core.p4>
#include <v1model.p4>

header a_t { bit<8> v; }
header b_t { bit<8> v; }
header c_t { bit<8> v; }

struct headers_t {
    a_t a;
    b_t b;
    c_t c;
}

struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.a);
        transition select(hdr.a.v) {
            0: accept;
            default: parse_b;
        }
    }
    state parse_b {
        pkt.extract(hdr.b);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        if (hdr.b.isValid()) {
            hdr.b.setInvalid();
            hdr.c.setValid();
            hdr.c.v = 0xCC;
        }
        if (!hdr.b.isValid() && hdr.c.isValid()) {
            hdr.a.v = 0xAA;
        }
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }

control DP(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.a);
        pkt.emit(hdr.b);
        pkt.emit(hdr.c);
    }
}

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
