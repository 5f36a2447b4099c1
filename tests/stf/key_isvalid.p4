// A table keyed on a header's validity next to a ternary field; STF names
// the validity key as p4c's driver does (hdr.opt.$valid$) or as written.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> flag;
    bit<8> k;
    bit<8> v;
}

header opt_t { bit<8> o; }

struct headers_t {
    data_t d;
    opt_t  opt;
}

struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.d);
        transition select(hdr.d.flag) {
            1: parse_opt;
            default: accept;
        }
    }
    state parse_opt {
        pkt.extract(hdr.opt);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    action set(bit<8> v) {
        hdr.d.v = v;
    }
    table t {
        key = {
            hdr.opt.isValid() : exact;
            hdr.d.k           : ternary;
        }
        actions = { set; NoAction; }
        default_action = NoAction();
    }
    apply {
        t.apply();
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }

control DP(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.d);
        pkt.emit(hdr.opt);
    }
}

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
