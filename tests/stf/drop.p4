// mark_to_drop in ingress or egress drops the packet; a later assignment to
// egress_spec in ingress overrides it (v1model: mark_to_drop only sets
// egress_spec to the drop port 511).
#include <core.p4>
#include <v1model.p4>

header data_t { bit<8> k; }

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
        sm.egress_spec = 1;
        if (hdr.d.k == 1) {
            mark_to_drop(sm);
        } else if (hdr.d.k == 4) {
            mark_to_drop(sm);
            sm.egress_spec = 2;
        }
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        if (hdr.d.k == 3) {
            mark_to_drop(sm);
        }
    }
}

control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
