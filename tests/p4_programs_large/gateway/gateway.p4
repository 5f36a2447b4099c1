// Tunnel gateway for v1model: GTP-U sessions, a stateful firewall, routing
// and (by profile) IPv6, VXLAN and flow reports. Build profiles are listed
// in defines.p4.
#include <core.p4>
#include <v1model.p4>

#include "defines.p4"
#include "headers.p4"
#include "parser.p4"
#include "interfaces.p4"
#include "sessions.p4"
#include "firewall.p4"
#include "routing.p4"
#include "tunnel.p4"
#include "telemetry.p4"

control GwIngress(inout headers_t hdr,
                  inout gw_metadata_t meta,
                  inout standard_metadata_t std_meta) {
    PacketOut() packet_out;
    Interfaces() interfaces;
    Sessions() sessions;
    Firewall() firewall;
    TunnelDecap() decap;
    Routing() routing;
#ifdef WITH_FLOW_REPORTS
    FlowRecords() flow_records;
#endif

    counter(16, CounterType.packets) drop_reasons;

    action to_controller() {
        std_meta.egress_spec = CPU_PORT;
        meta.orig_ingress_port = std_meta.ingress_port;
    }

    apply {
        packet_out.apply(hdr, meta, std_meta);
        interfaces.apply(hdr, meta, std_meta);
        if (meta.src_iface == src_iface_t.UNKNOWN) {
            drop_reasons.count(0);
            mark_to_drop(std_meta);
            exit;
        }
        sessions.apply(hdr, meta, std_meta);
        firewall.apply(hdr, meta, std_meta);
#ifdef WITH_FLOW_REPORTS
        flow_records.apply(hdr, meta, std_meta);
#endif
        if (meta.needs_dropping) {
            drop_reasons.count(1);
            mark_to_drop(std_meta);
            exit;
        }
        if (meta.needs_punt) {
            to_controller();
            exit;
        }
        decap.apply(hdr, meta, std_meta);
        routing.apply(hdr, meta, std_meta);
        if (meta.needs_dropping) {
            drop_reasons.count(2);
            mark_to_drop(std_meta);
        } else if (meta.needs_punt) {
            to_controller();
        } else if (hdr.ipv4.isValid()) {
            if (hdr.ipv4.ttl <= 1) {
                drop_reasons.count(3);
                mark_to_drop(std_meta);
            } else {
                hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
            }
        }
    }
}

control GwEgress(inout headers_t hdr,
                 inout gw_metadata_t meta,
                 inout standard_metadata_t std_meta) {
    TunnelEncap() encap;
    counter(MAX_PORTS, CounterType.packets_and_bytes) tx_port_counter;

    action add_cpu_in(bit<8> reason) {
        hdr.cpu_in.setValid();
        hdr.cpu_in.ingress_port = meta.orig_ingress_port;
        hdr.cpu_in._pad = 0;
        hdr.cpu_in.reason = reason;
        hdr.cpu_in.session_id = meta.session_id;
    }

    apply {
        if (std_meta.instance_type == 1) {
            // A sampled copy (WITH_FLOW_REPORTS): to the collector, cut short.
            add_cpu_in(PUNT_SAMPLE);
            truncate(32w128);
        } else if (std_meta.egress_port == CPU_PORT) {
            add_cpu_in(meta.punt_reason);
        } else {
            encap.apply(hdr, meta, std_meta);
        }
        tx_port_counter.count((bit<32>)std_meta.egress_port);
    }
}

V1Switch(
    GwParser(),
    GwVerifyChecksum(),
    GwIngress(),
    GwEgress(),
    GwComputeChecksum(),
    GwDeparser()
) main;
