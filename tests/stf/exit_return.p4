// exit ends the whole control (also from inside an action), return ends the
// apply block; in v1model the egress control still runs afterwards
// (P4_16 spec 12.5, 12.4).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> k;
    bit<8> r1;
    bit<8> r2;
    bit<8> r3;
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
    action stop() {
        hdr.d.r1 = 0x51;
        exit;
    }
    apply {
        sm.egress_spec = 1;
        if (hdr.d.k == 1) {
            stop();
            hdr.d.r2 = 0xBA;
        }
        if (hdr.d.k == 2) {
            hdr.d.r1 = 0x52;
            return;
        }
        hdr.d.r2 = 0x99;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.d.r3 = 0xE0;
        if (hdr.d.k == 3) {
            exit;
        }
        hdr.d.r3 = 0xE1;
    }
}

control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
