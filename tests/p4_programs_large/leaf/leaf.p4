// Leaf switch: a fabric leaf for v1model. See defines.p4 for the build
// profiles (-DWITH_IPV6, -DWITH_INT, -DWITH_VXLAN).
#include <core.p4>
#include <v1model.p4>

#include "defines.p4"
#include "headers.p4"
#include "parser.p4"
#include "filtering.p4"
#include "forwarding.p4"
#include "next.p4"
#include "acl.p4"
#include "egress.p4"
#include "int.p4"

#ifdef WITH_VXLAN
// VXLAN termination: a known VNI strips the outer headers; the inner L3
// header is one of a header union.
control VxlanTermination(inout parsed_headers_t hdr,
                         inout leaf_metadata_t meta,
                         inout standard_metadata_t standard_metadata) {
    counter(4096, CounterType.packets) vni_counter;

    action decap(vlan_id_t vlan_id) {
        meta.vlan_id = vlan_id;
        vni_counter.count((bit<32>)hdr.vxlan.vni[11:0]);
        hdr.ethernet = hdr.inner_ethernet;
        hdr.eth_type = hdr.inner_eth_type;
        hdr.inner_ethernet.setInvalid();
        hdr.inner_eth_type.setInvalid();
        hdr.vxlan.setInvalid();
        hdr.udp.setInvalid();
        hdr.ipv4.setInvalid();
    }

    table vni_map {
        key = {
            hdr.vxlan.vni                : exact @name("vni");
            hdr.inner_l3.ipv4.isValid()  : exact @name("inner_ipv4");
            hdr.inner_l3.ipv6.isValid()  : exact @name("inner_ipv6");
        }
        actions = {
            decap;
            @defaultonly NoAction;
        }
        default_action = NoAction();
        size = 4096;
    }

    apply {
        if (hdr.vxlan.isValid()) {
            if (vni_map.apply().hit) {
                if (hdr.inner_l3.ipv4.isValid()) {
                    hdr.ipv4 = hdr.inner_l3.ipv4;
                    meta.lkp.ipv4_src = hdr.ipv4.src_addr;
                    meta.lkp.ipv4_dst = hdr.ipv4.dst_addr;
                    meta.lkp.ip_proto = hdr.ipv4.protocol;
                    meta.ip_eth_type = ETHERTYPE_IPV4;
                } else if (hdr.inner_l3.ipv6.isValid()) {
                    hdr.ipv6 = hdr.inner_l3.ipv6;
                    meta.lkp.is_ipv4 = false;
                    meta.lkp.is_ipv6 = true;
                    meta.ip_eth_type = ETHERTYPE_IPV6;
                }
                hdr.inner_l3.ipv4.setInvalid();
                hdr.inner_l3.ipv6.setInvalid();
                if (hdr.inner_udp.isValid()) {
                    hdr.udp = hdr.inner_udp;
                    hdr.inner_udp.setInvalid();
                }
                if (hdr.inner_tcp.isValid()) {
                    hdr.tcp = hdr.inner_tcp;
                    hdr.inner_tcp.setInvalid();
                }
            }
        }
    }
}
#endif

control LeafIngress(inout parsed_headers_t hdr,
                    inout leaf_metadata_t meta,
                    inout standard_metadata_t standard_metadata) {
    PacketIoIngress() pkt_io;
#ifdef WITH_VXLAN
    VxlanTermination() vxlan_term;
#endif
    Filtering() filtering;
    Learning() learning;
    Forwarding() forwarding;
    Acl() acl;
    Next() next;
    PortStats() port_stats;
#ifdef WITH_INT
    IntIngress() int_ingress;
#endif

    apply {
        pkt_io.apply(hdr, meta, standard_metadata);
#ifdef WITH_VXLAN
        vxlan_term.apply(hdr, meta, standard_metadata);
#endif
        port_stats.apply(hdr, meta, standard_metadata);
        filtering.apply(hdr, meta, standard_metadata);
        if (!meta.skip_forwarding) {
            learning.apply(hdr, meta, standard_metadata);
            forwarding.apply(hdr, meta, standard_metadata);
        }
        acl.apply(hdr, meta, standard_metadata);
        if (!meta.skip_next) {
            next.apply(hdr, meta, standard_metadata);
        }
#ifdef WITH_INT
        int_ingress.apply(hdr, meta, standard_metadata);
#endif
    }
}

control LeafEgress(inout parsed_headers_t hdr,
                   inout leaf_metadata_t meta,
                   inout standard_metadata_t standard_metadata) {
    PacketIoEgress() pkt_io_egress;
    EgressNextControl() egress_next;
    EgressPortStats() egress_stats;
#ifdef WITH_INT
    IntEgress() int_egress;
#endif

    apply {
        pkt_io_egress.apply(hdr, meta, standard_metadata);
        // An egress-to-egress clone is an INT report: no VLAN or MPLS rewrite.
        if (standard_metadata.instance_type != 2) {
            egress_next.apply(hdr, meta, standard_metadata);
            egress_stats.apply(hdr, meta, standard_metadata);
        }
#ifdef WITH_INT
        int_egress.apply(hdr, meta, standard_metadata);
#endif
    }
}

V1Switch(
    LeafParser(),
    LeafVerifyChecksum(),
    LeafIngress(),
    LeafEgress(),
    LeafComputeChecksum(),
    LeafDeparser()
) main;
