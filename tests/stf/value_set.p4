// A parser value_set: select matches the members the control plane added
// (p4sim's value_set_add; p4c's STF has no command for it). An empty set
// matches nothing.
#include <core.p4>
#include <v1model.p4>

header h_t { bit<16> type; }
header x_t { bit<8> v; }
header out_t { bit<8> path; }

struct headers_t {
    h_t   h;
    x_t   x;
    out_t result;
}

struct meta_t {
    bit<8> path;
}

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    value_set<bit<16>>(4) custom;

    state start {
        pkt.extract(hdr.h);
        transition select(hdr.h.type) {
            custom: parse_x;
            0x0800: known;
            default: accept;
        }
    }
    state parse_x {
        pkt.extract(hdr.x);
        meta.path = 1;
        transition accept;
    }
    state known {
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
        pkt.emit(hdr.x);
        pkt.emit(hdr.result);
    }
}

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
