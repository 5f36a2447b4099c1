"""Per-port pcap captures open in scapy with the frames, in order."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from p4sim.ports.pcap import PcapSet


def test_captures_are_per_port_and_direction_and_keep_order(tmp_path: Path) -> None:
    frames = [
        bytes(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") / (bytes([i]) * 60))
        for i in range(5)
    ]
    pcaps = PcapSet(tmp_path / "caps")
    for f in frames:
        pcaps.received("veth1", f)
    pcaps.sent("veth2", frames[0])
    pcaps.close()
    assert sorted(p.name for p in (tmp_path / "caps").iterdir()) == [
        "veth1_in.pcap",
        "veth2_out.pcap",
    ]
    assert [bytes(p) for p in rdpcap(str(tmp_path / "caps" / "veth1_in.pcap"))] == frames
    assert [bytes(p) for p in rdpcap(str(tmp_path / "caps" / "veth2_out.pcap"))] == frames[:1]
