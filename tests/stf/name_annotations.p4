// @name renames a table, key and action for the control plane (P4Info names
// the objects by it, and so do STF scripts); @id pins an id. The table also
// has a const default action with action data, support_timeout and size.
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
    @name("mark") @id(0x01000101)
    action set_value(bit<8> v) {
        hdr.d.v = v;
    }
    @name("steer")
    table t_internal {
        key = { hdr.d.k : exact @name("flow"); }
        actions = { set_value; }
        const default_action = set_value(0x42);
        support_timeout = true;
        size = 4;
    }
    apply {
        t_internal.apply();
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
