// Tables whose entries point at shared actions: an action selector that
// spreads IPv4 flows over next hops (ECMP) by a hash of the 5-tuple, and an
// action profile through which non-IPv4 traffic picks its output port.
#include <core.p4>
#include <v1model.p4>

header ethernet_t {
    bit<48> dstAddr;
    bit<48> srcAddr;
    bit<16> etherType;
}

header ipv4_t {
    bit<4>  version;
    bit<4>  ihl;
    bit<8>  diffserv;
    bit<16> totalLen;
    bit<16> identification;
    bit<3>  flags;
    bit<13> fragOffset;
    bit<8>  ttl;
    bit<8>  protocol;
    bit<16> hdrChecksum;
    bit<32> srcAddr;
    bit<32> dstAddr;
}

// The first four bytes of TCP and UDP.
header ports_t {
    bit<16> srcPort;
    bit<16> dstPort;
}

struct headers_t {
    ethernet_t ethernet;
    ipv4_t     ipv4;
    ports_t    ports;
}

struct metadata_t { }

parser MyParser(packet_in packet, out headers_t hdr, inout metadata_t meta,
                inout standard_metadata_t sm) {
    state start {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.etherType) {
            0x0800: parse_ipv4;
            default: accept;
        }
    }
    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        transition select(hdr.ipv4.protocol) {
            6: parse_ports;
            17: parse_ports;
            default: accept;
        }
    }
    state parse_ports {
        packet.extract(hdr.ports);
        transition accept;
    }
}

control MyVerifyChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply { }
}

control MyIngress(inout headers_t hdr, inout metadata_t meta, inout standard_metadata_t sm) {
    // One member per next hop; one group per ECMP route.
    @max_group_size(16)
    action_selector(HashAlgorithm.crc16, 32w64, 32w14) ecmp_selector;
    direct_counter(CounterType.packets_and_bytes) route_hits;

    action drop() {
        mark_to_drop(sm);
    }

    action set_nhop(bit<9> port, bit<48> dmac) {
        sm.egress_spec = port;
        hdr.ethernet.dstAddr = dmac;
    }

    action set_port(bit<9> port) {
        sm.egress_spec = port;
    }

    // One entry per IPv4 route: the next hop (a member) or the ECMP group
    // (a group) its packets leave through.
    table routes {
        key = {
            hdr.ipv4.dstAddr: lpm;
            hdr.ipv4.srcAddr: selector;
            hdr.ipv4.protocol: selector;
            hdr.ports.srcPort: selector;
            hdr.ports.dstPort: selector;
        }
        actions = { set_nhop; drop; }
        default_action = drop();
        implementation = ecmp_selector;
        counters = route_hits;
        size = 256;
    }

    // One entry per ingress port for non-IPv4 traffic: the member holding
    // the port it leaves through.
    table port_map {
        key = { sm.ingress_port: exact; }
        actions = { set_port; drop; }
        default_action = drop();
        @name("port_profile") implementation = action_profile(32w8);
    }

    apply {
        if (hdr.ipv4.isValid()) {
            routes.apply();
        } else {
            port_map.apply();
        }
    }
}

control MyEgress(inout headers_t hdr, inout metadata_t meta, inout standard_metadata_t sm) {
    apply { }
}

control MyComputeChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply { }
}

control MyDeparser(packet_out packet, in headers_t hdr) {
    apply {
        packet.emit(hdr.ethernet);
        packet.emit(hdr.ipv4);
        packet.emit(hdr.ports);
    }
}

V1Switch(MyParser(), MyVerifyChecksum(), MyIngress(), MyEgress(), MyComputeChecksum(),
         MyDeparser()) main;
