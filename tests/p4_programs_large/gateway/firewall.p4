// Tunnel gateway: a stateful firewall. Rules (ternary, priorities) give a
// verdict per flow; allowed TCP connections opened from the UE side are
// remembered in a two-hash filter of registers, so that the answers from
// the core pass without a rule. A flow no rule knows is reported to the
// controller in a digest and, unless STRICT_FIREWALL, punted.
#ifndef GW_FIREWALL_P4
#define GW_FIREWALL_P4

#include "headers.p4"

control Firewall(inout headers_t hdr,
                 inout gw_metadata_t meta,
                 inout standard_metadata_t std_meta) {

    register<bit<1>>(CONNTRACK_SLOTS) conntrack_a;
    register<bit<1>>(CONNTRACK_SLOTS) conntrack_b;
    register<bit<32>>(1) new_flows_reported;
    direct_counter(CounterType.packets_and_bytes) rules_counter;
    direct_meter<bit<2>>(MeterType.packets) punt_meter;
    bit<2> punt_color = 0;

    action allow() {
        meta.verdict = verdict_t.ALLOW;
        rules_counter.count();
    }

    action deny() {
        meta.verdict = verdict_t.DENY;
        rules_counter.count();
    }

    action punt() {
        meta.verdict = verdict_t.PUNT;
        rules_counter.count();
    }

    action no_rule() {
        meta.verdict = verdict_t.NONE;
        rules_counter.count();
    }

    table rules {
        key = {
            meta.direction      : exact @name("direction");
            meta.app_id         : ternary @name("app_id");
            meta.flow.src       : ternary @name("ipv4_src");
            meta.flow.dst       : ternary @name("ipv4_dst");
            meta.flow.proto     : ternary @name("ip_proto");
            meta.flow.sport     : range @name("l4_sport");
            meta.flow.dport     : range @name("l4_dport");
            meta.tcp_flags      : ternary @name("tcp_flags");
#ifdef WITH_IPV6
            hdr.inner_ip.ipv6.isValid() : optional @name("inner_ipv6");
            hdr.inner_ip.ipv6.dst       : ternary @name("inner_ipv6_dst");
#endif
        }
        actions = {
            allow;
            deny;
            punt;
            @defaultonly no_rule;
        }
        const default_action = no_rule();
        counters = rules_counter;
        size = FIREWALL_RULES;
    }

    // Punts are rate limited per reason: the controller sets the rates.
    action read_punt_color() {
        punt_meter.read(punt_color);
    }

    table punt_policer {
        key = {
            meta.punt_reason : exact @name("reason");
        }
        actions = {
            read_punt_color;
            @defaultonly NoAction;
        }
        meters = punt_meter;
        default_action = NoAction();
        size = 16;
    }

    apply {
        if (!meta.session_hit || meta.needs_dropping) {
            return;
        }
        // The connection in the UE's orientation: the downlink's (src, dst)
        // is the uplink's (dst, src).
        ipv4_t_addr ue_addr = meta.flow.src;
        ipv4_t_addr peer_addr = meta.flow.dst;
        l4_port_t ue_port = meta.flow.sport;
        l4_port_t peer_port = meta.flow.dport;
        if (meta.direction == direction_t.DOWNLINK) {
            ue_addr = meta.flow.dst;
            peer_addr = meta.flow.src;
            ue_port = meta.flow.dport;
            peer_port = meta.flow.sport;
        }
        hash(meta.conntrack_slot, HashAlgorithm.crc32, 32w0,
             { ue_addr, peer_addr, ue_port, peer_port, meta.flow.proto },
             (bit<32>)CONNTRACK_SLOTS);
        hash(meta.conntrack_slot2, HashAlgorithm.crc16, 32w0,
             { peer_addr, ue_addr, peer_port, ue_port, meta.flow.proto },
             (bit<32>)CONNTRACK_SLOTS);
        bit<1> seen_a;
        bit<1> seen_b;
        conntrack_a.read(seen_a, meta.conntrack_slot);
        conntrack_b.read(seen_b, meta.conntrack_slot2);
        bool established = seen_a == 1 && seen_b == 1;
        rules.apply();
        if (meta.verdict == verdict_t.NONE && established) {
            meta.verdict = verdict_t.ALLOW;
        }
        if (meta.verdict == verdict_t.ALLOW) {
            if (meta.direction == direction_t.UPLINK && meta.flow.proto == IP_PROTO_TCP) {
                if ((meta.tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) != 0) {
                    conntrack_a.write(meta.conntrack_slot, 0);
                    conntrack_b.write(meta.conntrack_slot2, 0);
                } else {
                    conntrack_a.write(meta.conntrack_slot, 1);
                    conntrack_b.write(meta.conntrack_slot2, 1);
                }
            }
        } else if (meta.verdict == verdict_t.DENY) {
            meta.needs_dropping = true;
        } else {
            // No rule, or a rule asking for the controller.
            digest<new_flow_digest_t>(1, {
                meta.session_id, meta.flow.src, meta.flow.dst,
                meta.flow.sport, meta.flow.dport, meta.flow.proto, meta.direction
            });
            bit<32> reported;
            new_flows_reported.read(reported, 0);
            new_flows_reported.write(0, reported + 1);
#ifdef STRICT_FIREWALL
            meta.needs_dropping = true;
#else
            meta.needs_punt = true;
            meta.punt_reason = PUNT_NEW_FLOW;
            punt_policer.apply();
            if (punt_color == 2) {
                meta.needs_dropping = true;
                meta.needs_punt = false;
            }
#endif
        }
    }
}

#endif
