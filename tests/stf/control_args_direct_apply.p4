// A control passed as a constructor argument (of a control type) is the
// caller's instance itself: both users apply it and share its counter.
// `Outer.apply(...)` applies a control type directly (an implicit instance).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<16> x;
}

struct headers_t { data_t d; }
struct meta_t { }

control step_t(inout bit<16> x);

control AddOne(inout bit<16> x) {
    counter(4, CounterType.packets) uses;
    apply {
        x = x + 1;
        uses.count(0);
    }
}

control Shift(inout bit<16> x)(step_t then, bit<4> by) {
    apply {
        x = x << by;
        then.apply(x);
    }
}

control Outer(inout bit<16> x) {
    AddOne() add;
    Shift(add, 1) twice;
    Shift(add, 3) eight;
    apply {
        twice.apply(x);
        eight.apply(x);
    }
}

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.d);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        Outer.apply(hdr.d.x);
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
