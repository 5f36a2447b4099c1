// Leaf switch: egress. Packet-in for the CPU port (punts and clones), VLAN
// push/pop by egress_vlan, MPLS push, TTL checks and egress port counters.
#ifndef LEAF_EGRESS_P4
#define LEAF_EGRESS_P4

#include "headers.p4"

control PacketIoEgress(inout parsed_headers_t hdr,
                       inout leaf_metadata_t meta,
                       inout standard_metadata_t standard_metadata) {
    apply {
        if (standard_metadata.egress_port == CPU_PORT) {
            hdr.packet_in.setValid();
            if (standard_metadata.instance_type == 1) {
                // An ingress clone: the field list kept the original port.
                hdr.packet_in.ingress_port = meta.clone_ingress_port;
            } else {
                hdr.packet_in.ingress_port = standard_metadata.ingress_port;
            }
            hdr.packet_in._pad0 = 0;
            hdr.packet_in.reason = meta.punt_reason;
            exit;
        }
    }
}

control EgressNextControl(inout parsed_headers_t hdr,
                          inout leaf_metadata_t meta,
                          inout standard_metadata_t standard_metadata) {

    @hidden
    action pop_mpls_if_present() {
        hdr.mpls.pop_front(1);
        if (!hdr.mpls[0].isValid()) {
            hdr.eth_type.value = meta.ip_eth_type;
        }
    }

    @hidden
    action set_mpls() {
        hdr.mpls.push_front(1);
        hdr.mpls[0].setValid();
        hdr.mpls[0].label = meta.mpls_label;
        hdr.mpls[0].tc = 0;
        hdr.mpls[0].bos = 1;
        hdr.mpls[0].ttl = meta.mpls_ttl - 1;
        hdr.eth_type.value = ETHERTYPE_MPLS;
    }

    @hidden
    action push_outer_vlan() {
        hdr.vlan_tag.setValid();
        hdr.vlan_tag.eth_type = ETHERTYPE_VLAN;
        hdr.vlan_tag.pri = meta.vlan_pri;
        hdr.vlan_tag.cfi = meta.vlan_cfi;
        hdr.vlan_tag.vlan_id = meta.vlan_id;
    }

    @hidden
    action push_inner_vlan() {
        hdr.inner_vlan_tag.setValid();
        hdr.inner_vlan_tag.eth_type = ETHERTYPE_VLAN;
        hdr.inner_vlan_tag.pri = meta.vlan_pri;
        hdr.inner_vlan_tag.cfi = meta.vlan_cfi;
        hdr.inner_vlan_tag.vlan_id = meta.inner_vlan_id;
        hdr.vlan_tag.eth_type = ETHERTYPE_QINQ;
    }

    direct_counter(CounterType.packets_and_bytes) egress_vlan_counter;

    action push_vlan() {
        push_outer_vlan();
        egress_vlan_counter.count();
    }

    action pop_vlan() {
        hdr.vlan_tag.setInvalid();
        hdr.inner_vlan_tag.setInvalid();
        egress_vlan_counter.count();
    }

    action drop() {
        mark_to_drop(standard_metadata);
        egress_vlan_counter.count();
    }

    table egress_vlan {
        key = {
            meta.vlan_id                  : exact @name("vlan_id");
            standard_metadata.egress_port : exact @name("eg_port");
        }
        actions = {
            push_vlan;
            pop_vlan;
            @defaultonly drop;
        }
        const default_action = drop();
        counters = egress_vlan_counter;
        size = EGRESS_VLAN_TABLE_SIZE;
    }

    apply {
        if (meta.is_multicast && standard_metadata.ingress_port == standard_metadata.egress_port) {
            mark_to_drop(standard_metadata);
        }
        if (meta.mpls_label == 0) {
            if (hdr.mpls[0].isValid()) {
                pop_mpls_if_present();
            }
        } else {
            set_mpls();
        }
        if (meta.push_double_vlan) {
            push_outer_vlan();
            push_inner_vlan();
        } else {
            hdr.inner_vlan_tag.setInvalid();
            egress_vlan.apply();
        }
        if (hdr.mpls[0].isValid()) {
            if (hdr.mpls[0].ttl == 0) {
                mark_to_drop(standard_metadata);
            }
        } else if (hdr.ipv4.isValid() && meta.fwd_type != fwd_type_t.BRIDGING) {
            if (hdr.ipv4.ttl == 0) {
                mark_to_drop(standard_metadata);
            }
        }
#ifdef WITH_IPV6
        else if (hdr.ipv6.isValid() && meta.fwd_type != fwd_type_t.BRIDGING) {
            hdr.ipv6.hop_limit = hdr.ipv6.hop_limit - 1;
            if (hdr.ipv6.hop_limit == 0) {
                mark_to_drop(standard_metadata);
            }
        }
#endif
    }
}

control EgressPortStats(inout parsed_headers_t hdr,
                        inout leaf_metadata_t meta,
                        inout standard_metadata_t standard_metadata) {
    counter(PORT_COUNT, CounterType.packets_and_bytes) egress_port_counter;

    apply {
        egress_port_counter.count((bit<32>)standard_metadata.egress_port);
    }
}

#endif
