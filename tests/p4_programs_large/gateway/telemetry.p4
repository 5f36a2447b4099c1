// Tunnel gateway, -DWITH_FLOW_REPORTS: flow records kept in registers
// (packets, first and last time seen) per flow-hash slot, a digest with the
// record when a TCP flow ends, and packets sampled per session cloned
// ingress to egress to a collector port, where they leave with a cpu_in
// header naming the session.
#ifndef GW_TELEMETRY_P4
#define GW_TELEMETRY_P4

#include "headers.p4"

#ifdef WITH_FLOW_REPORTS

control FlowRecords(inout headers_t hdr,
                    inout gw_metadata_t meta,
                    inout standard_metadata_t std_meta) {

    register<bit<32>>(FLOW_RECORD_SLOTS) flow_packets;
    register<bit<48>>(FLOW_RECORD_SLOTS) flow_first_seen;
    register<bit<48>>(FLOW_RECORD_SLOTS) flow_last_seen;
    register<bit<32>>(SESSION_SIZE) sample_countdown;
    counter(1, CounterType.packets) samples_taken;

    action set_sample_period(bit<32> period) {
        bit<32> left;
        sample_countdown.read(left, meta.session_id);
        if (left <= 1) {
            meta.sampled = true;
            sample_countdown.write(meta.session_id, period);
        } else {
            sample_countdown.write(meta.session_id, left - 1);
        }
    }

    table sampling {
        key = {
            meta.session_id : ternary @name("session_id");
            meta.app_id     : ternary @name("app_id");
        }
        actions = {
            set_sample_period;
            @defaultonly NoAction;
        }
        default_action = NoAction();
        size = 64;
    }

    apply {
        if (!meta.session_hit || meta.needs_dropping) {
            return;
        }
        hash(meta.flow_slot, HashAlgorithm.crc32_custom, 32w0,
             { meta.flow.src, meta.flow.dst, meta.flow.sport, meta.flow.dport,
               meta.flow.proto }, (bit<32>)FLOW_RECORD_SLOTS);
        bit<32> packets;
        bit<48> first;
        flow_packets.read(packets, meta.flow_slot);
        flow_first_seen.read(first, meta.flow_slot);
        if (packets == 0) {
            first = std_meta.ingress_global_timestamp;
            flow_first_seen.write(meta.flow_slot, first);
        }
        packets = packets + 1;
        flow_last_seen.write(meta.flow_slot, std_meta.ingress_global_timestamp);
        if (hdr.l4.tcp.isValid() && (hdr.l4.tcp.flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) != 0) {
            digest<flow_end_digest_t>(1, {
                meta.flow.src, meta.flow.dst, meta.flow.sport, meta.flow.dport,
                packets, first, std_meta.ingress_global_timestamp
            });
            flow_packets.write(meta.flow_slot, 0);
        } else {
            flow_packets.write(meta.flow_slot, packets);
        }
        sampling.apply();
        if (meta.sampled) {
            samples_taken.count(0);
            meta.orig_ingress_port = std_meta.ingress_port;
            meta.punt_reason = PUNT_SAMPLE;
            clone_preserving_field_list(CloneType.I2E, COLLECTOR_SESSION, 2);
        }
    }
}

#endif  // WITH_FLOW_REPORTS

#endif
