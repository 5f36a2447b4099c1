// Leaf switch: bridging, MPLS, IPv4 and IPv6 routing tables.
#ifndef LEAF_FORWARDING_P4
#define LEAF_FORWARDING_P4

#include "headers.p4"

control Forwarding(inout parsed_headers_t hdr,
                   inout leaf_metadata_t meta,
                   inout standard_metadata_t standard_metadata) {

    action nop() { }

    @hidden
    action set_next_id(next_id_t next_id) {
        meta.next_id = next_id;
    }

    // Bridging: VLAN and destination MAC (ternary so that broadcast and
    // multicast MACs can share entries).
    direct_counter(CounterType.packets_and_bytes) bridging_counter;

    action set_next_id_bridging(next_id_t next_id) {
        set_next_id(next_id);
        bridging_counter.count();
    }

    table bridging {
        key = {
            meta.vlan_id          : exact @name("vlan_id");
            hdr.ethernet.dst_addr : ternary @name("eth_dst");
        }
        actions = {
            set_next_id_bridging;
            @defaultonly nop;
        }
        const default_action = nop();
        counters = bridging_counter;
        size = BRIDGING_TABLE_SIZE;
    }

    // MPLS: pop the top label and forward on its next id.
    direct_counter(CounterType.packets_and_bytes) mpls_counter;

    action pop_mpls_and_next(next_id_t next_id) {
        hdr.mpls.pop_front(1);
        meta.mpls_label = 0;
        set_next_id(next_id);
        mpls_counter.count();
    }

    table mpls {
        key = {
            meta.mpls_label : exact @name("mpls_label");
        }
        actions = {
            pop_mpls_and_next;
            @defaultonly nop;
        }
        const default_action = nop();
        counters = mpls_counter;
        size = MPLS_TABLE_SIZE;
    }

    // IPv4 routing.
    action set_next_id_routing_v4(next_id_t next_id) {
        set_next_id(next_id);
    }

    action nop_routing_v4() { }

    @name("routing_v4")
    table routing_v4 {
        key = {
            meta.lkp.ipv4_dst : lpm @name("ipv4_dst");
        }
        actions = {
            set_next_id_routing_v4;
            nop_routing_v4;
            @defaultonly nop;
        }
        default_action = nop();
        size = ROUTING_V4_TABLE_SIZE;
    }

    // IPv4 multicast: (S, G) with the source optional.
    action set_mcast_group_v4(next_id_t next_id) {
        set_next_id(next_id);
        meta.is_multicast = true;
    }

    table routing_v4_mcast {
        key = {
            meta.vlan_id      : exact @name("vlan_id");
            meta.lkp.ipv4_src : optional @name("ipv4_src");
            meta.lkp.ipv4_dst : exact @name("ipv4_dst");
        }
        actions = {
            set_mcast_group_v4;
            @defaultonly nop;
        }
        default_action = nop();
        size = MULTICAST_TABLE_SIZE;
    }

#ifdef WITH_IPV6
    action set_next_id_routing_v6(next_id_t next_id) {
        set_next_id(next_id);
    }

    table routing_v6 {
        key = {
            hdr.ipv6.dst_addr : lpm @name("ipv6_dst");
        }
        actions = {
            set_next_id_routing_v6;
            @defaultonly nop;
        }
        default_action = nop();
        size = ROUTING_V6_TABLE_SIZE;
    }
#endif

    apply {
        if (meta.fwd_type == fwd_type_t.BRIDGING) {
            bridging.apply();
        } else if (meta.fwd_type == fwd_type_t.MPLS) {
            if (mpls.apply().hit && !hdr.mpls[0].isValid()) {
                // The last label is gone: the payload's type is IP again.
                hdr.eth_type.value = meta.ip_eth_type;
            }
        } else if (meta.fwd_type == fwd_type_t.IPV4_UNICAST) {
            routing_v4.apply();
        } else if (meta.fwd_type == fwd_type_t.IPV4_MULTICAST) {
            routing_v4_mcast.apply();
        }
#ifdef WITH_IPV6
        else if (meta.fwd_type == fwd_type_t.IPV6_UNICAST) {
            routing_v6.apply();
        }
#endif
    }
}

#endif
