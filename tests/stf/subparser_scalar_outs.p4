// A sub-parser with scalar out and inout parameters: copied out when it
// accepts, and also when it rejects (verify), as bmv2 shows the writes of
// p4c's inlined sub-parser; the caller's parser then ends with its error.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> kind;
    bit<8> next;
    bit<8> got_next;
    bit<8> count;
    bit<8> err;
}

struct headers_t { data_t d; }
struct meta_t { bit<8> count; }

parser Sub(packet_in pkt, inout headers_t hdr, out bit<8> next, inout bit<8> count) {
    state start {
        pkt.extract(hdr.d);
        count = count + 1;
        next = hdr.d.next;
        verify(hdr.d.kind != 0xFF, error.HeaderTooShort);
        transition accept;
    }
}

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    Sub() sub;
    bit<8> next = 0x55;
    state start {
        meta.count = 10;
        sub.apply(pkt, hdr, next, meta.count);
        hdr.d.got_next = next;
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        sm.egress_spec = 1;
        hdr.d.count = meta.count;
        hdr.d.err = sm.parser_error == error.HeaderTooShort ? 8w1 : 8w0;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
