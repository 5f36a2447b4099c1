// A serializable enum key takes a mask of its underlying type, in const
// table entries and in select cases (`E.A &&& 0xF0`).
#include <core.p4>
#include <v1model.p4>

enum bit<8> kind_t { A = 0x12, B = 0x34, C = 0x1F }

header data_t {
    kind_t kind;
    bit<8> tagged;
}

struct headers_t { data_t d; }
struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.d);
        transition select(hdr.d.kind) {
            kind_t.B &&& 0xF0: tag;
            default: accept;
        }
    }
    state tag {
        hdr.d.tagged = 0xAA;
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    action to(bit<9> port) { sm.egress_spec = port; }
    table route {
        key = { hdr.d.kind : ternary; }
        actions = { to; }
        const default_action = to(3);
        const entries = {
            kind_t.C &&& 0x0F : to(2);
            kind_t.A &&& 0xF0 : to(1);
        }
    }
    apply { route.apply(); }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
