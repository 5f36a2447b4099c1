// recirculate_preserving_field_list in egress: the deparsed packet enters
// the parser and ingress again with instance_type 4, keeping the tagged
// metadata; the first pass does not leave the switch. In egress the
// recirculated packet is NORMAL again (bmv2 simple_switch).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8>  pass1;
    bit<8>  pass2;
    bit<8>  itype;
    bit<32> len;
}

struct headers_t { data_t d; }

struct meta_t {
    @field_list(1)
    bit<8> count;
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
        if (sm.instance_type == 4) {
            hdr.d.pass2 = meta.count;
            hdr.d.itype = 4;
            hdr.d.len = sm.packet_length;
        }
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        // In egress a recirculated packet is NORMAL again (bmv2 sets
        // instance_type 0 when it enqueues a unicast packet), so the header
        // says whether this is the first pass.
        if (hdr.d.pass1 == 0) {
            hdr.d.pass1 = 0x11;
            meta.count = 3;
            recirculate_preserving_field_list(1);
        }
    }
}

control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
