// Leaf switch: packet headers, the controller headers and metadata.
#ifndef LEAF_HEADERS_P4
#define LEAF_HEADERS_P4

#include "defines.p4"

@controller_header("packet_in")
header packet_in_header_t {
    port_num_t ingress_port;
    bit<7>     _pad0;
    bit<8>     reason;
}

@controller_header("packet_out")
header packet_out_header_t {
    port_num_t egress_port;
    bit<1>     do_forwarding;
    bit<6>     _pad0;
    bit<8>     queue_id;
}

header ethernet_t {
    mac_addr_t dst_addr;
    mac_addr_t src_addr;
}

header eth_type_t {
    bit<16> value;
}

header vlan_tag_t {
    bit<16>   eth_type;
    bit<3>    pri;
    bit<1>    cfi;
    vlan_id_t vlan_id;
}

header mpls_t {
    mpls_label_t label;
    bit<3>       tc;
    bit<1>       bos;
    bit<8>       ttl;
}

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

header tcp_t {
    l4_port_t sport;
    l4_port_t dport;
    bit<32>   seq_no;
    bit<32>   ack_no;
    bit<4>    data_offset;
    bit<3>    res;
    bit<3>    ecn;
    bit<6>    ctrl;
    bit<16>   window;
    bit<16>   checksum;
    bit<16>   urgent_ptr;
}

header udp_t {
    l4_port_t sport;
    l4_port_t dport;
    bit<16>   len;
    bit<16>   checksum;
}

header icmp_t {
    bit<8>  icmp_type;
    bit<8>  icmp_code;
    bit<16> checksum;
}

header vxlan_t {
    bit<8>  flags;
    bit<24> reserved;
    bit<24> vni;
    bit<8>  reserved2;
}

// After a VXLAN header: the inner packet is IPv4 or IPv6, never both.
header_union inner_l3_t {
    ipv4_t ipv4;
    ipv6_t ipv6;
}

// INT postcard sent to the collector: one per watched packet and hop.
header int_report_t {
    bit<4>  ver;
    bit<4>  hw_id;
    bit<8>  flags;
    bit<16> switch_id;
    bit<16> ingress_port;
    bit<16> egress_port;
    bit<32> hop_latency;
    bit<32> ingress_tstamp;
    bit<24> queue_depth;
    bit<8>  queue_id;
}

struct parsed_headers_t {
    packet_out_header_t packet_out;
    packet_in_header_t  packet_in;
    ethernet_t          ethernet;
    vlan_tag_t          vlan_tag;
    vlan_tag_t          inner_vlan_tag;
    eth_type_t          eth_type;
    mpls_t[MAX_MPLS_LABELS] mpls;
    ipv4_t              ipv4;
    ipv6_t              ipv6;
    tcp_t               tcp;
    udp_t               udp;
    icmp_t              icmp;
    vxlan_t             vxlan;
    ethernet_t          inner_ethernet;
    eth_type_t          inner_eth_type;
    inner_l3_t          inner_l3;
    udp_t               inner_udp;
    tcp_t               inner_tcp;
    // Added by egress for INT postcards (WITH_INT).
    ethernet_t          report_ethernet;
    eth_type_t          report_eth_type;
    ipv4_t              report_ipv4;
    udp_t               report_udp;
    int_report_t        int_report;
}

// Digest to the controller when a source MAC is not known on its port.
@flexible
struct mac_learn_digest_t {
    mac_addr_t src_addr;
    port_num_t ingress_port;
    vlan_id_t  vlan_id;
}

// Digest for an INT flow whose latency crossed the threshold.
@flexible
struct int_flow_digest_t {
    ipv4_addr_t src_addr;
    ipv4_addr_t dst_addr;
    bit<8>      protocol;
    bit<32>     hop_latency;
}

// Lookup fields taken from the outer or inner headers.
struct lookup_metadata_t {
    bool        is_ipv4;
    bool        is_ipv6;
    bit<8>      ip_proto;
    bit<6>      dscp;
    ipv4_addr_t ipv4_src;
    ipv4_addr_t ipv4_dst;
    l4_port_t   l4_sport;
    l4_port_t   l4_dport;
    bit<8>      icmp_type;
    bit<8>      icmp_code;
}

struct int_metadata_t {
    bool    watched;
    bool    report;
    bit<32> hop_latency;
    bit<16> switch_id;
}

@flexible
struct leaf_metadata_t {
    lookup_metadata_t lkp;
    bit<16>      ip_eth_type;
    vlan_id_t    vlan_id;
    bit<3>       vlan_pri;
    bit<1>       vlan_cfi;
    bool         push_double_vlan;
    vlan_id_t    inner_vlan_id;
    mpls_label_t mpls_label;
    bit<8>       mpls_ttl;
    bool         skip_forwarding;
    bool         skip_next;
    fwd_type_t   fwd_type;
    next_id_t    next_id;
    bool         is_multicast;
    bool         is_controller_packet_out;
    bit<8>       ip_proto;
    l4_port_t    l4_sport;
    l4_port_t    l4_dport;
    flow_hash_t  ecmp_hash;
    bit<2>       packet_color;
    @field_list(1)
    port_num_t   clone_ingress_port;
    @field_list(1)
    bit<8>       punt_reason;
    @field_list(2)
    bit<32>      ingress_tstamp;
    @field_list(2)
    bit<32>      ingress_hop_latency;
    bool         smac_hit;
    bit<32>      port_stats_index;
    int_metadata_t int_meta;
}

#endif
