// Leaf switch: parser, deparser and checksums.
#ifndef LEAF_PARSER_P4
#define LEAF_PARSER_P4

#include "headers.p4"

parser LeafParser(packet_in packet,
                  out parsed_headers_t hdr,
                  inout leaf_metadata_t meta,
                  inout standard_metadata_t standard_metadata) {

    state start {
        meta.vlan_id = DEFAULT_VLAN_ID;
        meta.mpls_ttl = DEFAULT_MPLS_TTL + 1;
        transition select(standard_metadata.ingress_port) {
            CPU_PORT: parse_packet_out;
            default: parse_ethernet;
        }
    }

    state parse_packet_out {
        packet.extract(hdr.packet_out);
        meta.is_controller_packet_out = true;
        transition parse_ethernet;
    }

    state parse_ethernet {
        packet.extract(hdr.ethernet);
        transition select(packet.lookahead<bit<16>>()) {
            ETHERTYPE_QINQ: parse_vlan_tag;
            ETHERTYPE_VLAN &&& 0xEFFF: parse_vlan_tag;
            default: parse_untagged;
        }
    }

    state parse_vlan_tag {
        packet.extract(hdr.vlan_tag);
        meta.vlan_id = hdr.vlan_tag.vlan_id;
        meta.vlan_pri = hdr.vlan_tag.pri;
        meta.vlan_cfi = hdr.vlan_tag.cfi;
        transition select(packet.lookahead<bit<16>>()) {
            ETHERTYPE_VLAN: parse_inner_vlan_tag;
            default: parse_eth_type;
        }
    }

    state parse_inner_vlan_tag {
        packet.extract(hdr.inner_vlan_tag);
        meta.inner_vlan_id = hdr.inner_vlan_tag.vlan_id;
        transition parse_eth_type;
    }

    state parse_untagged {
        transition parse_eth_type;
    }

    state parse_eth_type {
        packet.extract(hdr.eth_type);
        transition select(hdr.eth_type.value) {
            ETHERTYPE_MPLS: parse_mpls;
            ETHERTYPE_IPV4: parse_ipv4;
#ifdef WITH_IPV6
            ETHERTYPE_IPV6: parse_ipv6;
#endif
            default: accept;
        }
    }

    state parse_mpls {
        packet.extract(hdr.mpls.next);
        meta.mpls_label = hdr.mpls.last.label;
        meta.mpls_ttl = hdr.mpls.last.ttl;
        transition select(hdr.mpls.last.bos) {
            0: parse_mpls;
            1: parse_mpls_payload;
        }
    }

    // No IP version after MPLS: guess it from the first nibble.
    state parse_mpls_payload {
        transition select(packet.lookahead<bit<4>>()) {
            4: parse_ipv4;
#ifdef WITH_IPV6
            6: parse_ipv6;
#endif
            default: accept;
        }
    }

    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        meta.ip_proto = hdr.ipv4.protocol;
        meta.ip_eth_type = ETHERTYPE_IPV4;
        meta.lkp.is_ipv4 = true;
        meta.lkp.ipv4_src = hdr.ipv4.src_addr;
        meta.lkp.ipv4_dst = hdr.ipv4.dst_addr;
        meta.lkp.ip_proto = hdr.ipv4.protocol;
        meta.lkp.dscp = hdr.ipv4.dscp;
        transition select(hdr.ipv4.frag_offset, hdr.ipv4.protocol) {
            (0, PROTO_TCP): parse_tcp;
            (0, PROTO_UDP): parse_udp;
            (0, PROTO_ICMP): parse_icmp;
            default: accept;
        }
    }

#ifdef WITH_IPV6
    state parse_ipv6 {
        packet.extract(hdr.ipv6);
        meta.ip_proto = hdr.ipv6.next_hdr;
        meta.ip_eth_type = ETHERTYPE_IPV6;
        meta.lkp.is_ipv6 = true;
        meta.lkp.ip_proto = hdr.ipv6.next_hdr;
        meta.lkp.dscp = hdr.ipv6.traffic_class[7:2];
        transition select(hdr.ipv6.next_hdr) {
            PROTO_TCP: parse_tcp;
            PROTO_UDP: parse_udp;
            PROTO_ICMPV6: parse_icmp;
            default: accept;
        }
    }
