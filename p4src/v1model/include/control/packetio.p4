// Packet I/O with the controller over the CPU port. A frame from the
// controller carries packet_out and goes, unchanged otherwise, to the port it
// names, unless it is shorter than an Ethernet header (the one check made on
// it: see the rules in forwarder.p4); every frame leaving on the CPU port
// gets packet_in, so the controller learns where it came from.
#ifndef FORWARDER_V1MODEL_PACKETIO_P4
#define FORWARDER_V1MODEL_PACKETIO_P4

control PacketIoIngress(inout headers_t hdr, inout standard_metadata_t std_meta) {
    apply {
        if (hdr.ethernet.isValid()) {
            std_meta.egress_spec = hdr.packet_out.egress_port;
        } else {
            // Empty, or cut inside the Ethernet header: no link carries it.
            mark_to_drop(std_meta);
        }
        hdr.packet_out.setInvalid();
    }
}

control PacketIoEgress(inout headers_t hdr, in standard_metadata_t std_meta) {
    apply {
        if (std_meta.egress_port == CPU_PORT) {
            hdr.packet_in.setValid();
            hdr.packet_in.ingress_port = std_meta.ingress_port;
            hdr.packet_in._pad = 0;
        }
    }
}

#endif
