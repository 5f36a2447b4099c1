// Leaf switch, -DWITH_INT: in-band network telemetry postcards. A watchlist
// of flows (ternary 5-tuple) marks packets in ingress; egress measures the
// hop latency, keeps the largest per flow hash in a register, raises a
// digest when it crosses the configured threshold, and clones the packet
// egress to egress towards the collector, which the clone turns into a
// report (Ethernet/IPv4/UDP/INT report header, truncated payload).
#ifndef LEAF_INT_P4
#define LEAF_INT_P4

#include "headers.p4"

#ifdef WITH_INT

#define INT_FLOW_SLOTS 4096

control IntIngress(inout parsed_headers_t hdr,
                   inout leaf_metadata_t meta,
                   inout standard_metadata_t standard_metadata) {

    direct_counter(CounterType.packets) watchlist_counter;

    action mark_to_report() {
        meta.int_meta.watched = true;
        meta.ingress_tstamp = standard_metadata.ingress_global_timestamp[31:0];
        watchlist_counter.count();
    }

    action no_report() {
        meta.int_meta.watched = false;
        watchlist_counter.count();
    }

    table watchlist {
        key = {
            meta.lkp.is_ipv4  : exact @name("ipv4_valid");
            meta.lkp.ipv4_src : ternary @name("ipv4_src");
            meta.lkp.ipv4_dst : ternary @name("ipv4_dst");
            meta.lkp.ip_proto : ternary @name("ip_proto");
            meta.lkp.l4_sport : range @name("l4_sport");
            meta.lkp.l4_dport : range @name("l4_dport");
        }
        actions = {
            mark_to_report;
            @defaultonly no_report;
        }
        const default_action = no_report();
        counters = watchlist_counter;
        size = INT_WATCHLIST_SIZE;
    }

    apply {
        if (hdr.ipv4.isValid()) {
            watchlist.apply();
        }
    }
}

control IntEgress(inout parsed_headers_t hdr,
                  inout leaf_metadata_t meta,
                  inout standard_metadata_t standard_metadata) {

    register<bit<32>>(INT_FLOW_SLOTS) max_hop_latency;
    register<bit<32>>(1) latency_threshold;
    register<bit<32>>(1) reports_sent;
    counter(1, CounterType.packets_and_bytes) report_counter;

    action set_switch_id(bit<16> switch_id) {
        meta.int_meta.switch_id = switch_id;
    }

    table int_config {
        actions = {
            set_switch_id;
        }
        default_action = set_switch_id(0);
    }

    action do_report_encap(mac_addr_t src_mac, mac_addr_t mon_mac,
                           ipv4_addr_t src_ip, ipv4_addr_t mon_ip, l4_port_t mon_port) {
        hdr.report_ethernet.setValid();
        hdr.report_ethernet.dst_addr = mon_mac;
        hdr.report_ethernet.src_addr = src_mac;
        hdr.report_eth_type.setValid();
        hdr.report_eth_type.value = ETHERTYPE_IPV4;
        hdr.report_ipv4.setValid();
        hdr.report_ipv4.version = 4;
        hdr.report_ipv4.ihl = 5;
        hdr.report_ipv4.dscp = 0;
        hdr.report_ipv4.ecn = 0;
        hdr.report_ipv4.total_len = 20 + 8 + 20;
        hdr.report_ipv4.identification = 0;
        hdr.report_ipv4.flags = 0;
        hdr.report_ipv4.frag_offset = 0;
        hdr.report_ipv4.ttl = 64;
        hdr.report_ipv4.protocol = PROTO_UDP;
        hdr.report_ipv4.src_addr = src_ip;
        hdr.report_ipv4.dst_addr = mon_ip;
        hdr.report_udp.setValid();
        hdr.report_udp.sport = 0;
        hdr.report_udp.dport = mon_port;
        hdr.report_udp.len = 8 + 20;
        hdr.report_udp.checksum = 0;
        hdr.int_report.setValid();
        hdr.int_report.ver = 1;
        hdr.int_report.hw_id = 0;
        hdr.int_report.flags = 0;
        hdr.int_report.switch_id = meta.int_meta.switch_id;
        hdr.int_report.ingress_port = (bit<16>)standard_metadata.ingress_port;
        hdr.int_report.egress_port = (bit<16>)standard_metadata.egress_port;
        hdr.int_report.hop_latency = meta.ingress_hop_latency;
        hdr.int_report.ingress_tstamp = meta.ingress_tstamp;
        hdr.int_report.queue_depth = (bit<24>)standard_metadata.deq_qdepth;
        hdr.int_report.queue_id = 0;
        // Only the first 64 bytes of the original packet go to the collector.
        truncate(32w64 + 14 + 20 + 8 + 20);
        report_counter.count(0);
    }

    table report {
        key = {
            standard_metadata.instance_type : exact @name("instance_type");
        }
        actions = {
            do_report_encap;
            @defaultonly NoAction;
        }
        default_action = NoAction();
        size = 4;
    }

    apply {
        int_config.apply();
        if (standard_metadata.instance_type == 2) {
            // The egress-to-egress clone: becomes the report.
            report.apply();
        } else if (meta.int_meta.watched) {
            bit<32> latency = standard_metadata.egress_global_timestamp[31:0] - meta.ingress_tstamp;
            meta.ingress_hop_latency = latency;
            bit<32> slot;
            hash(slot, HashAlgorithm.crc32, 32w0,
                 { meta.lkp.ipv4_src, meta.lkp.ipv4_dst, meta.lkp.ip_proto,
                   meta.lkp.l4_sport, meta.lkp.l4_dport },
                 (bit<32>)INT_FLOW_SLOTS);
            bit<32> seen;
            max_hop_latency.read(seen, slot);
            if (latency > seen) {
                max_hop_latency.write(slot, latency);
            }
            bit<32> threshold;
            latency_threshold.read(threshold, 0);
            if (threshold != 0 && latency >= threshold) {
                digest<int_flow_digest_t>(1, {
                    meta.lkp.ipv4_src, meta.lkp.ipv4_dst, meta.lkp.ip_proto, latency
                });
            }
            bit<32> sent;
            reports_sent.read(sent, 0);
            reports_sent.write(0, sent + 1);
            clone_preserving_field_list(CloneType.E2E, REPORT_MIRROR_SESSION, 2);
        }
    }
}

#endif  // WITH_INT

#endif
