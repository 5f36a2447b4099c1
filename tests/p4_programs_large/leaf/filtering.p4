// Leaf switch: packet-out handling, port/VLAN admission and the forwarding
// classifier.
#ifndef LEAF_FILTERING_P4
#define LEAF_FILTERING_P4

#include "headers.p4"

control PacketIoIngress(inout parsed_headers_t hdr,
                        inout leaf_metadata_t meta,
                        inout standard_metadata_t standard_metadata) {
    apply {
        if (hdr.packet_out.isValid()) {
            if (hdr.packet_out.do_forwarding == 0) {
                standard_metadata.egress_spec = hdr.packet_out.egress_port;
                meta.skip_forwarding = true;
                meta.skip_next = true;
            }
            hdr.packet_out.setInvalid();
        }
    }
}

control Filtering(inout parsed_headers_t hdr,
                  inout leaf_metadata_t meta,
                  inout standard_metadata_t standard_metadata) {

    direct_counter(CounterType.packets_and_bytes) ingress_port_vlan_counter;

    action deny() {
        mark_to_drop(standard_metadata);
        meta.skip_forwarding = true;
        meta.skip_next = true;
        ingress_port_vlan_counter.count();
    }

    action permit() {
        ingress_port_vlan_counter.count();
    }

    action permit_with_internal_vlan(vlan_id_t vlan_id) {
        meta.vlan_id = vlan_id;
        ingress_port_vlan_counter.count();
    }

    table ingress_port_vlan {
        key = {
            standard_metadata.ingress_port : exact @name("ig_port");
            hdr.vlan_tag.isValid()         : exact @name("vlan_is_valid");
            hdr.vlan_tag.vlan_id           : ternary @name("vlan_id");
            hdr.inner_vlan_tag.vlan_id     : ternary @name("inner_vlan_id");
        }
        actions = {
            deny();
            permit();
            permit_with_internal_vlan();
        }
        const default_action = deny();
        counters = ingress_port_vlan_counter;
        size = PORT_VLAN_TABLE_SIZE;
    }

    direct_counter(CounterType.packets_and_bytes) fwd_classifier_counter;

    action set_forwarding_type(fwd_type_t fwd_type) {
        meta.fwd_type = fwd_type;
        fwd_classifier_counter.count();
    }

    table fwd_classifier {
        key = {
            standard_metadata.ingress_port : exact @name("ig_port");
            hdr.ethernet.dst_addr          : ternary @name("eth_dst");
            hdr.eth_type.value             : ternary @name("eth_type");
            meta.ip_eth_type               : exact @name("ip_eth_type");
        }
        actions = {
            set_forwarding_type;
        }
        const default_action = set_forwarding_type(fwd_type_t.BRIDGING);
        counters = fwd_classifier_counter;
        size = FWD_CLASSIFIER_TABLE_SIZE;
    }

    apply {
        // Packets with a VLAN tag and an MPLS label stack keep the label TTL.
        if (ingress_port_vlan.apply().hit) {
            fwd_classifier.apply();
        }
    }
}

#endif
