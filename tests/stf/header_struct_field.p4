// A header field of struct type (P4_16 7.2.2) is laid out in place: parsed,
// emitted, matched as a table key and assigned as a whole or by member.
#include <core.p4>
#include <v1model.p4>

struct inner_t {
    bit<4> lo;
    bit<4> hi;
}
struct row_t {
    bit<8>  e;
    inner_t nib;
    bit<16> t;
}

header data_t {
    bit<8> first;
    row_t  row;
    bool   flag;
    bit<7> last;
}
header extra_t { row_t row; }

struct headers_t { data_t d; extra_t x; }
struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.d);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    action to(bit<9> port) { sm.egress_spec = port; }
    table route {
        key = { hdr.d.row.e : exact; hdr.d.row.nib.hi : exact; }
        actions = { to; }
        default_action = to(3);
    }
    apply {
        route.apply();
        if (hdr.d.flag) {
            hdr.x.setValid();
            hdr.x.row = hdr.d.row;
            hdr.x.row.nib.lo = hdr.d.last[3:0];
        }
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }

control DP(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.d);
        pkt.emit(hdr.x);
    }
}

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
