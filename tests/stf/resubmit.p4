// resubmit_preserving_field_list: the packet as it arrived goes through
// the parser and ingress again with instance_type 6; only the metadata
// fields tagged with the list's @field_list index keep their values, and
// the first pass does not leave the switch (bmv2 simple_switch).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> x;
    bit<8> seen;
    bit<8> lost;
    bit<8> itype;
}

struct headers_t { data_t d; }

struct meta_t {
    @field_list(1)
    bit<8> kept;
    bit<8> dropped;
}

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.d);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        if (sm.instance_type == 0) {
            meta.kept = 7;
            meta.dropped = 9;
            hdr.d.x = 0xFF;
            sm.egress_spec = 2;
            resubmit_preserving_field_list(1);
        } else {
            hdr.d.seen = meta.kept;
            hdr.d.lost = meta.dropped;
            hdr.d.x = hdr.d.x + 1;
            hdr.d.itype = (bit<8>)sm.instance_type;
            sm.egress_spec = 1;
        }
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
