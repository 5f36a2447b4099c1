// Constants and type names every architecture variant of the forwarder shares.
#ifndef FORWARDER_SHARED_DEFINE_P4
#define FORWARDER_SHARED_DEFINE_P4

typedef bit<48> mac_addr_t;
typedef bit<32> ipv4_addr_t;
typedef bit<128> ipv6_addr_t;
typedef bit<16> l4_port_t;
// v1model and TNA both number ports with 9 bits.
typedef bit<9>  port_num_t;
// The 32-bit connection identifier a back-end decapsulates by: it travels in
// the TCP port fields, bits 31..16 as source port, bits 15..0 as destination.
typedef bit<32> flow_id_t;
// Which of the VIP's buckets a connection hashes to (see vip_steering.p4).
// The control plane installs one entry per bucket value, so the bucket count
// is 2^width, readable from the key's bit width in P4Info.
typedef bit<6>  steering_bucket_t;
const bit<32> STEERING_BUCKETS = 64;  // 2^6

const bit<16> ETHERTYPE_IPV4 = 0x0800;
const bit<16> ETHERTYPE_ARP  = 0x0806;
const bit<16> ETHERTYPE_IPV6 = 0x86DD;

const bit<8> IP_PROTO_TCP = 6;
const bit<8> IP_PROTO_UDP = 17;
const bit<8> IP_PROTO_ICMPV6 = 58;

// IPv6 extension headers (RFC 8200 and the IANA registry): hop-by-hop,
// routing, fragment, ESP, AH, destination options, mobility, HIP, shim6,
// and the two experimental values. A packet whose first next header is one
// of these is routed but never encapsulated, and dropped when sent to a VIP.
const bit<8> IPV6_EXT_HOP_BY_HOP = 0;
const bit<8> IPV6_EXT_ROUTING    = 43;
const bit<8> IPV6_EXT_FRAGMENT   = 44;
const bit<8> IPV6_EXT_ESP        = 50;
const bit<8> IPV6_EXT_AH         = 51;
const bit<8> IPV6_EXT_DEST_OPTS  = 60;
const bit<8> IPV6_EXT_MOBILITY   = 135;
const bit<8> IPV6_EXT_HIP        = 139;
const bit<8> IPV6_EXT_SHIM6      = 140;
const bit<8> IPV6_EXT_TEST1      = 253;
const bit<8> IPV6_EXT_TEST2      = 254;

// Neighbour discovery (RFC 4861): ICMPv6 types 133..137, always sent with
// hop limit 255 so a receiver knows they come from the link itself.
const bit<8> ICMPV6_ROUTER_SOLICIT   = 133;
const bit<8> ICMPV6_REDIRECT         = 137;
const bit<8> ICMPV6_NEIGHBOR_SOLICIT = 135;
const bit<8> ICMPV6_NEIGHBOR_ADVERT  = 136;
const bit<8> NDP_HOP_LIMIT = 255;
// Neighbour advertisement flags: router, solicited, override.
const bit<32> NDP_NA_FLAGS_ROUTER_SOLICITED_OVERRIDE = 0xE0000000;
// Link-layer address options (type, length in 8-byte units).
const bit<8> NDP_OPT_SOURCE_LLA = 1;
const bit<8> NDP_OPT_TARGET_LLA = 2;
// ICMPv6 payload length of a solicitation without options / with one
// link-layer address option.
const bit<16> NDP_NS_LEN = 24;
const bit<16> NDP_NS_LLA_LEN = 32;

// IPv4 flags field (3 bits: reserved, don't fragment, more fragments).
const bit<3> IPV4_FLAG_MF = 0b001;
const bit<4> IPV4_IHL_NO_OPTIONS = 5;

const bit<8> TCP_FLAG_FIN = 0x01;
const bit<8> TCP_FLAG_SYN = 0x02;
const bit<8> TCP_FLAG_RST = 0x04;
const bit<8> TCP_FLAG_ACK = 0x10;

const bit<16> ARP_HTYPE_ETHERNET = 1;
const bit<16> ARP_OPER_REQUEST   = 1;
const bit<16> ARP_OPER_REPLY     = 2;

// The port on which the controller's frames enter and leave the pipeline
// (simple_switch_grpc --cpu-port, p4sim --cpu-port). Override with
// -DCPU_PORT_ID=<n> when the target uses another number.
#ifndef CPU_PORT_ID
#define CPU_PORT_ID 255
#endif
const port_num_t CPU_PORT = CPU_PORT_ID;

// Receiver argument of digest(): v1model wants one, bmv2 ignores its value.
const bit<32> DIGEST_RECEIVER_CONTROLLER = 1;

#endif
