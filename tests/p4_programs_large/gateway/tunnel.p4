// Tunnel gateway: GTP-U decap (ingress, uplink) and encap (egress,
// downlink); VXLAN towards the core with -DWITH_VXLAN.
#ifndef GW_TUNNEL_P4
#define GW_TUNNEL_P4

#include "headers.p4"

control TunnelDecap(inout headers_t hdr,
                    inout gw_metadata_t meta,
                    inout standard_metadata_t std_meta) {

    @hidden
    action decap_gtpu_inner_ipv4() {
        hdr.ipv4 = hdr.inner_ip.ipv4;
        hdr.inner_ip.ipv4.setInvalid();
        hdr.udp.setInvalid();
        hdr.gtpu.setInvalid();
        hdr.gtpu_options.setInvalid();
        hdr.gtpu_ext_psc.setInvalid();
    }

#ifdef WITH_IPV6
    @hidden
    action decap_gtpu_inner_ipv6() {
        hdr.ipv6 = hdr.inner_ip.ipv6;
        hdr.ipv4.setInvalid();
        hdr.inner_ip.ipv6.setInvalid();
        hdr.udp.setInvalid();
        hdr.gtpu.setInvalid();
        hdr.gtpu_options.setInvalid();
        hdr.gtpu_ext_psc.setInvalid();
        hdr.ethernet.ether_type = ETH_TYPE_IPV6;
    }
#endif

#ifdef WITH_VXLAN
    counter(1024, CounterType.packets_and_bytes) vni_rx_counter;

    action decap_vxlan() {
        hdr.ethernet.ether_type = hdr.inner_ethernet.ether_type;
        hdr.ipv4 = hdr.inner_ip.ipv4;
        hdr.inner_ip.ipv4.setInvalid();
        hdr.inner_ethernet.setInvalid();
        hdr.vxlan.setInvalid();
        hdr.udp.setInvalid();
        vni_rx_counter.count((bit<32>)meta.vni[9:0]);
    }

    table vxlan_termination {
        key = {
            hdr.ipv4.dst : exact @name("vtep");
            meta.vni     : exact @name("vni");
        }
        actions = {
            decap_vxlan;
            @defaultonly NoAction;
        }
        default_action = NoAction();
        size = 1024;
    }
#endif

    apply {
        if (meta.needs_gtpu_decap && meta.session_hit && !meta.needs_dropping) {
            if (hdr.inner_ip.ipv4.isValid()) {
                decap_gtpu_inner_ipv4();
            }
#ifdef WITH_IPV6
            else if (hdr.inner_ip.ipv6.isValid()) {
                decap_gtpu_inner_ipv6();
            }
#endif
        }
#ifdef WITH_VXLAN
        if (hdr.vxlan.isValid()) {
            vxlan_termination.apply();
        }
#endif
    }
}

