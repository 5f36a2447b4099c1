// Tunnel gateway: headers, unions, controller headers, metadata, digests.
#ifndef GW_HEADERS_P4
#define GW_HEADERS_P4

#include "defines.p4"

@controller_header("packet_in")
header cpu_in_t {
    port_t  ingress_port;
    bit<7>  _pad;
    bit<8>  reason;
    bit<32> session_id;
}

@controller_header("packet_out")
header cpu_out_t {
    port_t  egress_port;
    bit<1>  use_pipeline;
    bit<6>  _pad;
    bit<32> session_id;
}

header ethernet_h {
    mac_t   dst;
    mac_t   src;
    bit<16> ether_type;
}

header vlan_h {
    bit<3>  pcp;
    bit<1>  dei;
    bit<12> vid;
    bit<16> ether_type;
}

header arp_h {
    bit<16> htype;
    bit<16> ptype;
    bit<8>  hlen;
    bit<8>  plen;
    bit<16> oper;
}

header ipv4_h {
    bit<4>      version;
    bit<4>      ihl;
    bit<8>      tos;
    bit<16>     total_len;
    bit<16>     identification;
    bit<3>      flags;
    bit<13>     frag_offset;
    bit<8>      ttl;
    bit<8>      protocol;
    bit<16>     checksum;
    ipv4_t_addr src;
    ipv4_t_addr dst;
}

header ipv6_h {
    bit<4>      version;
    bit<8>      traffic_class;
    bit<20>     flow_label;
    bit<16>     payload_len;
    bit<8>      next_hdr;
    bit<8>      hop_limit;
    ipv6_t_addr src;
    ipv6_t_addr dst;
}

header udp_h {
    l4_port_t sport;
    l4_port_t dport;
    bit<16>   length;
    bit<16>   checksum;
}

header tcp_h {
    l4_port_t sport;
    l4_port_t dport;
    bit<32>   seq;
    bit<32>   ack;
    bit<4>    data_offset;
    bit<4>    reserved;
    bit<8>    flags;
    bit<16>   window;
    bit<16>   checksum;
    bit<16>   urgent;
}

header icmp_h {
    bit<8>  type_;
    bit<8>  code;
    bit<16> checksum;
    bit<16> identifier;
    bit<16> sequence;
}

// The transport header of the packet the gateway looks at: one of three.
header_union l4_u {
    tcp_h  tcp;
    udp_h  udp;
    icmp_h icmp;
}

header gtpu_h {
    bit<3>  version;
    bit<1>  pt;
    bit<1>  spare;
    bit<1>  ex_flag;
    bit<1>  seq_flag;
    bit<1>  npdu_flag;
    bit<8>  msgtype;
    bit<16> msglen;
    teid_t  teid;
}

header gtpu_options_h {
    bit<16> seq_num;
    bit<8>  n_pdu_num;
    bit<8>  next_ext;
}

header gtpu_ext_psc_h {
    bit<8> len;
    bit<4> type;
    bit<4> spare0;
    bit<1> ppp;
    bit<1> rqi;
    qfi_t  qfi;
    bit<8> next_ext;
}

header vxlan_h {
    bit<8>  flags;
    bit<24> reserved;
    vni_t   vni;
    bit<8>  reserved2;
}

// A UE's packet inside GTP-U: IPv4 or IPv6.
header_union inner_ip_u {
    ipv4_h ipv4;
    ipv6_h ipv6;
}

struct headers_t {
    cpu_out_t      cpu_out;
    cpu_in_t       cpu_in;
    ethernet_h     ethernet;
    vlan_h         vlan;
    arp_h          arp;
    ipv4_h         ipv4;
    ipv6_h         ipv6;
    udp_h          udp;
    gtpu_h         gtpu;
    gtpu_options_h gtpu_options;
    gtpu_ext_psc_h gtpu_ext_psc;
    vxlan_h        vxlan;
    ethernet_h     inner_ethernet;
    inner_ip_u     inner_ip;
    l4_u           l4;
}

// The five-tuple the firewall and the sessions look at (the UE's packet:
// inner after GTP-U decap on the uplink, outer on the downlink).
struct flow_key_t {
    ipv4_t_addr src;
    ipv4_t_addr dst;
    l4_port_t   sport;
    l4_port_t   dport;
    bit<8>      proto;
}

// New flow the controller should install a firewall verdict for.
@flexible
struct new_flow_digest_t {
    session_id_t session_id;
    ipv4_t_addr  src;
    ipv4_t_addr  dst;
    l4_port_t    sport;
    l4_port_t    dport;
    bit<8>       proto;
    direction_t  direction;
}

// A GTP-U packet for a TEID no session knows. (bmv2's P4Runtime server, PI,
// cannot take this program's P4Info: it refuses digests with members of a
// new type or a serializable enum, "Packed type for digest too complex".)
@flexible
struct unknown_teid_digest_t {
    ipv4_t_addr tunnel_src;
    teid_t      teid;
    port_t      ingress_port;
}

// Flow record exported when a TCP flow ends (WITH_FLOW_REPORTS).
@flexible
struct flow_end_digest_t {
    ipv4_t_addr src;
    ipv4_t_addr dst;
    l4_port_t   sport;
    l4_port_t   dport;
    bit<32>     packets;
    bit<48>     first_seen;
    bit<48>     last_seen;
}

@flexible
struct gw_metadata_t {
    src_iface_t  src_iface;
    direction_t  direction;
    bool         needs_gtpu_decap;
    bool         needs_gtpu_encap;
    bool         needs_vxlan_decap;
    bool         needs_vxlan_encap;
    bool         needs_dropping;
    bool         needs_punt;
    bool         session_hit;
    flow_key_t   flow;
    @field_list(1, 2)
    session_id_t session_id;
    teid_t       teid;
    qfi_t        qfi;
    app_id_t     app_id;
    bit<8>       tcp_flags;
    bit<2>       color;
    verdict_t    verdict;
    bit<32>      conntrack_slot;
    bit<32>      conntrack_slot2;
    ipv4_t_addr  tunnel_src;
    ipv4_t_addr  tunnel_dst;
    teid_t       tunnel_teid;
    l4_port_t    tunnel_sport;
    vni_t        vni;
    ipv4_t_addr  next_hop;
    bit<16>      encap_len;
    @field_list(1)
    bit<8>       punt_reason;
    @field_list(1, 2)
    port_t       orig_ingress_port;
    @field_list(2)
    bit<32>      flow_slot;
    bool         sampled;
}

#endif
