// push_front/pop_front shift header stack elements and their validity
// (P4_16 spec 8.18): push_front(n) invalidates the first n, pop_front(n)
// invalidates the last n, elements pushed past the end are lost.
#include <core.p4>
#include <v1model.p4>

header ctl_t { bit<8> op; }
header item_t { bit<8> v; }

struct headers_t {
    ctl_t     ctl;
    item_t[3] items;
}

struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.ctl);
        pkt.extract(hdr.items.next);
        pkt.extract(hdr.items.next);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        if (hdr.ctl.op == 1) {
            hdr.items.push_front(1);
            hdr.items[0].setValid();
            hdr.items[0].v = 0xAA;
        } else if (hdr.ctl.op == 2) {
            hdr.items.pop_front(1);
        } else if (hdr.ctl.op == 3) {
            hdr.items.push_front(2);
        }
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }

control DP(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.ctl);
        pkt.emit(hdr.items);
    }
}

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
