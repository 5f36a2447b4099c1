// Tunnel gateway: the controller channel and interface classification.
#ifndef GW_INTERFACES_P4
#define GW_INTERFACES_P4

#include "headers.p4"

control PacketOut(inout headers_t hdr,
                  inout gw_metadata_t meta,
                  inout standard_metadata_t std_meta) {
    apply {
        if (hdr.cpu_out.isValid()) {
            if (hdr.cpu_out.use_pipeline == 0) {
                std_meta.egress_spec = hdr.cpu_out.egress_port;
                hdr.cpu_out.setInvalid();
                exit;
            }
            hdr.cpu_out.setInvalid();
        }
    }
}

control Interfaces(inout headers_t hdr,
                   inout gw_metadata_t meta,
                   inout standard_metadata_t std_meta) {

    counter(MAX_PORTS, CounterType.packets_and_bytes) rx_port_counter;
    counter(4, CounterType.packets) iface_counter;

    action set_source_iface(src_iface_t src_iface, direction_t direction) {
        meta.src_iface = src_iface;
        meta.direction = direction;
    }

    action set_access_iface(direction_t direction) {
        meta.src_iface = src_iface_t.ACCESS;
        meta.direction = direction;
        meta.needs_gtpu_decap = hdr.gtpu.isValid();
    }

    // Which interface a packet came in on: by port and by the outer
    // destination address (the gateway's N3 address for GTP-U, anything
    // routed through it for the core).
    table interfaces {
        key = {
            std_meta.ingress_port : exact @name("port");
            hdr.ipv4.dst          : lpm @name("ipv4_dst_prefix");
        }
        actions = {
            set_source_iface;
            set_access_iface;
        }
        const default_action = set_source_iface(src_iface_t.UNKNOWN, direction_t.UNKNOWN);
        size = INTERFACE_TABLE_SIZE;
    }

    action punt_arp() {
        std_meta.egress_spec = CPU_PORT;
        meta.punt_reason = PUNT_ARP;
        meta.orig_ingress_port = std_meta.ingress_port;
    }

    action reply_gtpu_echo() {
        // An echo request answers itself: swap addresses, turn the message.
        ipv4_t_addr tmp = hdr.ipv4.src;
        hdr.ipv4.src = hdr.ipv4.dst;
        hdr.ipv4.dst = tmp;
        l4_port_t p = hdr.udp.sport;
        hdr.udp.sport = hdr.udp.dport;
        hdr.udp.dport = p;
        hdr.udp.checksum = 0;
        hdr.gtpu.msgtype = 2;
        mac_t m = hdr.ethernet.src;
        hdr.ethernet.src = hdr.ethernet.dst;
        hdr.ethernet.dst = m;
        std_meta.egress_spec = std_meta.ingress_port;
    }

    apply {
        rx_port_counter.count((bit<32>)std_meta.ingress_port);
        if (hdr.arp.isValid()) {
            punt_arp();
            exit;
        }
        if (hdr.ipv4.isValid()) {
            interfaces.apply();
            iface_counter.count((bit<32>)(bit<8>)meta.src_iface);
        }
        if (hdr.gtpu.isValid() && hdr.gtpu.msgtype == GTPU_MSG_ECHO_REQ) {
            reply_gtpu_echo();
            exit;
        }
    }
}

#endif
