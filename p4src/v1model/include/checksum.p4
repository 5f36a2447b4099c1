// v1model checksum controls. The IPv4 header checksum is verified on the way
// in; nothing is recomputed on the way out, because every rewrite in this
// program updates the checksums it touches incrementally
// (shared/csum16.p4), which is also what keeps them right for headers with
// options the parser does not extract.
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
    apply { }
}

#endif
