// Neighbour discovery for the switch's IPv6 gateway addresses, the IPv6
// counterpart of arp.p4: a neighbour solicitation for a gateway address is
// answered by the switch itself with a neighbour advertisement, so lab hosts
// need no static neighbour entries. Every other neighbour discovery message
// (router solicitations, advertisements, redirects, solicitations for other
// addresses or in a form this control does not answer) goes to the
// controller; the switch does not bridge it.
//
// A solicitation is answered when it is well formed (hop limit 255, code 0,
// a unicast source, not duplicate address detection) and its ICMPv6 payload
// is the 24-byte body alone or the body and one source link-layer address
// option: the answer carries a target link-layer address option either way,
// so every byte of it is a parsed header and the ICMPv6 checksum is computed
// whole in checksum.p4.
#ifndef FORWARDER_V1MODEL_NDP_P4
#define FORWARDER_V1MODEL_NDP_P4

control GatewayNdp(inout headers_t hdr,
                   inout forwarder_metadata_t meta,
                   inout standard_metadata_t std_meta) {
    // Turns the solicitation into its advertisement in place and sends it
    // back out of the port it arrived on.
    action answer_ndp(mac_addr_t gateway_mac) {
        hdr.ipv6.dst_addr = hdr.ipv6.src_addr;
        hdr.ipv6.src_addr = hdr.ndp.target_addr;
        hdr.ipv6.hop_limit = NDP_HOP_LIMIT;
        hdr.ipv6.payload_len = NDP_NS_LLA_LEN;
        hdr.icmpv6.type = ICMPV6_NEIGHBOR_ADVERT;
        hdr.ndp.flags = NDP_NA_FLAGS_ROUTER_SOLICITED_OVERRIDE;
        hdr.ndp_option.setValid();
        hdr.ndp_option.type = NDP_OPT_TARGET_LLA;
        hdr.ndp_option.length = 1;
        hdr.ndp_option.addr = gateway_mac;
        hdr.ethernet.dst_addr = hdr.ethernet.src_addr;
        hdr.ethernet.src_addr = gateway_mac;
        std_meta.egress_spec = std_meta.ingress_port;
        meta.ndp_answered = true;
    }

    action ndp_to_controller() {
        std_meta.egress_spec = CPU_PORT;
    }

    // One entry per IPv6 gateway address of the switch: a neighbour
    // solicitation for that address is answered with the gateway's MAC.
    table gateway_ndp {
        key = {
            hdr.ndp.target_addr: exact @name("gateway_addr");
        }
        actions = {
            answer_ndp;
            @defaultonly ndp_to_controller;
        }
        const default_action = ndp_to_controller();
        size = GATEWAY_NDP_SIZE;
    }

    apply {
        bool lla_ok = hdr.ipv6.payload_len == NDP_NS_LEN
            || (hdr.ndp_option.isValid()
                && hdr.ndp_option.type == NDP_OPT_SOURCE_LLA
                && hdr.ndp_option.length == 1);
        if (hdr.ndp.isValid()
                && hdr.ipv6.hop_limit == NDP_HOP_LIMIT
                && hdr.icmpv6.code == 0
                && hdr.ipv6.src_addr != 0
                && lla_ok) {
            gateway_ndp.apply();
        } else {
            ndp_to_controller();
        }
    }
}

#endif
