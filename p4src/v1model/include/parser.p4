// v1model parser. It only recognises; every decision about what it found is
// taken in ingress (control/admission.p4 and the feature controls), so the
// rules for malformed input stay in one readable place:
//   - a header cut short ends parsing with error.PacketTooShort;
//   - an IPv4 header whose version is not 4, or whose IHL is below 5, ends
//     parsing with error.IPv4BadVersion / error.IPv4BadHeaderLength;
//   - IPv4 options and fragments are not followed to a transport header
//     (options stay in the payload; a non-first fragment has no ports);
//   - an IPv6 header whose version is not 6 ends parsing with
//     error.IPv6BadVersion;
//   - IPv6 extension headers are not followed (they stay in the payload);
//     meta.ipv6_ext records that the first next header is one;
//   - ICMPv6 neighbour solicitations are parsed with their body and, when
//     the ICMPv6 payload is exactly 32 bytes long, their one option;
//   - EtherTypes other than IPv4, IPv6 and ARP are not parsed further.
// v1model hands the packet to ingress with standard_metadata.parser_error
// set, and admission drops it there.
#ifndef FORWARDER_V1MODEL_PARSER_P4
#define FORWARDER_V1MODEL_PARSER_P4

error {
    IPv4BadVersion,
    IPv4BadHeaderLength,
    IPv6BadVersion
}

parser ForwarderParser(packet_in packet,
                       out headers_t hdr,
                       inout forwarder_metadata_t meta,
                       inout standard_metadata_t std_meta) {
    state start {
        transition select(std_meta.ingress_port) {
            CPU_PORT: parse_packet_out;
            default: parse_ethernet;
        }
    }

    state parse_packet_out {
        packet.extract(hdr.packet_out);
        transition parse_ethernet;
    }

    state parse_ethernet {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_IPV4: parse_ipv4;
            ETHERTYPE_ARP: parse_arp;
            ETHERTYPE_IPV6: parse_ipv6;
            default: accept;
        }
    }

    state parse_arp {
        packet.extract(hdr.arp);
        transition accept;
    }

    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        verify(hdr.ipv4.version == 4, error.IPv4BadVersion);
        verify(hdr.ipv4.ihl >= IPV4_IHL_NO_OPTIONS, error.IPv4BadHeaderLength);
        // Only an unfragmented datagram without options has its transport
        // header right after the fixed IPv4 header.
        transition select(hdr.ipv4.ihl, hdr.ipv4.flags, hdr.ipv4.frag_offset, hdr.ipv4.protocol) {
            (IPV4_IHL_NO_OPTIONS, 0 &&& IPV4_FLAG_MF, 0, IP_PROTO_TCP): parse_tcp;
            (IPV4_IHL_NO_OPTIONS, 0 &&& IPV4_FLAG_MF, 0, IP_PROTO_UDP): parse_udp;
            default: accept;
        }
    }

    state parse_ipv6 {
        packet.extract(hdr.ipv6);
        verify(hdr.ipv6.version == 6, error.IPv6BadVersion);
        transition select(hdr.ipv6.next_hdr) {
            IP_PROTO_TCP: parse_tcp;
            IP_PROTO_UDP: parse_udp;
            IP_PROTO_ICMPV6: parse_icmpv6;
            IPV6_EXT_HOP_BY_HOP: ipv6_extension;
            IPV6_EXT_ROUTING: ipv6_extension;
            IPV6_EXT_FRAGMENT: ipv6_extension;
            IPV6_EXT_ESP: ipv6_extension;
            IPV6_EXT_AH: ipv6_extension;
            IPV6_EXT_DEST_OPTS: ipv6_extension;
            IPV6_EXT_MOBILITY: ipv6_extension;
            IPV6_EXT_HIP: ipv6_extension;
            IPV6_EXT_SHIM6: ipv6_extension;
            IPV6_EXT_TEST1: ipv6_extension;
            IPV6_EXT_TEST2: ipv6_extension;
            default: accept;
        }
    }

    state ipv6_extension {
        meta.ipv6_ext = true;
        transition accept;
    }

    state parse_icmpv6 {
        packet.extract(hdr.icmpv6);
        transition select(hdr.icmpv6.type) {
            ICMPV6_NEIGHBOR_SOLICIT: parse_ndp;
            default: accept;
        }
    }

    state parse_ndp {
        packet.extract(hdr.ndp);
        transition select(hdr.ipv6.payload_len) {
            NDP_NS_LLA_LEN: parse_ndp_option;
            default: accept;
        }
    }

    state parse_ndp_option {
        packet.extract(hdr.ndp_option);
        transition accept;
    }

    state parse_tcp {
        packet.extract(hdr.tcp);
        transition accept;
    }

    state parse_udp {
        packet.extract(hdr.udp);
        transition accept;
    }
}

#endif
