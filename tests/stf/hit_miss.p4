// t.apply().hit and .miss (P4_16 spec 14.2.2).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> k;
    bit<8> r1;
    bit<8> r2;
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
    table first {
        key = { hdr.d.k : exact; }
        actions = { NoAction; }
        default_action = NoAction();
    }
    table second {
        key = { hdr.d.k : exact; }
        actions = { NoAction; }
        default_action = NoAction();
    }
    apply {
        if (first.apply().hit) {
            hdr.d.r1 = 1;
        } else {
            hdr.d.r1 = 2;
        }
        if (second.apply().miss) {
            hdr.d.r2 = 0xAA;
        }
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
