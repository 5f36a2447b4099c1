// verify(cond, err) rejects with err when cond is false; in v1model the
// packet still goes through ingress with standard_metadata.parser_error set
// and the headers extracted before stay valid (P4_16 spec 12.8.2).
#include <core.p4>
#include <v1model.p4>

error { BadVersion }

header h_t {
    bit<8> version;
    bit<8> x;
}

struct headers_t { h_t h; }
struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.h);
        verify(hdr.h.version == 4, error.BadVersion);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        if (sm.parser_error == error.NoError) {
            sm.egress_spec = 1;
        } else if (sm.parser_error == error.BadVersion) {
            hdr.h.x = 0xEE;
            sm.egress_spec = 2;
        } else {
            sm.egress_spec = 3;
        }
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.h); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
