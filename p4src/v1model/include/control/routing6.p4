// IPv6 routing: longest-prefix match on the address the packet is headed
// for (its destination, the back-end after encapsulation, or the classifier
// picked by VIP steering) to a next hop; routing.p4's twin. IPv6 has no
// header checksum, so the hop limit is decremented alone.
#ifndef FORWARDER_V1MODEL_ROUTING6_P4
#define FORWARDER_V1MODEL_ROUTING6_P4

control Routing6(inout headers_t hdr,
                 in forwarder_metadata_t meta,
                 inout standard_metadata_t std_meta) {
    // Sends the packet out of `port` to the neighbour `dst_mac`, from the
    // switch's own `src_mac` on that link, one hop older.
    action set_next_hop6(port_num_t port, mac_addr_t src_mac, mac_addr_t dst_mac) {
        std_meta.egress_spec = port;
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
        hdr.ipv6.hop_limit = hdr.ipv6.hop_limit - 1;
    }

    // Hands the packet to the controller unchanged (packet-in).
    action punt_to_cpu6() {
        std_meta.egress_spec = CPU_PORT;
    }

    action drop6() {
        mark_to_drop(std_meta);
    }

    // One entry per IPv6 route: packets headed for an address in `dst_addr`
    // (a prefix) leave through the entry's next hop, go to the controller,
    // or are dropped. Without a matching route a packet is dropped.
    table routes6 {
        key = {
            meta.route_addr6: lpm @name("dst_addr");
        }
        actions = {
            set_next_hop6;
            punt_to_cpu6;
            drop6;
        }
        default_action = drop6();
        size = ROUTES6_SIZE;
    }

    apply {
        routes6.apply();
    }
}

#endif
