// ingress_global_timestamp and egress_global_timestamp count microseconds
// since the switch started (bmv2). The STF runner's clock is virtual: 1 us
// per input packet, 1 s per `wait`, so the values are exact.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<48> ig_ts;
    bit<48> eg_ts;
    bit<48> delta;
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
    register<bit<48>>(1) last_seen;

    apply {
        bit<48> prev;
        last_seen.read(prev, 0);
        hdr.d.ig_ts = sm.ingress_global_timestamp;
        hdr.d.delta = sm.ingress_global_timestamp - prev;
        last_seen.write(0, sm.ingress_global_timestamp);
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.d.eg_ts = sm.egress_global_timestamp;
    }
}

control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
