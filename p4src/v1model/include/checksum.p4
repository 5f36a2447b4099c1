// v1model checksum controls. The IPv4 header checksum is verified on the way
// in; nothing is recomputed on the way out, because every rewrite in this
// program updates the checksums it touches incrementally
// (shared/csum16.p4), which is also what keeps them right for headers with
// options the parser does not extract. The one exception is the neighbour
// advertisement the switch builds itself (control/ndp.p4): every byte of it
// is a parsed header, so its ICMPv6 checksum is computed whole.
#ifndef FORWARDER_V1MODEL_CHECKSUM_P4
#define FORWARDER_V1MODEL_CHECKSUM_P4

control ForwarderVerifyChecksum(inout headers_t hdr, inout forwarder_metadata_t meta) {
    apply {
        // Options are not parsed, so a header carrying them cannot be
        // verified here: it is forwarded with its checksum updated
        // incrementally, and a wrong one stays wrong for the next hop.
        verify_checksum(hdr.ipv4.isValid() && hdr.ipv4.ihl == IPV4_IHL_NO_OPTIONS,
            { hdr.ipv4.version,
              hdr.ipv4.ihl,
              hdr.ipv4.dscp,
              hdr.ipv4.ecn,
              hdr.ipv4.total_len,
              hdr.ipv4.identification,
              hdr.ipv4.flags,
              hdr.ipv4.frag_offset,
              hdr.ipv4.ttl,
              hdr.ipv4.protocol,
              hdr.ipv4.src_addr,
              hdr.ipv4.dst_addr },
            hdr.ipv4.hdr_checksum,
            HashAlgorithm.csum16);
    }
}

control ForwarderComputeChecksum(inout headers_t hdr, inout forwarder_metadata_t meta) {
    apply {
        // ICMPv6 checksum (RFC 4443 2.3): the pseudo-header (addresses,
        // upper-layer length as 32 bits, 24 zero bits, next header) and the
        // whole message: header, advertisement body, target address option.
        update_checksum(meta.ndp_answered,
            { hdr.ipv6.src_addr,
              hdr.ipv6.dst_addr,
              16w0,
              hdr.ipv6.payload_len,
              24w0,
              IP_PROTO_ICMPV6,
              hdr.icmpv6.type,
              hdr.icmpv6.code,
              hdr.ndp.flags,
              hdr.ndp.target_addr,
              hdr.ndp_option.type,
              hdr.ndp_option.length,
              hdr.ndp_option.addr },
            hdr.icmpv6.checksum,
            HashAlgorithm.csum16);
    }
}

#endif
