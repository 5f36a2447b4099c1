// P4_16 evaluation and copy rules where a reference would differ:
// - `a + f(a)` reads `a` before f's inout write (left to right);
// - a composite `inout` argument the action also writes directly is copied
//   in and out (the direct write is lost), an `in` one is copied in (the
//   action reads the value from before its own write);
// - const entries with bmv2's `@priority(n)`: the smallest wins, entries
//   without one rank by position.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8>  a;
    bit<8>  sum;
    bit<8>  b;
    bit<8>  c;
    bit<16> t;
}

struct headers_t { data_t d; }
struct meta_t { }

bit<8> reset(inout bit<8> x) {
    x = 1;
    return 1;
}

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.d);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    bit<8> v = 3;
    action overwrite(inout headers_t h) {
        hdr.d.b = 0xEE;   // lost: h's copy-out writes hdr back
    }
    action keep(in data_t old) {
        hdr.d.c = 0x11;
        hdr.d.c = old.c;  // the value before the line above
    }
    action to(bit<9> port) { sm.egress_spec = port; }
    table pick {
        key = { hdr.d.t : ternary; }
        actions = { to; }
        default_action = to(4);
        const entries = {
            0x1111 &&& 0x000F : to(1) @priority(3);
            0x1181            : to(2);
            0x1181 &&& 0xF00F : to(3) @priority(1);
        }
    }
    apply {
        hdr.d.sum = v + reset(v);
        hdr.d.a = hdr.d.a + reset(hdr.d.a);
        overwrite(hdr);
        keep(hdr.d);
        pick.apply();
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
