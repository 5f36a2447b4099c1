// Orderings at the end of each pipe (bmv2 simple_switch): an ingress clone
// is made before a resubmit, so both copies exist; an egress clone is made
// before the packet is deparsed and recirculated, so both exist too. The
// I2E clone is the packet as received, the E2E clone the headers as egress
// left them.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> k;
    bit<8> rec;
    bit<8> seen;
    bit<8> itype;
    bit<8> port;
}

struct headers_t { data_t d; }

struct meta_t {
    @field_list(1)
    bit<8> kept;
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
        sm.egress_spec = 1;
        if (sm.instance_type != 0) {
            hdr.d.seen = (bit<8>)sm.instance_type;
        }
        if (hdr.d.k == 1 && sm.instance_type == 0) {
            clone(CloneType.I2E, 5);
            resubmit_preserving_field_list(1);
        }
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.d.itype = (bit<8>)sm.instance_type;
        hdr.d.port = (bit<8>)sm.egress_port;
        if (hdr.d.k == 2 && hdr.d.rec == 0) {
            hdr.d.rec = 1;
            clone(CloneType.E2E, 6);
            recirculate_preserving_field_list(1);
        }
    }
}

control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
