// Leaf switch: constants, sizes and the build profiles.
//
// Profiles (cpp -D, as p4c takes them):
//   (none)          L2 bridging, IPv4 routing, MPLS, ACL, next-hop groups
//   -DWITH_IPV6     IPv6 parsing and routing, IPv6 ACL keys
//   -DWITH_INT      in-band telemetry: watchlist, hop latency registers,
//                   postcards cloned egress to egress to a collector
//   -DWITH_VXLAN    VXLAN termination with an inner IPv4|IPv6 header union
//   -DTABLE_SCALE=N multiplies the large table sizes (default 1)
#ifndef LEAF_DEFINES_P4
#define LEAF_DEFINES_P4

#ifndef TABLE_SCALE
#define TABLE_SCALE 1
#endif

#ifndef CPU_PORT
#define CPU_PORT 255
#endif

#define PORT_COUNT 512
#define PORT_VLAN_TABLE_SIZE 1024
#define FWD_CLASSIFIER_TABLE_SIZE 1024
#define BRIDGING_TABLE_SIZE (1024 * TABLE_SCALE)
#define MPLS_TABLE_SIZE 1024
#define ROUTING_V4_TABLE_SIZE (4096 * TABLE_SCALE)
#define ROUTING_V6_TABLE_SIZE (2048 * TABLE_SCALE)
#define ACL_TABLE_SIZE 1024
#define NEXT_ID_TABLE_SIZE 1024
#define ECMP_GROUP_TABLE_SIZE 1024
#define ECMP_MAX_GROUP_SIZE 16
#define MULTICAST_TABLE_SIZE 512
#define EGRESS_VLAN_TABLE_SIZE 1024
#define SMAC_TABLE_SIZE (1024 * TABLE_SCALE)
#define INT_WATCHLIST_SIZE 64

const bit<16> ETHERTYPE_QINQ = 0x88A8;
const bit<16> ETHERTYPE_VLAN = 0x8100;
const bit<16> ETHERTYPE_MPLS = 0x8847;
const bit<16> ETHERTYPE_IPV4 = 0x0800;
const bit<16> ETHERTYPE_IPV6 = 0x86DD;
const bit<16> ETHERTYPE_ARP  = 0x0806;
const bit<16> ETHERTYPE_LLDP = 0x88CC;

const bit<8> PROTO_ICMP   = 1;
const bit<8> PROTO_TCP    = 6;
const bit<8> PROTO_UDP    = 17;
const bit<8> PROTO_ICMPV6 = 58;

const bit<16> UDP_PORT_VXLAN = 4789;
const bit<16> UDP_PORT_INT_REPORT = 32766;

const bit<12> DEFAULT_VLAN_ID = 4094;
const bit<8>  DEFAULT_MPLS_TTL = 64;
const bit<3>  MAX_MPLS_LABELS = 3;

typedef bit<9>  port_num_t;
typedef bit<48> mac_addr_t;
typedef bit<12> vlan_id_t;
typedef bit<20> mpls_label_t;
typedef bit<32> ipv4_addr_t;
typedef bit<128> ipv6_addr_t;
typedef bit<32> next_id_t;
typedef bit<16> l4_port_t;
typedef bit<32> flow_hash_t;

const next_id_t NEXT_ID_NONE = 0;

// How a packet is forwarded, set by the forwarding classifier.
enum bit<3> fwd_type_t {
    BRIDGING  = 0,
    MPLS      = 1,
    IPV4_UNICAST = 2,
    IPV4_MULTICAST = 3,
    IPV6_UNICAST = 4,
    IPV6_MULTICAST = 5,
    UNKNOWN   = 7
}

// Why a packet went to the CPU (packet_in.reason).
enum bit<8> punt_reason_t {
    NONE = 0,
    ACL = 1,
    TTL_EXPIRED = 2,
    SMAC_MISS = 3,
    INT_REPORT = 4
}

const bit<32> REPORT_MIRROR_SESSION = 500;
const bit<32> CPU_CLONE_SESSION = 511;

#endif
