// Tunnel gateway: parser, deparser, checksums.
#ifndef GW_PARSER_P4
#define GW_PARSER_P4

#include "headers.p4"

parser GwParser(packet_in packet,
                out headers_t hdr,
                inout gw_metadata_t meta,
                inout standard_metadata_t std_meta) {

    // UDP ports the operator adds for GTP-U besides 2152 (e.g. a second
    // user plane on a non-standard port); the controller fills the set.
    value_set<bit<16>>(4) extra_gtpu_ports;

    state start {
        transition select(std_meta.ingress_port) {
            CPU_PORT: parse_cpu_out;
            default: parse_ethernet;
        }
    }

    state parse_cpu_out {
        packet.extract(hdr.cpu_out);
        meta.session_id = hdr.cpu_out.session_id;
        transition parse_ethernet;
    }

    state parse_ethernet {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETH_TYPE_VLAN: parse_vlan;
            ETH_TYPE_ARP: parse_arp;
            ETH_TYPE_IPV4: parse_ipv4;
#ifdef WITH_IPV6
            ETH_TYPE_IPV6: parse_ipv6;
#endif
            default: accept;
        }
    }

    state parse_vlan {
        packet.extract(hdr.vlan);
        transition select(hdr.vlan.ether_type) {
            ETH_TYPE_ARP: parse_arp;
            ETH_TYPE_IPV4: parse_ipv4;
#ifdef WITH_IPV6
            ETH_TYPE_IPV6: parse_ipv6;
#endif
            default: accept;
        }
    }

    state parse_arp {
        packet.extract(hdr.arp);
        transition accept;
    }

    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        meta.flow.src = hdr.ipv4.src;
        meta.flow.dst = hdr.ipv4.dst;
        meta.flow.proto = hdr.ipv4.protocol;
        transition select(hdr.ipv4.ihl, hdr.ipv4.frag_offset, hdr.ipv4.protocol) {
            (5, 0, IP_PROTO_UDP): parse_udp;
            (5, 0, IP_PROTO_TCP): parse_tcp;
            (5, 0, IP_PROTO_ICMP): parse_icmp;
            default: accept;
        }
    }

#ifdef WITH_IPV6
    state parse_ipv6 {
        packet.extract(hdr.ipv6);
        meta.flow.proto = hdr.ipv6.next_hdr;
        transition select(hdr.ipv6.next_hdr) {
            IP_PROTO_UDP: parse_udp;
            IP_PROTO_TCP: parse_tcp;
            IP_PROTO_ICMPV6: parse_icmp;
            default: accept;
        }
    }
#endif

    // Outer UDP: a tunnel (GTP-U, VXLAN) or the UE's own transport.
    state parse_udp {
        packet.extract(hdr.udp);
        meta.flow.sport = hdr.udp.sport;
        meta.flow.dport = hdr.udp.dport;
        transition select(hdr.udp.dport) {
            UDP_PORT_GTPU: parse_gtpu;
            extra_gtpu_ports: parse_gtpu;
#ifdef WITH_VXLAN
            UDP_PORT_VXLAN: parse_vxlan;
#endif
            default: parse_udp_as_l4;
        }
    }

    // Not a tunnel: the UDP header is the packet's transport header too.
    state parse_udp_as_l4 {
        hdr.l4.udp = hdr.udp;
        hdr.udp.setInvalid();
        transition accept;
    }

    state parse_tcp {
        packet.extract(hdr.l4.tcp);
        meta.flow.sport = hdr.l4.tcp.sport;
        meta.flow.dport = hdr.l4.tcp.dport;
        meta.tcp_flags = hdr.l4.tcp.flags;
        transition accept;
    }

    state parse_icmp {
        packet.extract(hdr.l4.icmp);
        meta.flow.sport = hdr.l4.icmp.identifier;
        meta.flow.dport = 0;
        transition accept;
    }

    state parse_gtpu {
        packet.extract(hdr.gtpu);
        meta.teid = hdr.gtpu.teid;
        transition select(hdr.gtpu.version, hdr.gtpu.msgtype,
                          hdr.gtpu.ex_flag, hdr.gtpu.seq_flag, hdr.gtpu.npdu_flag) {
            (1, GTPU_MSG_GPDU, 0, 0, 0): parse_inner_ip;
            (1, GTPU_MSG_GPDU, _, _, _): parse_gtpu_options;
            default: accept;
        }
    }

    state parse_gtpu_options {
        packet.extract(hdr.gtpu_options);
        transition select(hdr.gtpu_options.next_ext) {
            GTPU_EXT_PDU_SESSION: parse_gtpu_ext_psc;
            default: accept;
        }
    }

    state parse_gtpu_ext_psc {
        packet.extract(hdr.gtpu_ext_psc);
        meta.qfi = hdr.gtpu_ext_psc.qfi;
        transition select(hdr.gtpu_ext_psc.next_ext) {
            0: parse_inner_ip;
            default: accept;
        }
    }

    state parse_inner_ip {
        transition select(packet.lookahead<bit<4>>()) {
            4: parse_inner_ipv4;
#ifdef WITH_IPV6
            6: parse_inner_ipv6;
#endif
            default: accept;
        }
    }

    state parse_inner_ipv4 {
        packet.extract(hdr.inner_ip.ipv4);
        meta.flow.src = hdr.inner_ip.ipv4.src;
        meta.flow.dst = hdr.inner_ip.ipv4.dst;
        meta.flow.proto = hdr.inner_ip.ipv4.protocol;
        transition select(hdr.inner_ip.ipv4.protocol) {
            IP_PROTO_UDP: parse_inner_udp;
            IP_PROTO_TCP: parse_tcp;
            IP_PROTO_ICMP: parse_icmp;
            default: accept;
        }
    }

