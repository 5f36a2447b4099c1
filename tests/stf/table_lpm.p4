// An lpm table: the longest matching prefix wins, /0 is a default route.
#include <core.p4>
#include <v1model.p4>

header ip_t {
    bit<32> dst;
    bit<8>  nh;
}

struct headers_t { ip_t ip; }
struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.ip);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    action set_nh(bit<8> nh) {
        hdr.ip.nh = nh;
    }
    table routes {
        key = { hdr.ip.dst : lpm; }
        actions = { set_nh; NoAction; }
        default_action = NoAction();
    }
    apply {
        routes.apply();
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.ip); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
