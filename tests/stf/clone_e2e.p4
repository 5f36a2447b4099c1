// clone(E2E, session) in egress: the original leaves as usual; the clone
// carries the headers as egress left them, goes to the session's port and
// runs egress again with instance_type 2 (bmv2 simple_switch).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> mark;
    bit<8> mark2;
    bit<8> port;
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
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.d.port = (bit<8>)sm.egress_port;
        if (sm.instance_type == 0) {
            hdr.d.mark = 0xA0;
            clone(CloneType.E2E, 7);
        } else if (sm.instance_type == 2) {
            hdr.d.mark2 = 0xE2;
        }
    }
}

control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
