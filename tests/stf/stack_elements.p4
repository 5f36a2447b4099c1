// Header stack elements by constant index: setInvalid on a middle element
// (the deparser skips it), element-to-element assignment, and writes to an
// element made valid again (P4_16 spec 8.18).
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
        pkt.extract(hdr.items.next);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        if (hdr.ctl.op == 1) {
            hdr.items[1].setInvalid();
        } else if (hdr.ctl.op == 2) {
            hdr.items[0] = hdr.items[2];
            hdr.items[2].v = hdr.items[2].v + 1;
        } else if (hdr.ctl.op == 3) {
            hdr.items[1].setInvalid();
            hdr.items[1].setValid();
            hdr.items[1].v = 0x5A;
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
