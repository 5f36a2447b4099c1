// VIP steering: traffic to a VIP that encap_map did not claim goes to one of
// the VIP's classifier hosts. The host is picked by a hash of the packet's
// 4-tuple, so every packet of a connection reaches the same classifier, and
// adding hosts (re-assigning buckets) grows classifier capacity. Classifier
// hosts own the VIP themselves (on their loopback), so the packet is not
// rewritten: only the address routing looks up changes.
//
// Input rules for VIP traffic:
//   - TCP and UDP: hashed on (source, destination, protocol, ports);
//   - other protocols (ICMP...): hashed with both ports zero, so pings and
//     ICMP errors reach a host that owns the VIP;
//   - IPv4 with options, and fragments: dropped, because their ports cannot
//     be read, so they could neither follow their connection's classifier
//     nor be encapsulated; TCP senders set DF and use path MTU discovery, so
//     fragmented TCP to a VIP is not expected.
#ifndef FORWARDER_V1MODEL_VIP_STEERING_P4
#define FORWARDER_V1MODEL_VIP_STEERING_P4

control VipSteering(in headers_t hdr, inout forwarder_metadata_t meta) {
    action steer_to_classifier(ipv4_addr_t classifier) {
        meta.route_addr = classifier;
    }

    // One entry per (VIP, bucket): connections to `vip` whose 4-tuple hashes
    // to `bucket` are handled by the classifier host at address
    // `classifier`. A VIP has an entry for each of the STEERING_BUCKETS
    // bucket values; a destination without entries is not a VIP.
    table vip_steering {
        key = {
            hdr.ipv4.dst_addr: exact @name("vip");
            meta.steering_bucket: exact @name("bucket");
        }
        actions = {
            steer_to_classifier;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        size = VIP_STEERING_SIZE;
    }

    apply {
        l4_port_t src_port = 0;
        l4_port_t dst_port = 0;
        if (hdr.tcp.isValid()) {
            src_port = hdr.tcp.src_port;
            dst_port = hdr.tcp.dst_port;
        } else if (hdr.udp.isValid()) {
            src_port = hdr.udp.src_port;
            dst_port = hdr.udp.dst_port;
        }
        hash(meta.steering_bucket,
             HashAlgorithm.crc16,
             (steering_bucket_t)0,
             { hdr.ipv4.src_addr, hdr.ipv4.dst_addr, hdr.ipv4.protocol, src_port, dst_port },
             STEERING_BUCKETS);
        if (vip_steering.apply().hit) {
            if (hdr.ipv4.ihl != IPV4_IHL_NO_OPTIONS
                    || (hdr.ipv4.flags & IPV4_FLAG_MF) != 0
                    || hdr.ipv4.frag_offset != 0) {
                meta.refused = true;
            }
        }
    }
}

#endif
