// Header stacks in the parser: extract(hs.next) in a loop, hs.last in select
// and in a state, and error.StackOutOfBounds when the stack is full
// (P4_16 spec 8.18, 12.8.1).
#include <core.p4>
#include <v1model.p4>

header tag_t {
    bit<7> val;
    bit<1> bos;
}

header tail_t {
    bit<8> cnt;
    bit<8> lastval;
    bit<8> firstval;
}

struct headers_t {
    tag_t[4] tags;
    tail_t   tail;
}

struct meta_t {
    bit<8> lastval;
}

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.tags.next);
        transition select(hdr.tags.last.bos) {
            1: parse_tail;
            default: start;
        }
    }
    state parse_tail {
        meta.lastval = (bit<8>)hdr.tags.last.val;
        pkt.extract(hdr.tail);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        if (sm.parser_error == error.StackOutOfBounds) {
            sm.egress_spec = 2;
            return;
        }
        bit<8> n = 0;
        if (hdr.tags[0].isValid()) { n = n + 1; }
        if (hdr.tags[1].isValid()) { n = n + 1; }
        if (hdr.tags[2].isValid()) { n = n + 1; }
        if (hdr.tags[3].isValid()) { n = n + 1; }
        hdr.tail.cnt = n;
        hdr.tail.lastval = meta.lastval;
        hdr.tail.firstval = (bit<8>)hdr.tags[0].val;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }

control DP(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.tags);
        pkt.emit(hdr.tail);
    }
}

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
