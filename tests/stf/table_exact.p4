// An exact-match table: entries added by the control plane, action data
// from the entry, default action on a miss, setdefault at run time.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<16> dst;
    bit<8>  tag;
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

control MyIngress(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    action set_port(bit<9> port) {
        sm.egress_spec = port;
    }
    action tag(bit<8> v) {
        hdr.d.tag = v;
    }
    table fwd {
        key = { hdr.d.dst : exact; }
        actions = { set_port; tag; NoAction; }
        default_action = NoAction();
        size = 64;
    }
    apply {
        sm.egress_spec = 3;
        fwd.apply();
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), MyIngress(), EG(), CC(), DP()) main;
