// The encapsulation mapping: client segments of connections that have been
// handed off to a back-end are rewritten towards it (shared/flow_id.p4). A
// miss changes nothing, so the packet goes on to VIP steering and reaches a
// classifier.
#ifndef FORWARDER_V1MODEL_ENCAP_P4
#define FORWARDER_V1MODEL_ENCAP_P4

control Encap(inout headers_t hdr, inout forwarder_metadata_t meta) {
    // Packets and bytes of each migrated connection since its entry was
    // installed.
    direct_counter(CounterType.packets_and_bytes) encap_map_counter;
    FlowIdRewrite() flow_id_rewrite;

    action encap_to_backend(flow_id_t flow_id, ipv4_addr_t tunnel_src, ipv4_addr_t backend) {
        encap_map_counter.count();
        meta.encap_hit = true;
        meta.encap.flow_id = flow_id;
        meta.encap.tunnel_src = tunnel_src;
        meta.encap.backend = backend;
    }

    // One entry per migrated connection: the client's segments to the VIP,
    // (client address, VIP, client port, VIP port), are sent to `backend`
    // from `tunnel_src` (this forwarder's address) with `flow_id` in their
    // port fields. Entries idle longer than their timeout are reported to the
    // controller, which removes them.
    table encap_map {
        key = {
            hdr.ipv4.src_addr: exact @name("ipv4_src");
            hdr.ipv4.dst_addr: exact @name("ipv4_dst");
            hdr.tcp.src_port: exact @name("tcp_sport");
            hdr.tcp.dst_port: exact @name("tcp_dport");
        }
        actions = {
            encap_to_backend;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        counters = encap_map_counter;
        support_timeout = true;
        size = ENCAP_MAP_SIZE;
    }

    apply {
        // Only TCP is ever encapsulated; the parser extracts TCP only from
        // unfragmented datagrams without IPv4 options. A SYN without ACK
        // opens a new connection: it always goes to a classifier, even while
        // a finished connection with the same 4-tuple still has its entry
        // (the controller replaces that entry when the new one is handed off).
        bool opens_connection = (hdr.tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
        if (hdr.tcp.isValid() && !opens_connection) {
            if (encap_map.apply().hit) {
                if ((hdr.tcp.flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) != 0) {
                    // The connection is closing: tell the controller, whose
                    // key is the original 4-tuple. The segment itself is
                    // still delivered to the back-end.
                    meta.connection_end.client_addr = hdr.ipv4.src_addr;
                    meta.connection_end.vip = hdr.ipv4.dst_addr;
                    meta.connection_end.client_port = hdr.tcp.src_port;
                    meta.connection_end.vip_port = hdr.tcp.dst_port;
                    meta.connection_end.flow_id = meta.encap.flow_id;
                    meta.connection_end.tcp_flags = hdr.tcp.flags;
                    digest<connection_end_t>(DIGEST_RECEIVER_CONTROLLER, meta.connection_end);
                }
                flow_id_rewrite.apply(hdr.ipv4, hdr.tcp, meta.encap);
                meta.route_addr = hdr.ipv4.dst_addr;
            }
        }
    }
}

#endif
