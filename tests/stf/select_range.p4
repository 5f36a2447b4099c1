// select with ranges (lo .. hi, both ends included) and default
// (P4_16 spec 8.15.3, 12.6).
#include <core.p4>
#include <v1model.p4>

header h_t {
    bit<8> kind;
    bit<8> path;
}

struct headers_t { h_t h; }

struct meta_t {
    bit<8> path;
}

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.h);
        transition select(hdr.h.kind) {
            1 .. 9: low;
            10 .. 0x7F: mid;
            default: accept;
        }
    }
    state low {
        meta.path = 1;
        transition accept;
    }
    state mid {
        meta.path = 2;
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.h.path = meta.path;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.h); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
