// The flow-id rewrite of a migrated connection's client segment, shared by
// every architecture variant: after it, the segment is addressed to the
// back-end and carries the connection's flow id in its ports.
//
//   before:  IPv4 client -> VIP          TCP client_port -> vip_port
//   after:   IPv4 tunnel_src -> backend  TCP flow_id[31:16] -> flow_id[15:0]
//
// Nothing else changes and nothing is added, so the packet keeps its length
// and the path MTU is unaffected. Both checksums are updated incrementally:
// the addresses are covered by the IPv4 header checksum and by the TCP
// pseudo-header, the ports by the TCP checksum only. TCP options and payload
// are never read.
#ifndef FORWARDER_SHARED_FLOW_ID_P4
#define FORWARDER_SHARED_FLOW_ID_P4

control FlowIdRewrite(inout ipv4_t ipv4, inout tcp_t tcp, in encap_params_t encap) {
    apply {
        bit<32> address_delta = csum16_delta32(ipv4.src_addr, encap.tunnel_src)
                              + csum16_delta32(ipv4.dst_addr, encap.backend);
        bit<32> port_delta = csum16_delta32(tcp.src_port ++ tcp.dst_port, encap.flow_id);

        ipv4.hdr_checksum = csum16_apply(ipv4.hdr_checksum, address_delta);
        tcp.checksum = csum16_apply(tcp.checksum, address_delta + port_delta);

        ipv4.src_addr = encap.tunnel_src;
        ipv4.dst_addr = encap.backend;
        tcp.src_port = encap.flow_id[31:16];
        tcp.dst_port = encap.flow_id[15:0];
    }
}

#endif
