// Stacks of header_unions: extract into hs.next.member (advances nextIndex,
// the other member becomes invalid), hs.lastIndex, setValid
// on a member (its sibling becomes invalid), push_front, pop_front (not in
// the .stf: bmv2 gets it wrong, see docs/p4sim-internals.md), copying a
// stack element, == on elements, and emit in order (a union emits its
// valid member).
#include <core.p4>
#include <v1model.p4>

header tag_t {
    bit<8> kinds;   // two bits per element, from the top: 1 short, 2 long
    bit<8> op;
}

header short_t { bit<8>  v; }
header long_t  { bit<16> v; }

header_union opt_u {
    short_t s;
    long_t  l;
}

header res_t {
    bit<8> valid;   // bit i: u[i] valid
    bit<8> last;    // lastIndex after the last long; 0x10/0x20: u[0].s/l valid
    bit<8> eq;
}

struct headers_t {
    res_t     res;
    tag_t     tag;
    opt_u[3]  u;
}

struct meta_t { bit<8> k; bit<8> li; }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.tag);
        meta.k = hdr.tag.kinds;
        transition next_one;
    }
    state next_one {
        transition select(meta.k[7:6]) {
            1: one_short;
            2: one_long;
            default: accept;
        }
    }
    state one_short {
        pkt.extract(hdr.u.next.s);
        meta.k = meta.k << 2;
        transition next_one;
    }
    state stop {
        pkt.extract(hdr.u.next.l);
        transition accept;
    }
    state one_long {
        pkt.extract(hdr.u.next.l);
        meta.k = meta.k << 2;
        meta.li = (bit<8>)hdr.u.lastIndex;
        transition select(pkt.lookahead<bit<16>>()) {
            0xdead: stop;     // stop early
            default: next_one;
        }
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        sm.egress_spec = 1;
        hdr.res.setValid();
        hdr.res.last = 0;
        if (hdr.tag.op == 1) {
            hdr.u.push_front(1);
            hdr.u[0].l.setValid();
            hdr.u[0].l.v = 0x0101;
        } else if (hdr.tag.op == 2) {
            hdr.u.pop_front(1);
        } else if (hdr.tag.op == 3) {
            hdr.u[2] = hdr.u[0];
        } else if (hdr.tag.op == 4) {
            hdr.u[1].s.setValid();   // l (if valid) becomes invalid
            hdr.u[1].s.v = 0x77;
        } else if (hdr.tag.op == 5) {
            hdr.u[0].s.setInvalid();
            hdr.u[0].l.setInvalid();
        }
        // (p4c's bmv2 back end refuses isValid() on a union in a stack and
        // hs.last.member in a select, so neither is used here.)
        if (hdr.u[0].s.isValid() || hdr.u[0].l.isValid()) { hdr.res.valid = 1; }
        else { hdr.res.valid = 0; }
        if (hdr.u[1].s.isValid() || hdr.u[1].l.isValid()) { hdr.res.valid = hdr.res.valid | 2; }
        if (hdr.u[2].s.isValid() || hdr.u[2].l.isValid()) { hdr.res.valid = hdr.res.valid | 4; }
        hdr.res.last = meta.li;
        hdr.res.eq = 0;
        if (hdr.u[0] == hdr.u[1]) { hdr.res.eq = 1; }
        if (hdr.u[0].s.isValid()) { hdr.res.last = hdr.res.last | 0x10; }
        if (hdr.u[0].l.isValid()) { hdr.res.last = hdr.res.last | 0x20; }
    }
}

control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }

control D(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.res);
        pkt.emit(hdr.tag);
        pkt.emit(hdr.u);
    }
}

V1Switch(P(), VC(), I(), E(), CC(), D()) main;
