// ARP for the switch's gateway addresses, answered by the switch itself so
// lab hosts need no static neighbour entries. Any other ARP (replies,
// requests for other addresses, non-Ethernet/IPv4 ARP) goes to the
// controller; the switch does not bridge it.
#ifndef FORWARDER_V1MODEL_ARP_P4
#define FORWARDER_V1MODEL_ARP_P4

control GatewayArp(inout headers_t hdr, inout standard_metadata_t std_meta) {
    // Turns the request into its reply in place and sends it back out of
    // the port it arrived on.
    action answer_arp(mac_addr_t gateway_mac) {
        ipv4_addr_t gateway_addr = hdr.arp.target_proto_addr;
        hdr.arp.oper = ARP_OPER_REPLY;
        hdr.arp.target_hw_addr = hdr.arp.sender_hw_addr;
        hdr.arp.target_proto_addr = hdr.arp.sender_proto_addr;
        hdr.arp.sender_hw_addr = gateway_mac;
        hdr.arp.sender_proto_addr = gateway_addr;
        hdr.ethernet.dst_addr = hdr.ethernet.src_addr;
        hdr.ethernet.src_addr = gateway_mac;
        std_meta.egress_spec = std_meta.ingress_port;
    }

    action send_to_controller() {
        std_meta.egress_spec = CPU_PORT;
    }

    // One entry per gateway address of the switch: an ARP request for that
    // address is answered with the gateway's MAC address.
    table gateway_arp {
        key = {
            hdr.arp.target_proto_addr: exact @name("gateway_addr");
        }
        actions = {
            answer_arp;
            @defaultonly send_to_controller;
        }
        const default_action = send_to_controller();
        size = GATEWAY_ARP_SIZE;
    }

    apply {
        if (hdr.arp.oper == ARP_OPER_REQUEST
                && hdr.arp.hw_type == ARP_HTYPE_ETHERNET
                && hdr.arp.proto_type == ETHERTYPE_IPV4
                && hdr.arp.hw_addr_len == 6
                && hdr.arp.proto_addr_len == 4) {
            gateway_arp.apply();
        } else {
            send_to_controller();
        }
    }
}

#endif
