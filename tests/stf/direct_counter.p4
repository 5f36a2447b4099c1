// A direct counter counts the packets and bytes that hit each table entry;
// misses are not counted.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> k;
    bit<8> v;
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
    direct_counter(CounterType.packets_and_bytes) hits;

    action set(bit<8> v) {
        hits.count();
        hdr.d.v = v;
    }
    action miss() {
        hdr.d.v = 0xFF;
    }
    table t {
        key = { hdr.d.k : exact; }
        actions = { set; @defaultonly miss; }
        default_action = miss();
        counters = hits;
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
