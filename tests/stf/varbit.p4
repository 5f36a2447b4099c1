// varbit end to end: extract with a size (in the middle of a header, in a
// stack, with the three errors bmv2 gives: a size that is not whole bytes,
// one beyond the maximum, too few bytes), extract into `_`, ==/!= on varbit
// fields and on headers holding them (bmv2 compares the values only: 0 in 8
// bits equals 0 in 16), assignment of a varbit field and of a
// whole header, emit, and a checksum over a varbit (the list's width is
// known only at run time).
#include <core.p4>
#include <v1model.p4>

header len_t {
    bit<8> nbits;
    bit<8> flags;
}

header opt_t {
    bit<8>     kind;
    varbit<32> data;
    bit<8>     tail;
}

header skip_t {
    bit<16> junk;
}

header res_t {
    bit<8>  eq;
    bit<8>  err;
    bit<16> csum;
    bit<32> sizes;
}

struct headers_t {
    res_t    res;
    len_t    len;
    opt_t    a;
    opt_t    b;
    opt_t[2] s;
    opt_t    c;
}

struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.len);
        pkt.extract(hdr.a, (bit<32>)hdr.len.nbits);
        transition select(hdr.len.flags[1:0]) {
            1: second;
            2: skip;
            3: stack;
            default: accept;
        }
    }
    state second {
        pkt.extract(hdr.b, (bit<32>)hdr.len.nbits);
        transition accept;
    }
    state skip {
        pkt.extract<skip_t>(_);
        pkt.extract(hdr.b, 16);
        transition accept;
    }
    state stack {
        pkt.extract(hdr.s.next, 8);
        pkt.extract(hdr.s.next, (bit<32>)hdr.len.nbits);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        sm.egress_spec = 1;
        hdr.res.setValid();
        hdr.res.eq = 0;
        // Fields of an invalid header hold whatever bmv2 left there: only
        // valid ones are compared.
        if (hdr.a.isValid() && hdr.b.isValid()) {
            if (hdr.a.data == hdr.b.data) { hdr.res.eq = hdr.res.eq | 1; }
            if (hdr.a.data != hdr.b.data) { hdr.res.eq = hdr.res.eq | 2; }
        }
        if (hdr.a == hdr.b) { hdr.res.eq = hdr.res.eq | 4; }
        if (hdr.s[1].isValid() && hdr.s[0].data == hdr.s[1].data) {
            hdr.res.eq = hdr.res.eq | 8;
        }
        if (sm.parser_error == error.NoError) { hdr.res.err = 0; }
        else if (sm.parser_error == error.PacketTooShort) { hdr.res.err = 1; }
        else if (sm.parser_error == error.HeaderTooShort) { hdr.res.err = 4; }
        else if (sm.parser_error == error.ParserInvalidArgument) { hdr.res.err = 6; }
        else { hdr.res.err = 7; }
        hdr.res.sizes = (bit<8>)hdr.a.minSizeInBits() ++ (bit<8>)hdr.a.maxSizeInBits()
                        ++ (bit<16>)hdr.a.maxSizeInBytes();
        if (hdr.len.flags[2:2] == 1) {
            hdr.b.data = hdr.a.data;   // field assignment: length and value
            hdr.c = hdr.b;             // whole header, valid when b is
        }
    }
}

control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }

control CC(inout headers_t hdr, inout meta_t meta) {
    apply {
        update_checksum(hdr.a.isValid(), { hdr.a.kind, hdr.a.data, hdr.a.tail },
                        hdr.res.csum, HashAlgorithm.csum16);
    }
}

control D(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.res);
        pkt.emit(hdr.len);
        pkt.emit(hdr.a);
        pkt.emit(hdr.b);
        pkt.emit(hdr.s);
        pkt.emit(hdr.c);
    }
}

V1Switch(P(), VC(), I(), E(), CC(), D()) main;