control TunnelEncap(inout headers_t hdr,
                    inout gw_metadata_t meta,
                    inout standard_metadata_t std_meta) {

    counter(SESSION_SIZE, CounterType.packets_and_bytes) encap_counter;

    @hidden
    action encap_gtpu_common() {
        hdr.inner_ip.ipv4 = hdr.ipv4;
        hdr.ipv4.setValid();
        hdr.ipv4.version = 4;
        hdr.ipv4.ihl = 5;
        hdr.ipv4.tos = 0;
        hdr.ipv4.identification = 0x1513;
        hdr.ipv4.flags = 0;
        hdr.ipv4.frag_offset = 0;
        hdr.ipv4.ttl = DEFAULT_TTL;
        hdr.ipv4.protocol = IP_PROTO_UDP;
        hdr.ipv4.src = meta.tunnel_src;
        hdr.ipv4.dst = meta.tunnel_dst;
        hdr.ipv4.checksum = 0;
        hdr.udp.setValid();
        hdr.udp.sport = meta.tunnel_sport;
        hdr.udp.dport = UDP_PORT_GTPU;
        hdr.udp.checksum = 0;
        hdr.gtpu.setValid();
        hdr.gtpu.version = 1;
        hdr.gtpu.pt = 1;
        hdr.gtpu.spare = 0;
        hdr.gtpu.seq_flag = 0;
        hdr.gtpu.npdu_flag = 0;
        hdr.gtpu.msgtype = GTPU_MSG_GPDU;
        hdr.gtpu.teid = meta.tunnel_teid;
    }

    action encap_gtpu() {
        encap_gtpu_common();
        hdr.gtpu.ex_flag = 0;
        hdr.gtpu.msglen = hdr.inner_ip.ipv4.total_len;
        hdr.udp.length = hdr.inner_ip.ipv4.total_len + UDP_HDR_BYTES + GTPU_HDR_BYTES;
        hdr.ipv4.total_len = hdr.udp.length + IPV4_HDR_BYTES;
    }

    action encap_gtpu_with_psc() {
        encap_gtpu_common();
        hdr.gtpu.ex_flag = 1;
        hdr.gtpu_options.setValid();
        hdr.gtpu_options.seq_num = 0;
        hdr.gtpu_options.n_pdu_num = 0;
        hdr.gtpu_options.next_ext = GTPU_EXT_PDU_SESSION;
        hdr.gtpu_ext_psc.setValid();
        hdr.gtpu_ext_psc.len = 1;
        hdr.gtpu_ext_psc.type = 0;  // downlink PDU session information
        hdr.gtpu_ext_psc.spare0 = 0;
        hdr.gtpu_ext_psc.ppp = 0;
        hdr.gtpu_ext_psc.rqi = 0;
        hdr.gtpu_ext_psc.qfi = meta.qfi;
        hdr.gtpu_ext_psc.next_ext = 0;
        hdr.gtpu.msglen = hdr.inner_ip.ipv4.total_len + GTPU_OPT_EXT_BYTES;
        hdr.udp.length = hdr.gtpu.msglen + UDP_HDR_BYTES + GTPU_HDR_BYTES;
        hdr.ipv4.total_len = hdr.udp.length + IPV4_HDR_BYTES;
    }

    // Whether a session's QFI goes in a PDU session container.
    table gtpu_encap_mode {
        key = {
            meta.qfi : exact @name("qfi");
        }
        actions = {
            encap_gtpu;
            encap_gtpu_with_psc;
        }
        const default_action = encap_gtpu();
        const entries = {
            0 : encap_gtpu();
        }
        size = 64;
    }

#ifdef WITH_VXLAN
    action encap_vxlan(mac_t inner_dst, mac_t inner_src) {
        hdr.inner_ethernet.setValid();
        hdr.inner_ethernet.dst = inner_dst;
        hdr.inner_ethernet.src = inner_src;
        hdr.inner_ethernet.ether_type = ETH_TYPE_IPV4;
        hdr.inner_ip.ipv4 = hdr.ipv4;
        hdr.vxlan.setValid();
        hdr.vxlan.flags = 0x08;
        hdr.vxlan.reserved = 0;
        hdr.vxlan.vni = meta.vni;
        hdr.vxlan.reserved2 = 0;
        hdr.udp.setValid();
        hdr.udp.sport = 49152 | (bit<16>)meta.conntrack_slot[13:0];
        hdr.udp.dport = UDP_PORT_VXLAN;
        hdr.udp.checksum = 0;
        hdr.udp.length = hdr.inner_ip.ipv4.total_len + ETH_HDR_BYTES + VXLAN_HDR_BYTES +
                         UDP_HDR_BYTES;
        hdr.ipv4.total_len = hdr.udp.length + IPV4_HDR_BYTES;
        hdr.ipv4.protocol = IP_PROTO_UDP;
        hdr.ipv4.src = meta.tunnel_src;
        hdr.ipv4.dst = meta.tunnel_dst;
        hdr.ipv4.ttl = DEFAULT_TTL;
    }

    table vxlan_inner_macs {
        key = {
            meta.vni : exact @name("vni");
        }
        actions = {
            encap_vxlan;
            @defaultonly NoAction;
        }
        default_action = NoAction();
        size = 1024;
    }
#endif

    apply {
        if (meta.needs_gtpu_encap && hdr.ipv4.isValid()) {
            gtpu_encap_mode.apply();
            encap_counter.count(meta.session_id);
        }
#ifdef WITH_VXLAN
        else if (meta.needs_vxlan_encap && hdr.ipv4.isValid()) {
            vxlan_inner_macs.apply();
        }
#endif
    }
}

#endif
