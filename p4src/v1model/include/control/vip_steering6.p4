// VIP steering for IPv6 VIPs, vip_steering.p4's twin: traffic to an IPv6 VIP
// that encap_map6 did not claim goes to one of the VIP's classifier hosts,
// picked by a hash of (source, destination, next header, ports), so every
// packet of a connection reaches the same classifier.
//
// Input rules for IPv6 VIP traffic:
//   - TCP and UDP right after the IPv6 header: hashed with their ports;
//   - other protocols (ICMPv6...): hashed with both ports zero;
//   - extension headers (meta.ipv6_ext): dropped, as IPv4 options and
//     fragments are: the ports cannot be read, so the packet could neither
//     follow its connection's classifier nor be encapsulated.
#ifndef FORWARDER_V1MODEL_VIP_STEERING6_P4
#define FORWARDER_V1MODEL_VIP_STEERING6_P4

control VipSteering6(in headers_t hdr, inout forwarder_metadata_t meta) {
    action steer_to_classifier6(ipv6_addr_t classifier) {
        meta.route_addr6 = classifier;
    }

    // One entry per (IPv6 VIP, bucket): connections to `vip` whose 4-tuple
    // hashes to `bucket` are handled by the classifier host at `classifier`.
    // A VIP has an entry for each of the STEERING_BUCKETS bucket values.
    table vip_steering6 {
        key = {
            hdr.ipv6.dst_addr: exact @name("vip");
            meta.steering_bucket: exact @name("bucket");
        }
        actions = {
            steer_to_classifier6;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        size = VIP_STEERING6_SIZE;
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
             { hdr.ipv6.src_addr, hdr.ipv6.dst_addr, hdr.ipv6.next_hdr, src_port, dst_port },
             STEERING_BUCKETS);
        if (vip_steering6.apply().hit) {
            if (meta.ipv6_ext) {
                meta.refused = true;
            }
        }
    }
}

#endif
