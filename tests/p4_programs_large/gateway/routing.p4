// Tunnel gateway: IP routing over an action profile of next hops, and the
// neighbor table resolving a next hop to a port and MAC addresses.
#ifndef GW_ROUTING_P4
#define GW_ROUTING_P4

#include "headers.p4"

control Routing(inout headers_t hdr,
                inout gw_metadata_t meta,
                inout standard_metadata_t std_meta) {

    action_profile(32w256) next_hops;

    action set_next_hop(ipv4_t_addr next_hop) {
        meta.next_hop = next_hop;
    }

    action set_next_hop_vxlan(ipv4_t_addr next_hop, vni_t vni,
                              ipv4_t_addr vtep_src, ipv4_t_addr vtep_dst) {
        meta.next_hop = next_hop;
        meta.vni = vni;
        meta.tunnel_src = vtep_src;
        meta.tunnel_dst = vtep_dst;
        meta.needs_vxlan_encap = true;
    }

    action drop_route() {
        meta.needs_dropping = true;
    }

    // Routes on the address the packet is going to after the gateway's
    // own encap or decap: the UE's peer (uplink) or the base station
    // (downlink, the tunnel's destination).
    table routes_v4 {
        key = {
            meta.next_hop : lpm @name("dst_prefix");
        }
        actions = {
            set_next_hop;
#ifdef WITH_VXLAN
            set_next_hop_vxlan;
#endif
            drop_route;
        }
        implementation = next_hops;
        size = ROUTE_TABLE_SIZE;
    }

    direct_counter(CounterType.packets) neighbor_counter;

    action set_neighbor(port_t port, mac_t src_mac, mac_t dst_mac) {
        std_meta.egress_spec = port;
        hdr.ethernet.src = src_mac;
        hdr.ethernet.dst = dst_mac;
        neighbor_counter.count();
    }

    action set_neighbor_vlan(port_t port, mac_t src_mac, mac_t dst_mac, bit<12> vid) {
        set_neighbor(port, src_mac, dst_mac);
        hdr.vlan.setValid();
        hdr.vlan.pcp = 0;
        hdr.vlan.dei = 0;
        hdr.vlan.vid = vid;
        hdr.vlan.ether_type = hdr.ethernet.ether_type;
        hdr.ethernet.ether_type = ETH_TYPE_VLAN;
    }

    action neighbor_miss() {
        meta.needs_punt = true;
        meta.punt_reason = PUNT_ARP;
        neighbor_counter.count();
    }

    table neighbors {
        key = {
            meta.next_hop : exact @name("next_hop");
        }
        actions = {
            set_neighbor;
            set_neighbor_vlan;
            @defaultonly neighbor_miss;
        }
        default_action = neighbor_miss();
        counters = neighbor_counter;
        size = NEIGHBOR_TABLE_SIZE;
    }

    apply {
        if (meta.needs_gtpu_encap) {
            meta.next_hop = meta.tunnel_dst;
        } else {
            meta.next_hop = meta.flow.dst;
        }
        if (!routes_v4.apply().hit) {
            meta.needs_dropping = true;  // no route
        } else if (!meta.needs_dropping) {
            neighbors.apply();
        }
    }
}

#endif
