// clone(I2E, session): the original continues as usual; the clone is the
// packet as it arrived (re-parsed, ingress changes not applied), sent to the
// session's port through egress with instance_type 1 (bmv2 simple_switch).
// An unconfigured session makes no clone.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> k;
    bit<8> tag;
    bit<8> mark;
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
        hdr.d.tag = 0x11;
        if (hdr.d.k == 1) {
            clone(CloneType.I2E, 5);
        } else {
            clone(CloneType.I2E, 6);
        }
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        if (sm.instance_type == 1) {
            hdr.d.mark = 0xC1;
        } else {
            hdr.d.mark = 0x0E;
        }
        hdr.d.itype = (bit<8>)sm.instance_type;
    }
}

control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