#endif

    state parse_tcp {
        packet.extract(hdr.tcp);
        meta.l4_sport = hdr.tcp.sport;
        meta.l4_dport = hdr.tcp.dport;
        meta.lkp.l4_sport = hdr.tcp.sport;
        meta.lkp.l4_dport = hdr.tcp.dport;
        transition accept;
    }

    state parse_udp {
        packet.extract(hdr.udp);
        meta.l4_sport = hdr.udp.sport;
        meta.l4_dport = hdr.udp.dport;
        meta.lkp.l4_sport = hdr.udp.sport;
        meta.lkp.l4_dport = hdr.udp.dport;
        transition select(hdr.udp.dport) {
#ifdef WITH_VXLAN
            UDP_PORT_VXLAN: parse_vxlan;
#endif
            default: accept;
        }
    }

    state parse_icmp {
        packet.extract(hdr.icmp);
        meta.lkp.icmp_type = hdr.icmp.icmp_type;
        meta.lkp.icmp_code = hdr.icmp.icmp_code;
        transition accept;
    }

#ifdef WITH_VXLAN
    state parse_vxlan {
        packet.extract(hdr.vxlan);
        packet.extract(hdr.inner_ethernet);
        packet.extract(hdr.inner_eth_type);
        transition select(hdr.inner_eth_type.value) {
            ETHERTYPE_IPV4: parse_inner_ipv4;
            ETHERTYPE_IPV6: parse_inner_ipv6;
            default: accept;
        }
    }

    state parse_inner_ipv4 {
        packet.extract(hdr.inner_l3.ipv4);
        transition select(hdr.inner_l3.ipv4.protocol) {
            PROTO_UDP: parse_inner_udp;
            PROTO_TCP: parse_inner_tcp;
            default: accept;
        }
    }

    state parse_inner_ipv6 {
        packet.extract(hdr.inner_l3.ipv6);
        transition select(hdr.inner_l3.ipv6.next_hdr) {
            PROTO_UDP: parse_inner_udp;
            PROTO_TCP: parse_inner_tcp;
            default: accept;
        }
    }

    state parse_inner_udp {
        packet.extract(hdr.inner_udp);
        transition accept;
    }

    state parse_inner_tcp {
        packet.extract(hdr.inner_tcp);
        transition accept;
    }
#endif
}

control LeafDeparser(packet_out packet, in parsed_headers_t hdr) {
    apply {
        packet.emit(hdr.packet_in);
        packet.emit(hdr.report_ethernet);
        packet.emit(hdr.report_eth_type);
        packet.emit(hdr.report_ipv4);
        packet.emit(hdr.report_udp);
        packet.emit(hdr.int_report);
        packet.emit(hdr.ethernet);
        packet.emit(hdr.vlan_tag);
        packet.emit(hdr.inner_vlan_tag);
        packet.emit(hdr.eth_type);
        packet.emit(hdr.mpls);
        packet.emit(hdr.ipv4);
        packet.emit(hdr.ipv6);
        packet.emit(hdr.tcp);
        packet.emit(hdr.udp);
        packet.emit(hdr.icmp);
        packet.emit(hdr.vxlan);
        packet.emit(hdr.inner_ethernet);
        packet.emit(hdr.inner_eth_type);
        packet.emit(hdr.inner_l3);
        packet.emit(hdr.inner_udp);
        packet.emit(hdr.inner_tcp);
    }
}

control LeafVerifyChecksum(inout parsed_headers_t hdr, inout leaf_metadata_t meta) {
    apply {
        verify_checksum(hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.dscp, hdr.ipv4.ecn,
              hdr.ipv4.total_len, hdr.ipv4.identification, hdr.ipv4.flags,
              hdr.ipv4.frag_offset, hdr.ipv4.ttl, hdr.ipv4.protocol,
              hdr.ipv4.src_addr, hdr.ipv4.dst_addr },
            hdr.ipv4.hdr_checksum, HashAlgorithm.csum16);
    }
}

control LeafComputeChecksum(inout parsed_headers_t hdr, inout leaf_metadata_t meta) {
    apply {
        update_checksum(hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.dscp, hdr.ipv4.ecn,
              hdr.ipv4.total_len, hdr.ipv4.identification, hdr.ipv4.flags,
              hdr.ipv4.frag_offset, hdr.ipv4.ttl, hdr.ipv4.protocol,
              hdr.ipv4.src_addr, hdr.ipv4.dst_addr },
            hdr.ipv4.hdr_checksum, HashAlgorithm.csum16);
        update_checksum(hdr.report_ipv4.isValid(),
            { hdr.report_ipv4.version, hdr.report_ipv4.ihl, hdr.report_ipv4.dscp,
              hdr.report_ipv4.ecn, hdr.report_ipv4.total_len,
              hdr.report_ipv4.identification, hdr.report_ipv4.flags,
              hdr.report_ipv4.frag_offset, hdr.report_ipv4.ttl,
              hdr.report_ipv4.protocol, hdr.report_ipv4.src_addr,
              hdr.report_ipv4.dst_addr },
            hdr.report_ipv4.hdr_checksum, HashAlgorithm.csum16);
    }
}

#endif
