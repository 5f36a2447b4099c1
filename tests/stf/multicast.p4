// Multicast: mcast_grp selects a replication group; each copy runs egress
// with its port and egress_rid and instance_type 5 (bmv2 simple_switch). An
// unknown group replicates to nobody; mark_to_drop also clears mcast_grp
// (v1model.p4), so only a later assignment multicasts again.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> grp;
    bit<8> rid;
    bit<8> port;
    bit<8> itype;
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
        if (hdr.d.grp == 0x81) {
            sm.mcast_grp = 1;
            mark_to_drop(sm);
        } else if (hdr.d.grp == 0x82) {
            mark_to_drop(sm);
            sm.mcast_grp = 1;
        } else {
            sm.mcast_grp = (bit<16>)hdr.d.grp;
        }
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.d.rid = (bit<8>)sm.egress_rid;
        hdr.d.port = (bit<8>)sm.egress_port;
        hdr.d.itype = (bit<8>)sm.instance_type;
    }
}

control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
