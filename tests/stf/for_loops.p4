// P4_16 1.2.5 `for` loops with run-time bounds, `break`, `continue`
// (which still runs the updates), nesting, several updates, a loop in an
// action that also exits, and compound updates. The loops are in actions:
// written directly in an apply block, p4c 1.2.5.16's bmv2 back end does not
// run them as written (the sum loop's body never ran there); p4sim does.
#include <core.p4>
#include <v1model.p4>

header data_t {
    bit<8> n;
    bit<8> sum;
    bit<8> odd;
    bit<8> upto5;
    bit<8> grid;
    bit<8> pair;
}

struct headers_t { data_t d; }
struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.d);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) { apply { } }

control IG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    action stop_at(inout bit<8> out_n) {
        for (bit<8> i = 0; i < 255; i += 1) {
            if (i == 200) {
                out_n = i;
                exit;
            }
        }
    }
    action loops() {
        for (bit<8> i = 1; i <= hdr.d.n; i = i + 1) {
            hdr.d.sum = hdr.d.sum + i;
        }
        for (bit<8> k = 0; k < hdr.d.n; k += 1) {
            if (k & 1 == 0) {
                continue;
            }
            hdr.d.odd = hdr.d.odd + 1;
        }
        for (bit<8> m = 0; m < 250; m = m + 1) {
            if (m == 5) {
                break;
            }
            hdr.d.upto5 = hdr.d.upto5 + 1;
        }
        for (bit<8> r = 0; r < hdr.d.n; r = r + 1) {
            for (bit<8> j = 0; j < hdr.d.n; j = j + 1) {
                if (j == 2) {
                    break;
                }
                hdr.d.grid = hdr.d.grid + 1;
            }
        }
        bit<8> a;
        bit<8> b;
        for (a = 0, b = 10; a < b; a = a + 1, b = b - 1) {
            hdr.d.pair = hdr.d.pair + 1;
        }
    }
    apply {
        sm.egress_spec = 1;
        loops();
        if (hdr.d.n == 0xFE) {
            stop_at(hdr.d.n);
        }
    }
}

control EG(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control DP(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.d); } }

V1Switch(P(), VC(), IG(), EG(), CC(), DP()) main;
