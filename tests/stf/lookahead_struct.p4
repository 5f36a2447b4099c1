// lookahead<T>() of a struct and of a serializable enum: the next bits in
// the struct's field order, without moving the cursor. (bmv2 1.15.5 dies on
// a lookahead<bool>(), so that one is not compared here.)
#include <core.p4>
#include <v1model.p4>

enum bit<4> kind_t { SMALL = 1, BIG = 2 }
struct peek_t {
    bit<4>  version;
    kind_t  kind;
    bit<8>  len;
}
header data_t {
    bit<8> b0;
    bit<8> b1;
    bit<8> seen_version;
    bit<8> seen_len;
    bit<8> seen_flag;
}

struct headers_t { data_t d; }
struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        peek_t p = pkt.lookahead<peek_t>();
        bool flag = p.version[3:3] == 1;
        pkt.extract(hdr.d);
        hdr.d.seen_version = (bit<8>)p.version;
        hdr.d.seen_len = p.len;
        hdr.d.seen_flag = flag ? 8w1 : 8w0;
        transition select(pkt.lookahead<kind_t>()) {
            kind_t.BIG: big;
            default: accept;
        }
    }
    state big {
        sm.egress_spec = 2;
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }
control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply { if (sm.egress_spec == 0) { sm.egress_spec = 1; } }
}
control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
