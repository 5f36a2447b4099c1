"""Base test for the forwarder PTF suite: one P4Runtime session per test,
the pipeline pushed once per switch, the lab's routes and VIP installed by
name through controller.p4rt, and packet builders on scapy.

Target-agnostic: the switch (p4sim or bmv2 simple_switch_grpc) is started
by run_ptf.py, which passes its address and the build artifacts as PTF test
parameters. Port numbers are the same on the switch and on PTF's side.
"""

from __future__ import annotations

from pathlib import Path

import ptf
from ptf import testutils
from ptf.base_tests import BaseTest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet

from controller.p4rt import P4RuntimeClient, TableEntry, Update, load_p4info

CLIENT_IP, CLIENT_MAC, CLIENT_PORT = "10.0.1.10", "02:00:00:00:01:10", 1
BACKENDS = {
    "b1": ("10.0.2.11", "02:00:00:00:02:11", 2),
    "b2": ("10.0.2.12", "02:00:00:00:02:12", 3),
}
CLASSIFIERS = {
    "k1": ("10.0.3.10", "02:00:00:00:03:10", 4),
    "k2": ("10.0.3.11", "02:00:00:00:03:11", 5),
}
HOSTS = {"client": (CLIENT_IP, CLIENT_MAC, CLIENT_PORT), **BACKENDS, **CLASSIFIERS}
PORTS = tuple(port for _, _, port in HOSTS.values())
VIP = "10.0.0.100"
TUNNEL_SRC = "10.0.2.1"
GATEWAYS = {"10.0.1.1": "02:aa:00:00:00:01", "10.0.2.1": "02:aa:00:00:00:02"}
CONNECTION_END = "connection_end_t"


def switch_mac(port: int) -> str:
    return f"02:aa:00:00:00:{port:02x}"


class ForwarderTest(BaseTest):
    """Connects as primary, makes sure the forwarder pipeline is installed,
    and starts every test from the lab's standard entries only."""

    def setUp(self) -> None:
        BaseTest.setUp(self)
        self.dataplane = ptf.dataplane_instance
        self.dataplane.flush()
        self.cpu_port = int(testutils.test_param_get("cpu_port", 255))
        self.client = P4RuntimeClient(
            testutils.test_param_get("grpc_addr", "127.0.0.1:9559"),
            device_id=int(testutils.test_param_get("device_id", 0)),
            election_id=100,
        )
        self.client.connect()
        self.client.require_primary()
        self._ensure_pipeline()
        self.entities = self.client.entities
        self._remove_all_entries()
        self._lab_setup()

    def tearDown(self) -> None:
        self._remove_all_entries()
        self.client.close()
        BaseTest.tearDown(self)

    # --- setup

    def _ensure_pipeline(self) -> None:
        p4info = load_p4info(testutils.test_param_get("p4info"))
        config = Path(testutils.test_param_get("device_config")).read_bytes()
        self.client.ensure_pipeline(p4info, config)

    def _remove_all_entries(self) -> None:
        entries = [e for e in self.client.read_table() if not e.is_default]
        self.client.write([Update.delete(e) for e in entries])

    def _lab_setup(self) -> None:
        updates = []
        for ip, mac, port in HOSTS.values():
            updates.append(
                Update.insert(
                    self.entities.table_entry(
                        "routes",
                        {"dst_addr": f"{ip}/32"},
                        "set_next_hop",
                        {"port": port, "src_mac": switch_mac(port), "dst_mac": mac},
                    )
                )
            )
        for address, mac in GATEWAYS.items():
            updates.append(
                Update.insert(
                    self.entities.table_entry(
                        "gateway_arp",
                        {"gateway_addr": address},
                        "answer_arp",
                        {"gateway_mac": mac},
                    )
                )
            )
        buckets = 2 ** self.client.index.table("vip_steering").field("bucket").bitwidth
        classifiers = list(CLASSIFIERS.values())
        for bucket in range(buckets):
            ip = classifiers[bucket * len(classifiers) // buckets][0]
            updates.append(
                Update.insert(
                    self.entities.table_entry(
                        "vip_steering",
                        {"vip": VIP, "bucket": bucket},
                        "steer_to_classifier",
                        {"classifier": ip},
                    )
                )
            )
        self.client.write(updates)

    # --- control plane helpers

    def encap_entry(
        self, sport: int, dport: int, flow_id: int, backend: str, idle_timeout_ns: int = 0
    ) -> TableEntry:
        return self.entities.table_entry(
            "encap_map",
            {"ipv4_src": CLIENT_IP, "ipv4_dst": VIP, "tcp_sport": sport, "tcp_dport": dport},
            "encap_to_backend",
            {"flow_id": flow_id, "tunnel_src": TUNNEL_SRC, "backend": BACKENDS[backend][0]},
            idle_timeout_ns=idle_timeout_ns,
        )

    # --- data plane helpers

    def send(self, port: int, packet: Packet | bytes) -> None:
        testutils.send_packet(self, port, bytes(packet))

    def expect(self, packet: Packet | bytes, port: int) -> None:
        testutils.verify_packet(self, bytes(packet), port)

    def expect_nothing(self) -> None:
        testutils.verify_no_other_packets(self)

    def expect_one_of(self, packets: dict[int, bytes]) -> int:
        """Waits for one packet that equals packets[port] on its port; returns the port."""
        result = testutils.dp_poll(self, timeout=2)
        self.assertIsInstance(result, self.dataplane.PollSuccess, "no packet out")
        self.assertIn(result.port, packets, f"packet on unexpected port {result.port}")
        self.assertEqual(bytes(result.packet)[: len(packets[result.port])], packets[result.port])
        return int(result.port)


# ------------------------------------------------------------------ packets


def client_tcp(
    sport: int = 40000,
    dport: int = 80,
    *,
    dst: str = VIP,
    flags: str = "A",
    payload: bytes = b"",
    options: list[object] | None = None,
    ttl: int = 64,
) -> Packet:
    return (
        Ether(src=CLIENT_MAC, dst=switch_mac(CLIENT_PORT))
        / IP(src=CLIENT_IP, dst=dst, ttl=ttl, id=1)
        / TCP(sport=sport, dport=dport, flags=flags, seq=1000, ack=2000, options=options or [])
        / payload
    )


def routed_to(packet: Packet, host: str) -> bytes:
    _, mac, port = HOSTS[host]
    expected = Ether(bytes(packet))
    expected[Ether].src, expected[Ether].dst = switch_mac(port), mac
    expected[IP].ttl -= 1
    del expected[IP].chksum
    return bytes(expected)


def encapsulated(packet: Packet, flow_id: int, backend: str) -> bytes:
    ip, mac, port = BACKENDS[backend]
    expected = Ether(bytes(packet))
    expected[Ether].src, expected[Ether].dst = switch_mac(port), mac
    expected[IP].src, expected[IP].dst = TUNNEL_SRC, ip
    expected[IP].ttl -= 1
    expected[TCP].sport, expected[TCP].dport = flow_id >> 16, flow_id & 0xFFFF
    del expected[IP].chksum
    del expected[TCP].chksum
    return bytes(expected)


def arp_request(target: str) -> Packet:
    return Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=CLIENT_MAC, psrc=CLIENT_IP, pdst=target
    )


def classifier_packets(packet: Packet) -> dict[int, bytes]:
    """What `packet` looks like on each classifier's port, had it gone there."""
    return {port: routed_to(packet, name) for name, (_, _, port) in CLASSIFIERS.items()}
