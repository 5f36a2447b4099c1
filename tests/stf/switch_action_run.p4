// switch (t.apply().action_run) runs the block of the action the table ran;
// an empty label falls through to the next block; default covers the rest
// (P4_16 spec 12.7.2, 14.2.2).
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> k;
    bit<8> s;
    bit<8> r;
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
    action a1() { hdr.d.s = 0xA1; }
    action a2() { hdr.d.s = 0xA2; }
    action a3() { hdr.d.s = 0xA3; }
    table t {
        key = { hdr.d.k : exact; }
        actions = { a1; a2; a3; NoAction; }
        default_action = NoAction();
    }
    apply {
        switch (t.apply().action_run) {
            a1: { hdr.d.r = 0x01; }
            a2:
            a3: { hdr.d.r = 0x23; }
            default: { hdr.d.r = 0xFF; }
        }
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
