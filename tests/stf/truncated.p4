// A packet shorter than the headers: extract fails with PacketTooShort, the
// headers extracted before stay valid, the failed one stays invalid, and the
// unparsed bytes are carried as payload (bmv2 parser semantics).
#include <core.p4>
#include <v1model.p4>

header a_t { bit<32> f; }
header b_t { bit<64> g; }

struct headers_t {
    a_t a;
    b_t b;
}

struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.a);
        pkt.extract(hdr.b);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        if (sm.parser_error == error.PacketTooShort) {
            sm.egress_spec = 2;
        } else {
            sm.egress_spec = 1;
        }
        if (hdr.a.isValid()) {
            hdr.a.f = hdr.a.f + 1;
        }
        if (hdr.b.isValid()) {
            hdr.b.g = hdr.b.g + 1;
        }
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }

control DP(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.a);
        pkt.emit(hdr.b);
    }
}

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
