// Leaf switch: next-hop resolution. A next id names one output (simple),
// an ECMP group (hashed, through an action selector), a multicast group,
// or a cross-connect; next_vlan and next_mpls set what egress pushes.
#ifndef LEAF_NEXT_P4
#define LEAF_NEXT_P4

#include "headers.p4"

control Next(inout parsed_headers_t hdr,
             inout leaf_metadata_t meta,
             inout standard_metadata_t standard_metadata) {

    action nop() { }

    @hidden
    action output(port_num_t port_num) {
        standard_metadata.egress_spec = port_num;
    }

    @hidden
    action rewrite_smac(mac_addr_t smac) {
        hdr.ethernet.src_addr = smac;
    }

    @hidden
    action rewrite_dmac(mac_addr_t dmac) {
        hdr.ethernet.dst_addr = dmac;
    }

    @hidden
    action routing(port_num_t port_num, mac_addr_t smac, mac_addr_t dmac) {
        rewrite_smac(smac);
        rewrite_dmac(dmac);
        output(port_num);
    }

    // next_vlan: the VLAN egress tags with.
    direct_counter(CounterType.packets_and_bytes) next_vlan_counter;

    action set_vlan(vlan_id_t vlan_id) {
        meta.vlan_id = vlan_id;
        next_vlan_counter.count();
    }

    action set_double_vlan(vlan_id_t outer_vlan_id, vlan_id_t inner_vlan_id) {
        meta.push_double_vlan = true;
        meta.vlan_id = outer_vlan_id;
        meta.inner_vlan_id = inner_vlan_id;
        next_vlan_counter.count();
    }

    table next_vlan {
        key = {
            meta.next_id : exact @name("next_id");
        }
        actions = {
            set_vlan;
            set_double_vlan;
            @defaultonly nop;
        }
        const default_action = nop();
        counters = next_vlan_counter;
        size = NEXT_ID_TABLE_SIZE;
    }

    // xconnect: a port pair bridged without a MAC lookup.
    direct_counter(CounterType.packets_and_bytes) xconnect_counter;

    action output_xconnect(port_num_t port_num) {
        output(port_num);
        xconnect_counter.count();
    }

    action set_next_id_xconnect(next_id_t next_id) {
        meta.next_id = next_id;
        xconnect_counter.count();
    }

    table xconnect {
        key = {
            standard_metadata.ingress_port : exact @name("ig_port");
            meta.next_id                   : exact @name("next_id");
        }
        actions = {
            output_xconnect;
            set_next_id_xconnect;
            @defaultonly nop;
        }
        counters = xconnect_counter;
        const default_action = nop();
        size = NEXT_ID_TABLE_SIZE;
    }

    // simple: one output with an optional MAC rewrite.
    direct_counter(CounterType.packets_and_bytes) simple_counter;

    action output_simple(port_num_t port_num) {
        output(port_num);
        simple_counter.count();
    }

    action routing_simple(port_num_t port_num, mac_addr_t smac, mac_addr_t dmac) {
        routing(port_num, smac, dmac);
        simple_counter.count();
    }

    table simple {
        key = {
            meta.next_id : exact @name("next_id");
        }
        actions = {
            output_simple;
            routing_simple;
            @defaultonly nop;
        }
        const default_action = nop();
        counters = simple_counter;
        size = NEXT_ID_TABLE_SIZE;
    }

    // hashed: ECMP over members of a group, chosen by the flow hash.
    @max_group_size(ECMP_MAX_GROUP_SIZE)
    action_selector(HashAlgorithm.crc16, 32w1024, 32w16) hashed_selector;
    direct_counter(CounterType.packets_and_bytes) hashed_counter;

    action output_hashed(port_num_t port_num) {
        output(port_num);
        hashed_counter.count();
    }

    action routing_hashed(port_num_t port_num, mac_addr_t smac, mac_addr_t dmac) {
        routing(port_num, smac, dmac);
        hashed_counter.count();
    }

    action mpls_routing_hashed(port_num_t port_num, mac_addr_t smac, mac_addr_t dmac,
                               mpls_label_t label) {
        meta.mpls_label = label;
        routing(port_num, smac, dmac);
        hashed_counter.count();
    }

    table hashed {
        key = {
            meta.next_id      : exact @name("next_id");
            meta.lkp.ipv4_src : selector;
            meta.lkp.ipv4_dst : selector;
            meta.lkp.ip_proto : selector;
            meta.l4_sport     : selector;
            meta.l4_dport     : selector;
        }
        actions = {
            output_hashed;
            routing_hashed;
            mpls_routing_hashed;
            @defaultonly nop;
        }
        implementation = hashed_selector;
        counters = hashed_counter;
        const default_action = nop();
        size = ECMP_GROUP_TABLE_SIZE;
    }

    // multicast: a multicast group the traffic manager replicates to.
    direct_counter(CounterType.packets_and_bytes) multicast_counter;

    action set_mcast_group_id(bit<16> group_id) {
        standard_metadata.mcast_grp = group_id;
        meta.is_multicast = true;
        multicast_counter.count();
    }

    table multicast {
        key = {
            meta.next_id : exact @name("next_id");
        }
        actions = {
            set_mcast_group_id;
            @defaultonly nop;
        }
        counters = multicast_counter;
        const default_action = nop();
        size = MULTICAST_TABLE_SIZE;
    }

    apply {
        if (!xconnect.apply().hit) {
            if (!simple.apply().hit) {
                if (!hashed.apply().hit) {
                    multicast.apply();
                }
            }
        }
        next_vlan.apply();
        // Routed IPv4 packets lose one TTL here; egress checks for zero.
        if (meta.fwd_type == fwd_type_t.IPV4_UNICAST && hdr.ipv4.isValid()) {
            hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
        }
    }
}

#endif
