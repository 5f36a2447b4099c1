// A direct meter attached to a table: each entry has its own buckets,
// read by the entry's action (RFC 2698 colours as bmv2 runs them).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> k;
    bit<8> color;
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
    direct_meter<bit<8>>(MeterType.packets) rate;

    action police() {
        rate.read(hdr.d.color);
    }
    table t {
        key = { hdr.d.k : exact; }
        actions = { police; NoAction; }
        default_action = NoAction();
        meters = rate;
    }
    apply {
        t.apply();
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
