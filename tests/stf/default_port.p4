// Ingress that never sets egress_spec: standard metadata starts zeroed, so
// the packet leaves on port 0 (bmv2 simple_switch).
#include <core.p4>
#include <v1model.p4>

header data_t { bit<8> v; }

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
        hdr.d.v = hdr.d.v + 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
