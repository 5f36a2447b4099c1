// clone_preserving_field_list(I2E, session, index): the clone keeps the
// metadata fields tagged @field_list(index); the rest of its metadata starts
// from zero (bmv2 simple_switch).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> kept;
    bit<8> other;
    bit<8> itype;
}

struct headers_t { data_t d; }

struct meta_t {
    @field_list(1)
    bit<8> kept;
    bit<8> other;
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
        meta.kept = 0x77;
        meta.other = 0x88;
        clone_preserving_field_list(CloneType.I2E, 5, 1);
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.d.kept = meta.kept;
        hdr.d.other = meta.other;
        hdr.d.itype = (bit<8>)sm.instance_type;
    }
}

control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
