// v1model parser. It only recognises; every decision about what it found is
// taken in ingress (control/admission.p4 and the feature controls), so the
// rules for malformed input stay in one readable place:
//   - a header cut short ends parsing with error.PacketTooShort;
//   - an IPv4 header whose version is not 4, or whose IHL is below 5, ends
//     parsing with error.IPv4BadVersion / error.IPv4BadHeaderLength;
//   - IPv4 options and fragments are not followed to a transport header
//     (options stay in the payload; a non-first fragment has no ports);
//   - EtherTypes other than IPv4 and ARP are not parsed further.
// v1model hands the packet to ingress with standard_metadata.parser_error
// set, and admission drops it there.
#ifndef FORWARDER_V1MODEL_PARSER_P4
#define FORWARDER_V1MODEL_PARSER_P4

error {
    IPv4BadVersion,
    IPv4BadHeaderLength
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
