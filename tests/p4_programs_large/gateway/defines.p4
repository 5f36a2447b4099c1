// Tunnel gateway: constants, sizes and build profiles.
//
// A user-plane gateway between an access network (GTP-U tunnels from base
// stations) and a core network (plain IP, or VXLAN towards a data centre),
// with a stateful firewall, per-session policing and accounting, flow
// telemetry and a controller channel (packet-in / packet-out).
//
// Profiles (cpp -D):
//   (none)              GTP-U uplink decap / downlink encap, firewall, QoS
//   -DWITH_IPV6         IPv6 inner packets (UE traffic) and IPv6 firewall rules
//   -DWITH_VXLAN        core-side VXLAN encap/decap per network instance
//   -DWITH_FLOW_REPORTS flow records in registers, new-flow digests and
//                       sampled packets cloned to a collector
//   -DSTRICT_FIREWALL   flows the firewall does not know are dropped, not
//                       punted to the controller
//   -DSESSION_SIZE=N    sessions per direction (default 2048)
#ifndef GW_DEFINES_P4
#define GW_DEFINES_P4

#ifndef SESSION_SIZE
#define SESSION_SIZE 2048
#endif

#ifndef CPU_PORT
#define CPU_PORT 510
#endif

#define MAX_PORTS 512
#define INTERFACE_TABLE_SIZE 64
#define TERMINATION_TABLE_SIZE (2 * SESSION_SIZE)
#define TUNNEL_PEER_TABLE_SIZE 256
#define APP_TABLE_SIZE 128
#define FIREWALL_RULES 512
#define ROUTE_TABLE_SIZE 1024
#define NEIGHBOR_TABLE_SIZE 1024
#define CONNTRACK_SLOTS 65536
#define FLOW_RECORD_SLOTS 8192
#define ACCOUNTING_SLOTS SESSION_SIZE

const bit<16> ETH_TYPE_IPV4 = 0x0800;
const bit<16> ETH_TYPE_IPV6 = 0x86dd;
const bit<16> ETH_TYPE_ARP  = 0x0806;
const bit<16> ETH_TYPE_VLAN = 0x8100;

const bit<8> IP_PROTO_ICMP = 1;
const bit<8> IP_PROTO_TCP  = 6;
const bit<8> IP_PROTO_UDP  = 17;
const bit<8> IP_PROTO_ICMPV6 = 58;

const bit<16> UDP_PORT_GTPU  = 2152;
const bit<16> UDP_PORT_VXLAN = 4789;

const bit<8> GTPU_MSG_GPDU = 0xff;
const bit<8> GTPU_MSG_ECHO_REQ = 1;
const bit<8> GTPU_EXT_PDU_SESSION = 0x85;

const bit<8> TCP_FLAG_FIN = 0x01;
const bit<8> TCP_FLAG_SYN = 0x02;
const bit<8> TCP_FLAG_RST = 0x04;
const bit<8> TCP_FLAG_ACK = 0x10;

const bit<8> DEFAULT_TTL = 64;
const bit<16> IPV4_HDR_BYTES = 20;
const bit<16> UDP_HDR_BYTES = 8;
const bit<16> GTPU_HDR_BYTES = 8;
const bit<16> GTPU_OPT_EXT_BYTES = 8;
const bit<16> ETH_HDR_BYTES = 14;
const bit<16> VXLAN_HDR_BYTES = 8;

const bit<32> COLLECTOR_SESSION = 77;
const bit<32> CONTROLLER_SESSION = 99;

typedef bit<9>   port_t;
typedef bit<48>  mac_t;
typedef bit<32>  ipv4_t_addr;
typedef bit<128> ipv6_t_addr;
typedef bit<32>  session_id_t;
typedef bit<16>  l4_port_t;
typedef bit<8>   app_id_t;
// TEIDs are the controller's own identifiers: P4Runtime carries them as a
// type of their own (P4Info's type_name and new_types).
@p4runtime_translation("gateway.example/teid", bit<32>)
type bit<32> teid_t;
typedef bit<6>   qfi_t;
typedef bit<24>  vni_t;

// Which side of the gateway a port or address faces.
enum bit<2> direction_t {
    UNKNOWN  = 0,
    UPLINK   = 1,
    DOWNLINK = 2,
    OTHER    = 3
}

// What a packet is to the gateway, set by the interface table.
enum bit<8> src_iface_t {
    UNKNOWN = 0,
    ACCESS  = 1,
    CORE    = 2,
    CONTROL = 3
}

// Firewall verdicts, stored per connection.
enum bit<2> verdict_t {
    NONE  = 0,
    ALLOW = 1,
    DENY  = 2,
    PUNT  = 3
}

// packet_in.reason
const bit<8> PUNT_NEW_FLOW = 1;
const bit<8> PUNT_GTPU_ECHO = 2;
const bit<8> PUNT_NO_SESSION = 3;
const bit<8> PUNT_SAMPLE = 4;
const bit<8> PUNT_ARP = 5;

#endif
