// Constants and type names every architecture variant of the forwarder shares.
#ifndef FORWARDER_SHARED_DEFINE_P4
#define FORWARDER_SHARED_DEFINE_P4

typedef bit<48> mac_addr_t;
typedef bit<32> ipv4_addr_t;
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

const bit<8> IP_PROTO_TCP = 6;
const bit<8> IP_PROTO_UDP = 17;

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
