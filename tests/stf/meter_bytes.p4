// A byte-based two-rate three-colour meter: each packet takes its length
// (as received) in tokens; a YELLOW packet still pays the peak bucket
// (RFC 2698 as bmv2 runs it).
#include <core.p4>
#include <v1model.p4>

header data_t {
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
    meter(1, MeterType.bytes) policer;

    apply {
        policer.execute_meter(32w0, hdr.d.color);
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
