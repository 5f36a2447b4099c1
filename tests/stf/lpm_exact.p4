// An exact key and an lpm key in one table (a VRF-style route table): the
// longest prefix wins among the entries whose exact key matches.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8>  vrf;
    bit<32> dst;
    bit<8>  nh;
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
    action set_nh(bit<8> nh) {
        hdr.d.nh = nh;
    }
    table routes {
        key = {
            hdr.d.vrf : exact;
            hdr.d.dst : lpm;
        }
        actions = { set_nh; NoAction; }
        default_action = NoAction();
    }
    apply {
        routes.apply();
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
