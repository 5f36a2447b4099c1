// The IPv6 flow-id rewrite, the twin of shared/flow_id.p4:
//
//   before:  IPv6 client -> VIP          TCP client_port -> vip_port
//   after:   IPv6 tunnel_src -> backend  TCP flow_id[31:16] -> flow_id[15:0]
//
// IPv6 has no header checksum: only the TCP checksum is updated
// (incrementally), for the addresses in its pseudo-header and the ports.
// The packet keeps its length; extension headers never reach here (the
// parser extracts TCP only when it follows the fixed IPv6 header).
#ifndef FORWARDER_SHARED_FLOW_ID6_P4
#define FORWARDER_SHARED_FLOW_ID6_P4

control FlowIdRewrite6(inout ipv6_t ipv6, inout tcp_t tcp, in encap6_params_t encap) {
    apply {
        bit<32> delta = csum16_delta128(ipv6.src_addr, encap.tunnel_src)
                      + csum16_delta128(ipv6.dst_addr, encap.backend)
                      + csum16_delta32(tcp.src_port ++ tcp.dst_port, encap.flow_id);
        tcp.checksum = csum16_apply(tcp.checksum, delta);

        ipv6.src_addr = encap.tunnel_src;
        ipv6.dst_addr = encap.backend;
        tcp.src_port = encap.flow_id[31:16];
        tcp.dst_port = encap.flow_id[15:0];
    }
}

#endif
