// Admission: which packets the switch refuses before any lookup. Each rule
// below is one of the program's stated rules for malformed or unforwardable
// input (see the list at the top of forwarder.p4).
#ifndef FORWARDER_V1MODEL_ADMISSION_P4
#define FORWARDER_V1MODEL_ADMISSION_P4

control Admission(in headers_t hdr,
                  inout forwarder_metadata_t meta,
                  in standard_metadata_t std_meta) {
    apply {
        if (std_meta.parser_error != error.NoError) {
            // Truncated Ethernet, ARP, IPv4, IPv6, ICMPv6, TCP or UDP
            // header, an IPv4 header with a bad version or IHL, an IPv6
            // header with a bad version.
            meta.refused = true;
        } else if (std_meta.checksum_error == 1) {
            // IPv4 header checksum wrong (checked for option-less headers).
            meta.refused = true;
        } else if (!hdr.ipv4.isValid() && !hdr.ipv6.isValid() && !hdr.arp.isValid()) {
            // The switch routes IPv4 and IPv6 and answers ARP; it bridges
            // nothing.
            meta.refused = true;
        } else if (hdr.ipv4.isValid() && hdr.ipv4.ttl <= 1) {
            // TTL would reach zero here; no ICMP time-exceeded is sent.
            meta.refused = true;
        } else if (hdr.ipv6.isValid() && hdr.ipv6.hop_limit <= 1) {
            // The same for the hop limit; no ICMPv6 time-exceeded either.
            meta.refused = true;
        }
    }
}

#endif
