// IPv4 routing: longest-prefix match on the address the packet is headed
// for (its destination, the back-end after encapsulation, or the classifier
// picked by VIP steering) to a next hop.
#ifndef FORWARDER_V1MODEL_ROUTING_P4
#define FORWARDER_V1MODEL_ROUTING_P4

control Routing(inout headers_t hdr,
                in forwarder_metadata_t meta,
                inout standard_metadata_t std_meta) {
    // Sends the packet out of `port` to the neighbour `dst_mac`, from the
    // switch's own `src_mac` on that link, one hop older.
    action set_next_hop(port_num_t port, mac_addr_t src_mac, mac_addr_t dst_mac) {
        std_meta.egress_spec = port;
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
        hdr.ipv4.hdr_checksum = csum16_apply(hdr.ipv4.hdr_checksum,
            csum16_delta16(hdr.ipv4.ttl ++ hdr.ipv4.protocol,
                           (hdr.ipv4.ttl - 1) ++ hdr.ipv4.protocol));
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }

    // Hands the packet to the controller unchanged (packet-in).
    action punt_to_cpu() {
        std_meta.egress_spec = CPU_PORT;
    }

    action drop() {
        mark_to_drop(std_meta);
    }

    // One entry per route: packets headed for an address in `dst_addr` (a
    // prefix) leave through the entry's next hop, go to the controller, or
    // are dropped. Without a matching route a packet is dropped.
    table routes {
        key = {
            meta.route_addr: lpm @name("dst_addr");
        }
        actions = {
            set_next_hop;
            punt_to_cpu;
            drop;
        }
        default_action = drop();
        size = ROUTES_SIZE;
    }

    apply {
        routes.apply();
    }
}

#endif
