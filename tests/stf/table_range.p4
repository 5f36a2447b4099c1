// A table with a range key (both ends included) next to an exact key;
// overlapping ranges are decided by priority.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<16> port;
    bit<8>  proto;
    bit<8>  v;
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
    action set(bit<8> v) {
        hdr.d.v = v;
    }
    table acl {
        key = {
            hdr.d.port  : range;
            hdr.d.proto : exact;
        }
        actions = { set; NoAction; }
        default_action = NoAction();
    }
    apply {
        acl.apply();
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