#ifdef WITH_IPV6
    state parse_inner_ipv6 {
        packet.extract(hdr.inner_ip.ipv6);
        meta.flow.proto = hdr.inner_ip.ipv6.next_hdr;
        transition select(hdr.inner_ip.ipv6.next_hdr) {
            IP_PROTO_UDP: parse_inner_udp;
            IP_PROTO_TCP: parse_tcp;
            IP_PROTO_ICMPV6: parse_icmp;
            default: accept;
        }
    }
#endif

    state parse_inner_udp {
        packet.extract(hdr.l4.udp);
        meta.flow.sport = hdr.l4.udp.sport;
        meta.flow.dport = hdr.l4.udp.dport;
        transition accept;
    }

#ifdef WITH_VXLAN
    state parse_vxlan {
        packet.extract(hdr.vxlan);
        meta.vni = hdr.vxlan.vni;
        packet.extract(hdr.inner_ethernet);
        transition select(hdr.inner_ethernet.ether_type) {
            ETH_TYPE_IPV4: parse_inner_ipv4;
            default: accept;
        }
    }
#endif
}

control GwDeparser(packet_out packet, in headers_t hdr) {
    apply {
        packet.emit(hdr.cpu_in);
        packet.emit(hdr.ethernet);
        packet.emit(hdr.vlan);
        packet.emit(hdr.arp);
        packet.emit(hdr.ipv4);
        packet.emit(hdr.ipv6);
        packet.emit(hdr.udp);
        packet.emit(hdr.gtpu);
        packet.emit(hdr.gtpu_options);
        packet.emit(hdr.gtpu_ext_psc);
        packet.emit(hdr.vxlan);
        packet.emit(hdr.inner_ethernet);
        packet.emit(hdr.inner_ip);
        packet.emit(hdr.l4);
    }
}

control GwVerifyChecksum(inout headers_t hdr, inout gw_metadata_t meta) {
    apply {
        verify_checksum(hdr.ipv4.isValid() && hdr.ipv4.ihl == 5,
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.tos, hdr.ipv4.total_len,
              hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset,
              hdr.ipv4.ttl, hdr.ipv4.protocol, hdr.ipv4.src, hdr.ipv4.dst },
            hdr.ipv4.checksum, HashAlgorithm.csum16);
    }
}

control GwComputeChecksum(inout headers_t hdr, inout gw_metadata_t meta) {
    apply {
        update_checksum(hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.tos, hdr.ipv4.total_len,
              hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset,
              hdr.ipv4.ttl, hdr.ipv4.protocol, hdr.ipv4.src, hdr.ipv4.dst },
            hdr.ipv4.checksum, HashAlgorithm.csum16);
        update_checksum(hdr.inner_ip.ipv4.isValid(),
            { hdr.inner_ip.ipv4.version, hdr.inner_ip.ipv4.ihl, hdr.inner_ip.ipv4.tos,
              hdr.inner_ip.ipv4.total_len, hdr.inner_ip.ipv4.identification,
              hdr.inner_ip.ipv4.flags, hdr.inner_ip.ipv4.frag_offset,
              hdr.inner_ip.ipv4.ttl, hdr.inner_ip.ipv4.protocol,
              hdr.inner_ip.ipv4.src, hdr.inner_ip.ipv4.dst },
            hdr.inner_ip.ipv4.checksum, HashAlgorithm.csum16);
    }
}

#endif
