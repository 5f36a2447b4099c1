// The smallest program that proves the PTF path: each entry of port_fwd
// sends what arrives on one port out of another; misses are dropped.
#include <core.p4>
#include <v1model.p4>

header ethernet_t {
    bit<48> dstAddr;
    bit<48> srcAddr;
    bit<16> etherType;
}

struct headers_t { ethernet_t ethernet; }
struct metadata_t { }

parser SmokeParser(packet_in packet, out headers_t hdr, inout metadata_t meta,
                   inout standard_metadata_t sm) {
    state start {
        packet.extract(hdr.ethernet);
        transition accept;
    }
}

control SmokeVerifyChecksum(inout headers_t hdr, inout metadata_t meta) { apply { } }

control SmokeIngress(inout headers_t hdr, inout metadata_t meta, inout standard_metadata_t sm) {
    action drop() { mark_to_drop(sm); }
    action forward(bit<9> port) { sm.egress_spec = port; }

    // One entry per ingress port that forwards.
    table port_fwd {
        key = { sm.ingress_port: exact; }
        actions = { forward; drop; }
        default_action = drop();
    }

    apply { port_fwd.apply(); }
}

control SmokeEgress(inout headers_t hdr, inout metadata_t meta, inout standard_metadata_t sm) { apply { } }
control SmokeComputeChecksum(inout headers_t hdr, inout metadata_t meta) { apply { } }
control SmokeDeparser(packet_out packet, in headers_t hdr) { apply { packet.emit(hdr.ethernet); } }

V1Switch(SmokeParser(), SmokeVerifyChecksum(), SmokeIngress(), SmokeEgress(),
         SmokeComputeChecksum(), SmokeDeparser()) main;
