// register read/write from the data plane and from the control plane
// (STF register_write / check_register).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8>  idx;
    bit<32> inc;
    bit<32> val;
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
    register<bit<32>>(8) acc;

    apply {
        bit<32> v;
        acc.read(v, (bit<32>)hdr.d.idx);
        v = v + hdr.d.inc;
        acc.write((bit<32>)hdr.d.idx, v);
        hdr.d.val = v;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
