// lookahead<T>() peeks without consuming, advance(n) skips n bits, and both
// fail with PacketTooShort past the end (P4_16 spec 12.8.3, 12.8.4).
#include <core.p4>
#include <v1model.p4>

header h_t { bit<16> v; }

header out_t {
    bit<16> peeked;
    bit<8>  skipped;
}

struct headers_t {
    h_t   h;
    out_t result;
}

struct meta_t {
    bit<16> peeked;
    bit<8>  skipped;
}

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        transition select(pkt.lookahead<bit<8>>()) {
            0xFF: skip;
            default: parse_h;
        }
    }
    state skip {
        meta.skipped = 1;
        pkt.advance(16);
        transition parse_h;
    }
    state parse_h {
        meta.peeked = pkt.lookahead<bit<16>>();
        pkt.extract(hdr.h);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.result.setValid();
        hdr.result.peeked = meta.peeked;
        hdr.result.skipped = meta.skipped;
        if (sm.parser_error == error.PacketTooShort) {
            sm.egress_spec = 2;
        } else {
            sm.egress_spec = 1;
        }
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }

control DP(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.h);
        pkt.emit(hdr.result);
    }
}

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
