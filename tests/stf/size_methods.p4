// minSizeInBits/minSizeInBytes/maxSizeInBits/maxSizeInBytes (P4_16 8.23):
// built into the language (as in p4c, not declared in core.p4), applied to
// expressions or types, folded at compile time from the type alone. Without
// varbit fields the minimum and the maximum are equal.
#include <core.p4>
#include <v1model.p4>

enum bit<12> kind_t { A = 1 }
typedef bit<24> label_t;
type bit<20> flow_t;

header tag_t {
    bit<8>  a;
    bit<1>  f;
    bit<7>  pad;
    label_t label;
}

header wide_t { bit<64> x; }
header_union either_t { tag_t tag; wide_t wide; }

header res_t {
    bit<16> hdr_bits;     // tag_t: 40
    bit<16> hdr_bytes;    // 5
    bit<16> field_bits;   // the label field: 24
    bit<16> stack_bits;   // tag_t[3]: 120
    bit<16> struct_bytes; // headers_t: (40 + 120 + 64 + 128) / 8 = 44
    bit<16> union_bits;   // either_t: the larger member, 64
    bit<16> misc_bits;    // bool + enum bit<12> + type bit<20> + a tuple of 8 and 16: 57
    bit<16> unevaluated;  // a call in the receiver does not run: stays 7
}

struct headers_t {
    tag_t    tag;
    tag_t[3] stack;
    wide_t   wide;
    res_t    res;
}

struct meta_t { bool b; kind_t k; flow_t flow; }

const int TAG_BITS = tag_t.minSizeInBits();
const bool CHECKED = static_assert(TAG_BITS == 40, "tag_t is 40 bits");

bit<16> bump(inout bit<16> x) {
    x = x + 1;
    return x;
}

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.tag);
        pkt.extract(hdr.res);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.res.hdr_bits = (bit<16>)hdr.tag.minSizeInBits();
        hdr.res.hdr_bytes = (bit<16>)tag_t.maxSizeInBytes();
        hdr.res.field_bits = (bit<16>)hdr.tag.label.maxSizeInBits();
        hdr.res.stack_bits = (bit<16>)hdr.stack.minSizeInBits();
        hdr.res.struct_bytes = (bit<16>)headers_t.minSizeInBytes();
        hdr.res.union_bits = (bit<16>)either_t.maxSizeInBits();
        hdr.res.misc_bits = (bit<16>)(meta.b.minSizeInBits() + meta.k.minSizeInBits()
                                      + meta.flow.maxSizeInBits()
                                      + {8w1, 16w2}.minSizeInBits());
        hdr.res.unevaluated = hdr.res.unevaluated + (bit<16>)bump(hdr.res.unevaluated).minSizeInBits()
                              - 16;
        sm.egress_spec = 1;
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.tag);
        pkt.emit(hdr.res);
    }
}

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
