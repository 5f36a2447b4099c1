// The encapsulation mapping: client segments of connections that have been
// handed off to a back-end are rewritten towards it (shared/flow_id.p4). A
// miss changes nothing, so the packet goes on to VIP steering and reaches a
// classifier. Connection ends (the client's FIN or RST, the VIP side's FIN or
// RST, a SYN reusing a handed-off 4-tuple, which is dropped) are digested to
// the controller.
#ifndef FORWARDER_V1MODEL_ENCAP_P4
#define FORWARDER_V1MODEL_ENCAP_P4

control Encap(inout headers_t hdr, inout forwarder_metadata_t meta) {
    // Packets and bytes of each migrated connection since its entry was
    // installed.
    direct_counter(CounterType.packets_and_bytes) encap_map_counter;
    FlowIdRewrite() flow_id_rewrite;

    action encap_to_backend(flow_id_t flow_id, ipv4_addr_t tunnel_src, ipv4_addr_t backend) {
        encap_map_counter.count();
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

    // The connection_end digest: the controller's key is the connection as
    // the client sees it (client, VIP, client port, VIP port), the flow id
    // the entry carries (0 when the segment came from the VIP side, which has
    // no entry: the controller finds the flow by its connection) and the
    // segment's TCP flags (FIN, RST, or SYN for a connection opened again).
    action report_end(ipv4_addr_t client_addr, ipv4_addr_t vip, l4_port_t client_port,
                      l4_port_t vip_port, flow_id_t flow_id) {
        meta.connection_end.client_addr = client_addr;
        meta.connection_end.vip = vip;
        meta.connection_end.client_port = client_port;
        meta.connection_end.vip_port = vip_port;
        meta.connection_end.flow_id = flow_id;
        meta.connection_end.tcp_flags = hdr.tcp.flags;
        meta.end_noted = true;
    }

    action note_vip_close() {
        report_end(hdr.ipv4.dst_addr, hdr.ipv4.src_addr, hdr.tcp.dst_port, hdr.tcp.src_port, 0);
    }

    // One entry per VIP service (VIP address, VIP port): a FIN or RST it
    // sends to a client, which back-ends do from the VIP straight through
    // this switch, is reported, so a connection the back-end ends (a RST
    // above all, after which the client sends nothing) does not keep its
    // encap_map entry until the idle timeout. A reverse lookup in encap_map
    // would need a second entry per connection; the controller instead looks
    // the connection up and ignores what is not a handed-off flow (the
    // classifiers' own closes).
    table vip_close {
        key = {
            hdr.ipv4.src_addr: exact @name("vip");
            hdr.tcp.src_port: exact @name("vip_port");
        }
        actions = {
            note_vip_close;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        size = VIP_CLOSE_SIZE;
    }

    apply {
        // Only TCP is ever encapsulated; the parser extracts TCP only from
        // unfragmented datagrams without IPv4 options.
        if (hdr.tcp.isValid()) {
            bool opens_connection =
                (hdr.tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
            bool closing = (hdr.tcp.flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) != 0;
            if (encap_map.apply().hit) {
                if (opens_connection) {
                    // A SYN without ACK opens a new connection on the 4-tuple
                    // of one whose entry is still installed (its end is in
                    // its grace, or went unseen). Steered to a classifier,
                    // the SYN would be answered, but the client's next
                    // segments, its handshake ACK first, would still match
                    // the entry and reach the old back-end, whose kernel
                    // answers RST. So the SYN is dropped and the controller
                    // told; it removes the entry, and the client's
                    // retransmitted SYN reaches a classifier (as IPVS does
                    // with conn_reuse_mode). A late copy of the connection's
                    // own SYN is dropped too, which is what it deserves.
                    meta.refused = true;
                    report_end(hdr.ipv4.src_addr, hdr.ipv4.dst_addr, hdr.tcp.src_port,
                               hdr.tcp.dst_port, meta.encap.flow_id);
                } else {
                    if (closing) {
                        // The client is closing; the segment itself is still
                        // delivered to the back-end.
                        report_end(hdr.ipv4.src_addr, hdr.ipv4.dst_addr, hdr.tcp.src_port,
                                   hdr.tcp.dst_port, meta.encap.flow_id);
                    }
                    flow_id_rewrite.apply(hdr.ipv4, hdr.tcp, meta.encap);
                    meta.route_addr = hdr.ipv4.dst_addr;
                }
            } else if (closing) {
                vip_close.apply();
            }
        }
        // The one digest() call of connection_end_t (see end_noted).
        if (meta.end_noted) {
            digest<connection_end_t>(DIGEST_RECEIVER_CONTROLLER, meta.connection_end);
        }
    }
}

#endif
