// select on a tuple with masks (&&&), don't-care (_) and default; the first
// matching case wins (P4_16 spec 12.6).
#include <core.p4>
#include <v1model.p4>

header h_t {
    bit<8> kind;
    bit<8> sub;
}
header a_t { bit<8> v; }
header b_t { bit<8> v; }
header out_t { bit<8> path; }

struct headers_t {
    h_t   h;
    a_t   a;
    b_t   b;
    out_t result;
}

struct meta_t {
    bit<8> path;
}

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.h);
        transition select(hdr.h.kind, hdr.h.sub) {
            (0x10 &&& 0xF0, _): parse_a;
            (0x20, 0x01 &&& 0x0F): parse_b;
            (0x1F, 0x00): parse_b;
            default: accept;
        }
    }
    state parse_a {
        pkt.extract(hdr.a);
        meta.path = 1;
        transition accept;
    }
    state parse_b {
        pkt.extract(hdr.b);
        meta.path = 2;
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.result.setValid();
        hdr.result.path = meta.path;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }

control DP(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.h);
        pkt.emit(hdr.a);
        pkt.emit(hdr.b);
        pkt.emit(hdr.result);
    }
}

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
