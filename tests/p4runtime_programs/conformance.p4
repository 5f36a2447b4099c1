// A v1model program with one of every object the P4Runtime conformance
// tests write or read: tables of every match kind, a direct counter and a
// direct meter, idle timeouts, const entries and a const default action,
// indirect counter/meter/register arrays, a digest, packet_in/packet_out
// controller headers, multicast and clone, a parser value set.
#include <core.p4>
#include <v1model.p4>

const bit<9> CPU_PORT = 64;

@controller_header("packet_in")
header packet_in_t {
    bit<9> ingress_port;
    bit<7> _pad;
}

@controller_header("packet_out")
header packet_out_t {
    bit<9> egress_port;
    bit<7> _pad;
}

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

struct learn_t {
    bit<48> srcAddr;
    bit<9>  ingress_port;
}

struct headers_t {
    packet_out_t packet_out;
    packet_in_t  packet_in;
    ethernet_t   ethernet;
    ipv4_t       ipv4;
}

struct metadata_t {
    bit<2> color;
    bit<1> blocked;
}

parser MyParser(packet_in packet, out headers_t hdr, inout metadata_t meta,
                inout standard_metadata_t sm) {
    // EtherTypes the controller blocks.
    value_set<bit<16>>(4) blocked_types;

    state start {
        transition select(sm.ingress_port) {
            CPU_PORT: parse_packet_out;
            default: parse_ethernet;
        }
    }
    state parse_packet_out {
        packet.extract(hdr.packet_out);
        transition parse_ethernet;
    }
    state parse_ethernet {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.etherType) {
            0x0800: parse_ipv4;
            blocked_types: parse_blocked;
            default: accept;
        }
    }
    state parse_blocked {
        meta.blocked = 1;
        transition accept;
    }
    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        transition accept;
    }
}

control MyVerifyChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply { }
}

control MyIngress(inout headers_t hdr, inout metadata_t meta,
                  inout standard_metadata_t sm) {
    counter(16, CounterType.packets_and_bytes) port_counter;
    meter(16, MeterType.packets) port_meter;
    register<bit<32>>(16) port_reg;
    direct_counter(CounterType.packets_and_bytes) l2_counter;
    direct_meter<bit<2>>(MeterType.bytes) route_meter;

    action drop() {
        mark_to_drop(sm);
    }
    action forward(bit<9> port) {
        sm.egress_spec = port;
    }
    action to_cpu() {
        sm.egress_spec = CPU_PORT;
        hdr.packet_in.setValid();
        hdr.packet_in.ingress_port = sm.ingress_port;
    }
    action set_mcast(bit<16> grp) {
        sm.mcast_grp = grp;
    }
    action do_clone(bit<32> session) {
        clone(CloneType.I2E, session);
    }
    action metered_forward(bit<9> port) {
        sm.egress_spec = port;
        route_meter.read(meta.color);
    }

    // One entry per known destination MAC.
    table l2_fwd {
        key = { hdr.ethernet.dstAddr: exact; }
        actions = { forward; drop; to_cpu; set_mcast; NoAction; }
        size = 1024;
        support_timeout = true;
        counters = l2_counter;
        default_action = NoAction();
    }

    // One entry per filter rule; ternary, range and optional keys.
    table acl {
        key = {
            hdr.ethernet.etherType: ternary;
            hdr.ipv4.ttl: range;
            hdr.ipv4.dstAddr: optional;
        }
        actions = { drop; to_cpu; do_clone; NoAction; }
        size = 256;
        default_action = NoAction();
    }

    // One entry per IPv4 prefix.
    table route {
        key = { hdr.ipv4.dstAddr: lpm; }
        actions = { metered_forward; drop; }
        size = 1024;
        meters = route_meter;
        default_action = drop();
    }

    // LLDP is always dropped.
    table ethertype_filter {
        key = { hdr.ethernet.etherType: exact; }
        actions = { drop; NoAction; }
        const default_action = NoAction();
        const entries = {
            0x88cc: drop();
        }
    }

    apply {
        if (hdr.packet_out.isValid()) {
            sm.egress_spec = hdr.packet_out.egress_port;
            hdr.packet_out.setInvalid();
        } else if (meta.blocked == 1) {
            mark_to_drop(sm);
        } else {
            port_counter.count((bit<32>) sm.ingress_port);
            port_reg.write((bit<32>) sm.ingress_port, (bit<32>) hdr.ethernet.etherType);
            if (hdr.ethernet.etherType == 0x1234) {
                digest<learn_t>(1, { hdr.ethernet.srcAddr, sm.ingress_port });
            }
            ethertype_filter.apply();
            l2_fwd.apply();
            if (hdr.ipv4.isValid()) {
                acl.apply();
                route.apply();
            }
        }
    }
}

control MyEgress(inout headers_t hdr, inout metadata_t meta,
                 inout standard_metadata_t sm) {
    apply { }
}

control MyComputeChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply { }
}

control MyDeparser(packet_out packet, in headers_t hdr) {
    apply {
        packet.emit(hdr.packet_in);
        packet.emit(hdr.ethernet);
        packet.emit(hdr.ipv4);
    }
}

V1Switch(MyParser(), MyVerifyChecksum(), MyIngress(), MyEgress(),
         MyComputeChecksum(), MyDeparser()) main;
