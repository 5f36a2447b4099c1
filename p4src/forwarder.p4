// The P4 Handoff forwarder for v1model (bmv2 simple_switch_grpc, p4sim).
//
// It routes IPv4 and IPv6, answers ARP and neighbour solicitations for its
// gateway addresses, steers new connections to a VIP over the VIP's
// classifier hosts, and rewrites the client segments of connections handed
// off to a back-end (encap_map, encap_map6 for IPv6):
//
//   client -> VIP:      IPv4 C -> VIP            TCP Cport -> VIPport
//   after encap_map:    IPv4 tunnel_src -> B     TCP F[31:16] -> F[15:0]
//
// with the checksums updated incrementally (IPv6: the TCP checksum only).
// Every IPv4 table has an IPv6 twin with the same meaning, in a file of its
// own (control/*6.p4, control/ndp.p4). This file only wires the
// feature controls into V1Switch; the shared/ files hold what a TNA variant
// would reuse.
//
// Stated rules for malformed and unusual input (each has a test):
//   - frame shorter than its Ethernet, ARP, IPv4, IPv6, ICMPv6 (and a
//     neighbour solicitation's body), TCP or UDP header: dropped
//     (parser error PacketTooShort, refused by admission);
//   - IPv4 version other than 4, or IHL below 5: dropped;
//   - IPv4 header checksum wrong (option-less headers): dropped;
//   - TTL 0 or 1 on arrival: dropped, no ICMP time-exceeded;
//   - EtherType other than IPv4, IPv6 and ARP: dropped (the switch does not
//     bridge);
//   - ARP the gateway table does not answer: sent to the controller;
//   - IPv6 version other than 6: dropped; hop limit 0 or 1 on arrival:
//     dropped, no ICMPv6 time-exceeded;
//   - IPv6 neighbour discovery (ICMPv6 133..137) the switch does not answer:
//     sent to the controller (control/ndp.p4 says which solicitations it
//     answers);
//   - IPv6 extension headers: routed like any packet (hop limit decremented,
//     extension headers untouched) but never encapsulated; to a VIP: dropped;
//   - IPv4 options: routed like any packet (TTL and checksum updated
//     incrementally, options untouched) but never encapsulated; to a VIP:
//     dropped;
//   - fragments (MF set or offset non-zero): the same as options;
//   - non-TCP to a VIP (IPv4 or IPv6): never encapsulated; steered to a
//     classifier by a hash of addresses, protocol and (for UDP) ports;
//   - TCP options and payload: carried untouched, never read;
//   - a SYN without ACK matching encap_map (a new connection on the 4-tuple
//     of one still mapped): dropped and digested; the controller removes the
//     entry and the client's retransmitted SYN reaches a classifier;
//   - no route for the destination: dropped;
//   - a frame from the controller (packet_out on the CPU port): sent unchanged
//     to the port packet_out names when it holds at least a whole Ethernet
//     header; what it holds beyond that is the controller's (any EtherType,
//     TTL or checksum: admission does not apply), but a shorter frame, an
//     empty one included, is dropped: no link carries it.

#include <core.p4>
#include <v1model.p4>

#include "shared/define.p4"
#include "shared/size.p4"
#include "shared/headers.p4"
#include "shared/csum16.p4"
#include "shared/flow_id.p4"
#include "shared/flow_id6.p4"

#include "v1model/include/parser.p4"
#include "v1model/include/checksum.p4"
#include "v1model/include/control/admission.p4"
#include "v1model/include/control/packetio.p4"
#include "v1model/include/control/arp.p4"
#include "v1model/include/control/encap.p4"
#include "v1model/include/control/vip_steering.p4"
#include "v1model/include/control/routing.p4"
#include "v1model/include/control/ndp.p4"
#include "v1model/include/control/encap6.p4"
#include "v1model/include/control/vip_steering6.p4"
#include "v1model/include/control/routing6.p4"
#include "v1model/include/deparser.p4"

control ForwarderIngress(inout headers_t hdr,
                         inout forwarder_metadata_t meta,
                         inout standard_metadata_t std_meta) {
    Admission() admission;
    PacketIoIngress() packet_io;
    GatewayArp() arp;
    Encap() encap;
    VipSteering() steering;
    Routing() routing;
    GatewayNdp() ndp;
    Encap6() encap6;
    VipSteering6() steering6;
    Routing6() routing6;

    apply {
        if (hdr.packet_out.isValid()) {
            packet_io.apply(hdr, std_meta);
        } else {
            admission.apply(hdr, meta, std_meta);
            if (!meta.refused && hdr.arp.isValid()) {
                arp.apply(hdr, std_meta);
            }
            if (!meta.refused && hdr.ipv4.isValid()) {
                meta.route_addr = hdr.ipv4.dst_addr;
                // Steering is looked up before encap_map, the reverse of the
                // order in which the controller writes them when it restores
                // a switch (encap_map first). A packet whose lookups straddle
                // those writes (bmv2's pipeline does not wait for them) then
                // finds no steering, and no route to the VIP, or both entries;
                // never steering without its connection's entry, which would
                // take a handed-off connection's segment to a classifier. An
                // encap_map hit overrides the steering.
                steering.apply(hdr, meta);
                encap.apply(hdr, meta);
                if (!meta.refused) {
                    routing.apply(hdr, meta, std_meta);
                }
            }
            if (!meta.refused && hdr.ipv6.isValid()) {
                if (hdr.icmpv6.isValid()
                        && hdr.icmpv6.type >= ICMPV6_ROUTER_SOLICIT
                        && hdr.icmpv6.type <= ICMPV6_REDIRECT) {
                    ndp.apply(hdr, meta, std_meta);
                } else {
                    meta.route_addr6 = hdr.ipv6.dst_addr;
                    // In this order for the reason given for IPv4.
                    steering6.apply(hdr, meta);
                    encap6.apply(hdr, meta);
                    if (!meta.refused) {
                        routing6.apply(hdr, meta, std_meta);
                    }
                }
            }
            if (meta.refused) {
                mark_to_drop(std_meta);
            }
        }
    }
}

control ForwarderEgress(inout headers_t hdr,
                        inout forwarder_metadata_t meta,
                        inout standard_metadata_t std_meta) {
    PacketIoEgress() packet_io;

    apply {
        packet_io.apply(hdr, std_meta);
    }
}

V1Switch(ForwarderParser(),
         ForwarderVerifyChecksum(),
         ForwarderIngress(),
         ForwarderEgress(),
         ForwarderComputeChecksum(),
         ForwarderDeparser()) main;
