// Table sizes, in entries, in one place so a target with less memory changes
// only this file.
#ifndef FORWARDER_SHARED_SIZE_P4
#define FORWARDER_SHARED_SIZE_P4

#define ROUTES_SIZE        1024
#define GATEWAY_ARP_SIZE   64
// 64 buckets per VIP (steering_bucket_t is 6 bits) for up to 16 VIPs.
#define VIP_STEERING_SIZE  1024
// One entry per VIP service (address and port).
#define VIP_CLOSE_SIZE     64
// One entry per migrated connection that is still open (bench/cost_growth.py
// holds 100,000).
#define ENCAP_MAP_SIZE     131072
// The IPv6 tables, one per IPv4 table above, with the same meaning.
#define ROUTES6_SIZE       1024
#define GATEWAY_NDP_SIZE   64
#define VIP_STEERING6_SIZE 1024
#define VIP_CLOSE6_SIZE    64
#define ENCAP_MAP6_SIZE    131072

#endif
