// v1model deparser: headers go out in wire order; invalid ones are skipped,
// and whatever the parser did not extract follows as payload.
#ifndef FORWARDER_V1MODEL_DEPARSER_P4
#define FORWARDER_V1MODEL_DEPARSER_P4

control ForwarderDeparser(packet_out packet, in headers_t hdr) {
    apply {
        packet.emit(hdr.packet_in);
        packet.emit(hdr.ethernet);
        packet.emit(hdr.arp);
        packet.emit(hdr.ipv4);
        packet.emit(hdr.ipv6);
        packet.emit(hdr.icmpv6);
        packet.emit(hdr.ndp);
        packet.emit(hdr.ndp_option);
        packet.emit(hdr.tcp);
        packet.emit(hdr.udp);
    }
}

#endif
