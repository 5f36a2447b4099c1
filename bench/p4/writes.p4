// The table bench/p4runtime_writes.py fills: one exact key, room for a
// million entries, one action with one parameter (like a flow table).
#include <core.p4>
#include <v1model.p4>

header ethernet_t {
    bit<48> dstAddr;
    bit<48> srcAddr;
    bit<16> etherType;
}

struct headers_t { ethernet_t ethernet; }
struct metadata_t { }

parser WParser(packet_in packet, out headers_t hdr, inout metadata_t meta,
               inout standard_metadata_t sm) {
    state start {
        packet.extract(hdr.ethernet);
        transition accept;
    }
}

control WVerify(inout headers_t hdr, inout metadata_t meta) { apply { } }

control WIngress(inout headers_t hdr, inout metadata_t meta, inout standard_metadata_t sm) {
    action set_port(bit<9> port) { sm.egress_spec = port; }

    // One entry per flow (the bench key is a counter).
    table flows {
        key = { hdr.ethernet.dstAddr: exact; }
        actions = { set_port; NoAction; }
        size = 1048576;
        default_action = NoAction();
    }

    apply { flows.apply(); }
}

control WEgress(inout headers_t hdr, inout metadata_t meta, inout standard_metadata_t sm) { apply { } }
control WCompute(inout headers_t hdr, inout metadata_t meta) { apply { } }
control WDeparser(packet_out packet, in headers_t hdr) { apply { packet.emit(hdr.ethernet); } }

V1Switch(WParser(), WVerify(), WIngress(), WEgress(), WCompute(), WDeparser()) main;
