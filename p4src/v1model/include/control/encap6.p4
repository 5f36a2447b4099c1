// The IPv6 encapsulation mapping, encap.p4's twin: client segments of
// handed-off IPv6 connections are rewritten towards their back-end
// (shared/flow_id6.p4); a miss changes nothing, so the packet goes on to
// IPv6 VIP steering. Connection ends (the client's FIN or RST, the VIP
// side's FIN or RST, a SYN reusing a handed-off 4-tuple, which is dropped)
// are digested to the controller as connection_end6_t.
#ifndef FORWARDER_V1MODEL_ENCAP6_P4
#define FORWARDER_V1MODEL_ENCAP6_P4

control Encap6(inout headers_t hdr, inout forwarder_metadata_t meta) {
    // Packets and bytes of each migrated connection since its entry was
    // installed.
    direct_counter(CounterType.packets_and_bytes) encap_map6_counter;
    FlowIdRewrite6() flow_id_rewrite;

    action encap_to_backend6(flow_id_t flow_id, ipv6_addr_t tunnel_src, ipv6_addr_t backend) {
        encap_map6_counter.count();
        meta.encap6.flow_id = flow_id;
        meta.encap6.tunnel_src = tunnel_src;
        meta.encap6.backend = backend;
    }

    // One entry per migrated IPv6 connection: the client's segments to the
    // VIP, (client address, VIP, client port, VIP port), are sent to
    // `backend` from `tunnel_src` (this forwarder's IPv6 address) with
    // `flow_id` in their port fields. Entries idle longer than their timeout
    // are reported to the controller, which removes them.
    table encap_map6 {
        key = {
            hdr.ipv6.src_addr: exact @name("ipv6_src");
            hdr.ipv6.dst_addr: exact @name("ipv6_dst");
            hdr.tcp.src_port: exact @name("tcp_sport");
            hdr.tcp.dst_port: exact @name("tcp_dport");
        }
        actions = {
            encap_to_backend6;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        counters = encap_map6_counter;
        support_timeout = true;
        size = ENCAP_MAP6_SIZE;
    }

    // The connection_end6 digest, as encap.p4's report_end.
    action report_end6(ipv6_addr_t client_addr, ipv6_addr_t vip, l4_port_t client_port,
                      l4_port_t vip_port, flow_id_t flow_id) {
        meta.connection_end6.client_addr = client_addr;
        meta.connection_end6.vip = vip;
        meta.connection_end6.client_port = client_port;
        meta.connection_end6.vip_port = vip_port;
        meta.connection_end6.flow_id = flow_id;
        meta.connection_end6.tcp_flags = hdr.tcp.flags;
        meta.end6_noted = true;
    }

    action note_vip_close6() {
        report_end6(hdr.ipv6.dst_addr, hdr.ipv6.src_addr, hdr.tcp.dst_port, hdr.tcp.src_port, 0);
    }

    // One entry per IPv6 VIP service (VIP address, VIP port): a FIN or RST
    // it sends to a client is reported, as in encap.p4's vip_close.
    table vip_close6 {
        key = {
            hdr.ipv6.src_addr: exact @name("vip");
            hdr.tcp.src_port: exact @name("vip_port");
        }
        actions = {
            note_vip_close6;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        size = VIP_CLOSE6_SIZE;
    }

    apply {
        // Only TCP right after the IPv6 header is ever encapsulated.
        if (hdr.tcp.isValid()) {
            bool opens_connection =
                (hdr.tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
            bool closing = (hdr.tcp.flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) != 0;
            if (encap_map6.apply().hit) {
                if (opens_connection) {
                    // A SYN opens a new connection on a mapped 4-tuple:
                    // dropped until the controller has removed the old entry
                    // (encap.p4 says why).
                    meta.refused = true;
                    report_end6(hdr.ipv6.src_addr, hdr.ipv6.dst_addr, hdr.tcp.src_port,
                               hdr.tcp.dst_port, meta.encap6.flow_id);
                } else {
                    if (closing) {
                        // The segment itself is still delivered.
                        report_end6(hdr.ipv6.src_addr, hdr.ipv6.dst_addr, hdr.tcp.src_port,
                                   hdr.tcp.dst_port, meta.encap6.flow_id);
                    }
                    flow_id_rewrite.apply(hdr.ipv6, hdr.tcp, meta.encap6);
                    meta.route_addr6 = hdr.ipv6.dst_addr;
                }
            } else if (closing) {
                vip_close6.apply();
            }
        }
        // The one digest() call of connection_end6_t (see end_noted).
        if (meta.end6_noted) {
            digest<connection_end6_t>(DIGEST_RECEIVER_CONTROLLER, meta.connection_end6);
        }
    }
}

#endif
