// Leaf switch: the ACL (ternary, priorities, direct counter), source MAC
// learning with a digest, port policers and per-port statistics.
#ifndef LEAF_ACL_P4
#define LEAF_ACL_P4

#include "headers.p4"

control Acl(inout parsed_headers_t hdr,
            inout leaf_metadata_t meta,
            inout standard_metadata_t standard_metadata) {

    direct_counter(CounterType.packets_and_bytes) acl_counter;

    action set_next_id_acl(next_id_t next_id) {
        meta.next_id = next_id;
        acl_counter.count();
    }

    // Sends the packet to the CPU instead of forwarding it.
    action punt_to_cpu() {
        standard_metadata.egress_spec = CPU_PORT;
        meta.punt_reason = (bit<8>)punt_reason_t.ACL;
        meta.skip_next = true;
        acl_counter.count();
    }

    // Forwards the packet and sends a copy to the CPU: an ingress-to-egress
    // clone that keeps the ingress port and the reason (field list 1).
    action copy_to_cpu() {
        meta.clone_ingress_port = standard_metadata.ingress_port;
        meta.punt_reason = (bit<8>)punt_reason_t.ACL;
        clone_preserving_field_list(CloneType.I2E, CPU_CLONE_SESSION, 1);
        acl_counter.count();
    }

    action mirror_to(bit<32> session_id) {
        meta.clone_ingress_port = standard_metadata.ingress_port;
        clone_preserving_field_list(CloneType.I2E, session_id, 1);
        acl_counter.count();
    }

    action drop() {
        mark_to_drop(standard_metadata);
        meta.skip_next = true;
        acl_counter.count();
    }

    action nop_acl() {
        acl_counter.count();
    }

    table acl {
        key = {
            standard_metadata.ingress_port : ternary @name("ig_port");
            hdr.ethernet.dst_addr          : ternary @name("eth_dst");
            hdr.ethernet.src_addr          : ternary @name("eth_src");
            hdr.vlan_tag.vlan_id           : ternary @name("vlan_id");
            hdr.eth_type.value             : ternary @name("eth_type");
            meta.lkp.ipv4_src              : ternary @name("ipv4_src");
            meta.lkp.ipv4_dst              : ternary @name("ipv4_dst");
            meta.lkp.ip_proto              : ternary @name("ip_proto");
            meta.lkp.dscp                  : ternary @name("dscp");
            meta.lkp.icmp_type             : ternary @name("icmp_type");
            meta.lkp.icmp_code             : ternary @name("icmp_code");
            meta.lkp.l4_sport              : range @name("l4_sport");
            meta.lkp.l4_dport              : range @name("l4_dport");
#ifdef WITH_IPV6
            hdr.ipv6.src_addr              : ternary @name("ipv6_src");
            hdr.ipv6.dst_addr              : ternary @name("ipv6_dst");
#endif
        }
        actions = {
            set_next_id_acl;
            punt_to_cpu;
            copy_to_cpu;
            mirror_to;
            drop;
            nop_acl;
        }
        const default_action = nop_acl();
        size = ACL_TABLE_SIZE;
        counters = acl_counter;
    }

    apply {
        acl.apply();
    }
}

control Learning(inout parsed_headers_t hdr,
                 inout leaf_metadata_t meta,
                 inout standard_metadata_t standard_metadata) {

    action smac_hit() {
        meta.smac_hit = true;
    }

    action smac_miss() {
        meta.smac_hit = false;
    }

    // Known (VLAN, source MAC, port) triples; a miss is reported once per
    // packet in a digest the controller answers with an entry.
    table smac {
        key = {
            meta.vlan_id                   : exact @name("vlan_id");
            hdr.ethernet.src_addr          : exact @name("eth_src");
            standard_metadata.ingress_port : exact @name("ig_port");
        }
        actions = {
            smac_hit;
            @defaultonly smac_miss;
        }
        const default_action = smac_miss();
        size = SMAC_TABLE_SIZE;
        support_timeout = true;
    }

    apply {
        if (hdr.ethernet.isValid() && !meta.is_controller_packet_out) {
            smac.apply();
            if (!meta.smac_hit) {
                digest<mac_learn_digest_t>(1, {
                    hdr.ethernet.src_addr,
                    standard_metadata.ingress_port,
                    meta.vlan_id
                });
            }
        }
    }
}

control PortStats(inout parsed_headers_t hdr,
                  inout leaf_metadata_t meta,
                  inout standard_metadata_t standard_metadata) {

    counter(PORT_COUNT, CounterType.packets_and_bytes) ingress_port_counter;
    counter(PORT_COUNT, CounterType.packets) ingress_drop_counter;
    meter(PORT_COUNT, MeterType.bytes) port_policer;
    // Last packet length and a running byte total per port.
    register<bit<32>>(PORT_COUNT) last_packet_len;
    register<bit<64>>(PORT_COUNT) rx_bytes;

    action police(bit<32> index) {
        port_policer.execute_meter<bit<2>>(index, meta.packet_color);
    }

    table policer_config {
        key = {
            standard_metadata.ingress_port : exact @name("ig_port");
            meta.lkp.dscp                  : ternary @name("dscp");
        }
        actions = {
            police;
            NoAction;
        }
        default_action = NoAction();
        size = 256;
    }

    apply {
        meta.port_stats_index = (bit<32>)standard_metadata.ingress_port;
        ingress_port_counter.count(meta.port_stats_index);
        last_packet_len.write(meta.port_stats_index, standard_metadata.packet_length);
        bit<64> total;
        rx_bytes.read(total, meta.port_stats_index);
        rx_bytes.write(meta.port_stats_index, total + (bit<64>)standard_metadata.packet_length);
        policer_config.apply();
        // Red packets are dropped, yellow ones lose their DSCP.
        if (meta.packet_color == 2) {
            mark_to_drop(standard_metadata);
            ingress_drop_counter.count(meta.port_stats_index);
            meta.skip_next = true;
        } else if (meta.packet_color == 1 && hdr.ipv4.isValid()) {
            hdr.ipv4.dscp = 0;
        }
    }
}

#endif
