// Tunnel gateway: sessions, applications, terminations and accounting.
#ifndef GW_SESSIONS_P4
#define GW_SESSIONS_P4

#include "headers.p4"

control Sessions(inout headers_t hdr,
                 inout gw_metadata_t meta,
                 inout standard_metadata_t std_meta) {

    meter(SESSION_SIZE, MeterType.bytes) session_meter;
    direct_counter(CounterType.packets_and_bytes) uplink_counter;
    direct_counter(CounterType.packets_and_bytes) downlink_counter;
    register<bit<64>>(ACCOUNTING_SLOTS) uplink_bytes;
    register<bit<64>>(ACCOUNTING_SLOTS) downlink_bytes;
    register<bit<48>>(ACCOUNTING_SLOTS) session_last_seen;

    action set_uplink_session(session_id_t session_id) {
        meta.session_id = session_id;
        meta.session_hit = true;
        uplink_counter.count();
    }

    action drop_uplink() {
        meta.needs_dropping = true;
        uplink_counter.count();
    }

    action uplink_miss() {
        meta.session_hit = false;
        uplink_counter.count();
    }

    // Uplink: the GTP-U tunnel (TEID and the gateway address it targets)
    // names the session.
    table uplink_sessions {
        key = {
            hdr.ipv4.dst : exact @name("n3_address");
            meta.teid    : exact @name("teid");
        }
        actions = {
            set_uplink_session;
            drop_uplink;
            @defaultonly uplink_miss;
        }
        const default_action = uplink_miss();
        counters = uplink_counter;
        size = SESSION_SIZE;
    }

    action set_downlink_session(session_id_t session_id, teid_t teid,
                                ipv4_t_addr tunnel_src, ipv4_t_addr tunnel_dst,
                                l4_port_t tunnel_sport, qfi_t qfi) {
        meta.session_id = session_id;
        meta.session_hit = true;
        meta.needs_gtpu_encap = true;
        meta.tunnel_teid = teid;
        meta.tunnel_src = tunnel_src;
        meta.tunnel_dst = tunnel_dst;
        meta.tunnel_sport = tunnel_sport;
        meta.qfi = qfi;
        downlink_counter.count();
    }

    action buffer_downlink(session_id_t session_id) {
        // An idle UE: the controller buffers and pages it.
        meta.session_id = session_id;
        meta.session_hit = true;
        meta.needs_punt = true;
        meta.punt_reason = PUNT_NO_SESSION;
        downlink_counter.count();
    }

    action downlink_miss() {
        meta.session_hit = false;
        downlink_counter.count();
    }

    // Downlink: the UE's address names the session and its tunnel.
    table downlink_sessions {
        key = {
            meta.flow.dst : exact @name("ue_address");
        }
        actions = {
            set_downlink_session;
            buffer_downlink;
            @defaultonly downlink_miss;
        }
        const default_action = downlink_miss();
        counters = downlink_counter;
        size = SESSION_SIZE;
    }

    action set_app_id(app_id_t app_id) {
        meta.app_id = app_id;
    }

    // Applications: ternary matches over the UE's flow, highest priority
    // first; app 0 is "everything else".
    table applications {
        key = {
            meta.session_id : ternary @name("session_id");
            meta.flow.src   : ternary @name("ipv4_src");
            meta.flow.dst   : ternary @name("ipv4_dst");
            meta.flow.proto : ternary @name("ip_proto");
            meta.flow.sport : range @name("l4_sport");
            meta.flow.dport : range @name("l4_dport");
        }
        actions = {
            set_app_id;
        }
        const default_action = set_app_id(0);
        size = APP_TABLE_SIZE;
    }

    action app_forward(bit<32> meter_index) {
        session_meter.execute_meter<bit<2>>(meter_index, meta.color);
    }

    action app_drop() {
        meta.needs_dropping = true;
    }

    action app_forward_unmetered() {
        meta.color = 0;
    }

    table terminations {
        key = {
            meta.session_id : exact @name("session_id");
            meta.app_id     : exact @name("app_id");
            meta.direction  : exact @name("direction");
        }
        actions = {
            app_forward;
            app_forward_unmetered;
            app_drop;
        }
        const default_action = app_drop();
        size = TERMINATION_TABLE_SIZE;
    }

    apply {
        if (meta.src_iface == src_iface_t.ACCESS && hdr.gtpu.isValid()) {
            meta.direction = direction_t.UPLINK;
            if (!uplink_sessions.apply().hit) {
                digest<unknown_teid_digest_t>(1, { hdr.ipv4.src, meta.teid,
                                                   std_meta.ingress_port });
                meta.needs_dropping = true;
                return;
            }
        } else if (meta.src_iface == src_iface_t.CORE) {
            meta.direction = direction_t.DOWNLINK;
            downlink_sessions.apply();
        }
        if (!meta.session_hit || meta.needs_dropping) {
            return;
        }
        applications.apply();
        terminations.apply();
        if (meta.color == 2) {
            meta.needs_dropping = true;
        }
        if (!meta.needs_dropping) {
            // Accounting per session and direction.
            bit<64> total;
            if (meta.direction == direction_t.UPLINK) {
                uplink_bytes.read(total, meta.session_id);
                uplink_bytes.write(meta.session_id, total + (bit<64>)std_meta.packet_length);
            } else {
                downlink_bytes.read(total, meta.session_id);
                downlink_bytes.write(meta.session_id, total + (bit<64>)std_meta.packet_length);
            }
            session_last_seen.write(meta.session_id, std_meta.ingress_global_timestamp);
        }
    }
}

#endif
