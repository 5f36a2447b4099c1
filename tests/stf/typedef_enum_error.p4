// typedef, type (a distinct type needing casts), const, int constants, enums
// with and without an underlying type, and a program-defined error raised by
// verify (P4_16 spec 7.2-7.3, 7.6, 12.7).
#include <core.p4>
#include <v1model.p4>

typedef bit<16> port_num_t;
type bit<8> tag_t;
const bit<8> MAGIC = 0x2A;
const int STEP = 3;
enum Color { Red, Green }
enum bit<8> Kind { A = 1, B = 2, C = 7 }
error { BadKind }

header data_t {
    Kind       kind;
    bit<8>     out1;
    port_num_t p;
    tag_t      tag;
    bit<8>     out2;
}

struct headers_t { data_t d; }
struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.d);
        transition select(hdr.d.kind) {
            Kind.A: accept;
            Kind.B: accept;
            default: bad;
        }
    }
    state bad {
        verify(false, error.BadKind);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        Color c = Color.Red;
        if (hdr.d.kind == Kind.B) {
            c = Color.Green;
        }
        if (c == Color.Green) {
            hdr.d.out1 = MAGIC;
        } else {
            hdr.d.out1 = 0x11;
        }
        hdr.d.p = hdr.d.p + 1;
        hdr.d.tag = (tag_t)((bit<8>)hdr.d.tag + STEP);
        if (sm.parser_error == error.BadKind) {
            hdr.d.out2 = 0xEE;
        } else {
            hdr.d.out2 = (bit<8>)Kind.C;
        }
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
