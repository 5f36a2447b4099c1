// Header formats and the per-packet structs every architecture variant shares.
#ifndef FORWARDER_SHARED_HEADERS_P4
#define FORWARDER_SHARED_HEADERS_P4

// Prepended by the pipeline to every frame it sends to the controller.
@controller_header("packet_in")
header packet_in_t {
    port_num_t ingress_port;
    bit<7>     _pad;
}

// Prepended by the controller to every frame it sends through the switch.
@controller_header("packet_out")
header packet_out_t {
    port_num_t egress_port;
    bit<7>     _pad;
}

header ethernet_t {
    mac_addr_t dst_addr;
    mac_addr_t src_addr;
    bit<16>    ether_type;
}

// ARP for IPv4 over Ethernet (RFC 826): the only ARP the switch takes part in.
header arp_t {
    bit<16>     hw_type;
    bit<16>     proto_type;
    bit<8>      hw_addr_len;
    bit<8>      proto_addr_len;
    bit<16>     oper;
    mac_addr_t  sender_hw_addr;
    ipv4_addr_t sender_proto_addr;
    mac_addr_t  target_hw_addr;
    ipv4_addr_t target_proto_addr;
}

// The fixed 20-byte IPv4 header; options, when present, stay in the payload.
header ipv4_t {
    bit<4>      version;
    bit<4>      ihl;
    bit<6>      dscp;
    bit<2>      ecn;
    bit<16>     total_len;
    bit<16>     identification;
    bit<3>      flags;
    bit<13>     frag_offset;
    bit<8>      ttl;
    bit<8>      protocol;
    bit<16>     hdr_checksum;
    ipv4_addr_t src_addr;
    ipv4_addr_t dst_addr;
}

// The fixed 40-byte IPv6 header; extension headers, when present, stay in
// the payload.
header ipv6_t {
    bit<4>      version;
    bit<8>      traffic_class;
    bit<20>     flow_label;
    bit<16>     payload_len;
    bit<8>      next_hdr;
    bit<8>      hop_limit;
    ipv6_addr_t src_addr;
    ipv6_addr_t dst_addr;
}

header icmpv6_t {
    bit<8>  type;
    bit<8>  code;
    bit<16> checksum;
}

// The body of a neighbour solicitation or advertisement (RFC 4861 4.3, 4.4).
header ndp_t {
    bit<32>     flags;
    ipv6_addr_t target_addr;
}

// A source or target link-layer address option for Ethernet.
header ndp_lla_option_t {
    bit<8>     type;
    bit<8>     length;
    mac_addr_t addr;
}

// The fixed 20-byte TCP header; options stay in the payload, untouched.
header tcp_t {
    l4_port_t src_port;
    l4_port_t dst_port;
    bit<32>   seq_no;
    bit<32>   ack_no;
    bit<4>    data_offset;
    bit<4>    res;
    bit<8>    flags;
    bit<16>   window;
    bit<16>   checksum;
    bit<16>   urgent_ptr;
}

header udp_t {
    l4_port_t src_port;
    l4_port_t dst_port;
    bit<16>   length;
    bit<16>   checksum;
}

struct headers_t {
    packet_out_t packet_out;
    packet_in_t  packet_in;
    ethernet_t   ethernet;
    arp_t        arp;
    ipv4_t       ipv4;
    ipv6_t       ipv6;
    icmpv6_t     icmpv6;
    ndp_t        ndp;
    ndp_lla_option_t ndp_option;
    tcp_t        tcp;
    udp_t        udp;
}

// What encap_to_backend hands to the flow-id rewrite.
struct encap_params_t {
    flow_id_t   flow_id;
    ipv4_addr_t tunnel_src;
    ipv4_addr_t backend;
}

// What encap_to_backend6 hands to the IPv6 flow-id rewrite.
struct encap6_params_t {
    flow_id_t   flow_id;
    ipv6_addr_t tunnel_src;
    ipv6_addr_t backend;
}

// connection_end_t of an IPv6 connection (its encap_map6 key first).
struct connection_end6_t {
    ipv6_addr_t client_addr;
    ipv6_addr_t vip;
    l4_port_t   client_port;
    l4_port_t   vip_port;
    flow_id_t   flow_id;
    bit<8>      tcp_flags;
}

// Sent to the controller when a packet of a migrated connection carries FIN
// or RST. The first four members are the connection's encap_map key, so the
// controller can delete the entry without a lookup of its own.
struct connection_end_t {
    ipv4_addr_t client_addr;
    ipv4_addr_t vip;
    l4_port_t   client_port;
    l4_port_t   vip_port;
    flow_id_t   flow_id;
    bit<8>      tcp_flags;
}

struct forwarder_metadata_t {
    // The packet breaks one of the stated input rules (forwarder.p4) and
    // will be dropped.
    bool              refused;
    steering_bucket_t steering_bucket;
    // The address routing looks up: the IPv4 destination (the back-end once
    // the flow-id rewrite ran), or the classifier steering picked for a VIP.
    ipv4_addr_t       route_addr;
    encap_params_t    encap;
    connection_end_t  connection_end;
    // connection_end holds a connection end to digest. The digest is sent
    // from one place: bmv2 gives every digest() call site a learn list of
    // its own, and P4Runtime configures only one per digest type.
    bool              end_noted;
    // IPv6: the address routing6 looks up, like route_addr.
    ipv6_addr_t       route_addr6;
    // The IPv6 packet's first next header is an extension header.
    bool              ipv6_ext;
    // The switch answered a neighbour solicitation (the ICMPv6 checksum is
    // computed on the way out).
    bool              ndp_answered;
    encap6_params_t   encap6;
    connection_end6_t connection_end6;
    bool              end6_noted;  // as end_noted
}

#endif
