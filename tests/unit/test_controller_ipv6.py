"""The controller's IPv6 side on p4sim over P4Runtime (in process): what it
installs from the dual-stack basic topology answers a client's neighbour
solicitation and steers the IPv6 VIP to the classifier, and the encap_map6
entry it builds for an IPv6 flow sends the client's segments to the back-end
with the flow id in the ports."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from controller_support import Releases, Switch, start_controller, stop_controller, topology
from scapy.layers.inet import TCP
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import Ether

from controller.switch.core import Controller, FlowError
from controller.switch.flowstore import INSTALLED, Flow
from controller.switch.tables import (
    connection_of,
    connection_of_digest,
    encap_entry,
    encap_table,
    is_encap_table,
)

CLIENT6 = "2001:db8:1::10"
VIP6 = "2001:db8::100"


@pytest.fixture(name="running")
def running_fixture(tmp_path: Path) -> Iterator[tuple[Switch, Controller]]:
    switch = Switch()
    controller = start_controller(switch, tmp_path / "flows.db", Releases())
    try:
        yield switch, controller
    finally:
        stop_controller(controller)
        switch.stop()


def _sent(switch: Switch, port: int, timeout: float = 5.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frames = switch.thread.call(lambda: list(switch.ports[port].sent))
        if frames:
            switch.thread.call(switch.ports[port].sent.clear)
            return frames[0]
        time.sleep(0.01)
    raise AssertionError(f"nothing sent on port {port} within {timeout} s")


def _client_frame(*layers: object) -> bytes:
    c1 = topology().host("c1")
    frame = Ether(src=c1.mac, dst=topology().switch.mac) / IPv6(src=CLIENT6, dst=VIP6)
    for layer in layers:
        frame = frame / layer
    return bytes(frame)


def test_static_ipv6_entries_answer_ndp_and_steer_the_vip(
    running: tuple[Switch, Controller],
) -> None:
    switch, _ = running
    topo = topology()
    c1, k1 = topo.host("c1"), topo.host("k1")
    solicitation = (
        Ether(src=c1.mac, dst="33:33:ff:00:00:01")
        / IPv6(src=CLIENT6, dst="ff02::1:ff00:1", hlim=255)
        / ICMPv6ND_NS(tgt="2001:db8:1::1")
        / ICMPv6NDOptSrcLLAddr(lladdr=c1.mac)
    )
    switch.inject(c1.port, bytes(solicitation))
    advert = Ether(_sent(switch, c1.port))
    assert advert[IPv6].src == "2001:db8:1::1" and advert[IPv6].dst == CLIENT6
    assert advert[ICMPv6ND_NA].tgt == "2001:db8:1::1"
    assert advert[Ether].src == topo.switch.mac

    switch.inject(c1.port, _client_frame(TCP(sport=40000, dport=80, flags="S")))
    steered = Ether(_sent(switch, k1.port))
    assert (steered[IPv6].dst, steered[Ether].dst) == (VIP6, k1.mac)


def test_an_ipv6_flow_gets_an_encap_map6_entry_that_rewrites_its_segments(
    running: tuple[Switch, Controller],
) -> None:
    switch, controller = running
    b1 = topology().host("b1")
    assert b1.interface6 is not None
    flow = Flow(
        forwarder="2001:db8::1",
        backend=str(b1.interface6.ip),
        flow_id=0x0001_0203,
        client_ip=CLIENT6,
        client_port=40000,
        vip=VIP6,
        vip_port=80,
        classifier="k1",
        state=INSTALLED,
        created_at=0.0,
        released_at=None,
    )
    assert encap_table(flow) == "encap_map6"
    entry = encap_entry(controller.switch.entities, flow, 0)
    controller.switch.insert(entry)
    [read] = controller.switch.read_table("encap_map6")
    assert is_encap_table(read.table)
    assert connection_of(read) == (CLIENT6, 40000, VIP6, 80)

    segment = TCP(sport=40000, dport=80, flags="A") / b"x"
    switch.inject(topology().host("c1").port, _client_frame(segment))
    out = Ether(_sent(switch, b1.port))
    assert (out[IPv6].src, out[IPv6].dst) == ("2001:db8::1", str(b1.interface6.ip))
    assert (out[TCP].sport, out[TCP].dport) == (0x0001, 0x0203)
    recomputed = Ether(bytes(out))
    del recomputed[TCP].chksum
    assert Ether(bytes(recomputed))[TCP].chksum == out[TCP].chksum


def test_connection_end_records_name_their_family_by_digest() -> None:
    record = {"client_addr": 1, "vip": 2, "client_port": 3, "vip_port": 4}
    assert connection_of_digest("connection_end6_t", record) == ("::1", 3, "::2", 4)
    assert connection_of_digest("connection_end_t", record) == ("0.0.0.1", 3, "0.0.0.2", 4)


# ------------------------------------------------------------ IPv6 flows

FORWARDER6 = "2001:db8::1"
B1_6 = "2001:db8:2::11"


@pytest.fixture(name="dual")
def dual_fixture(tmp_path: Path) -> Iterator[tuple[Switch, Controller, Releases]]:
    switch = Switch()
    releases = Releases()
    controller = start_controller(
        switch, tmp_path / "flows.db", releases, forwarder6=FORWARDER6, end_grace_s=0.2
    )
    try:
        yield switch, controller, releases
    finally:
        stop_controller(controller)
        switch.stop()


def _encap6(controller: Controller) -> dict[tuple[str, int, str, int], int | None]:
    return {connection_of(e): e.action.param("flow_id") if e.action else None
            for e in controller.switch.read_table("encap_map6")}  # fmt: skip


def test_an_ipv6_handoff_is_installed_steers_segments_and_ends_with_the_clients_fin(
    dual: tuple[Switch, Controller, Releases],
) -> None:
    switch, controller, releases = dual
    lease = controller.lease(B1_6, "k1", 1)[0]
    assert lease.forwarder == FORWARDER6  # the tunnel source of the back-end's family
    conn = (CLIENT6, 41000, VIP6, 80)
    assert controller.install(FORWARDER6, B1_6, lease.flow_id, 0.0, conn) >= 1
    assert _encap6(controller) == {conn: lease.flow_id}
    assert not controller.switch.read_table("encap_map")

    c1, b1 = topology().host("c1"), topology().host("b1")
    switch.inject(c1.port, _client_frame(TCP(sport=41000, dport=80, flags="A") / b"data"))
    out = Ether(_sent(switch, b1.port))
    assert (out[IPv6].src, out[IPv6].dst) == (FORWARDER6, B1_6)
    assert (out[TCP].sport << 16 | out[TCP].dport) == lease.flow_id

    # The client's FIN: digested as connection_end6_t, the flow ends after
    # the grace, its entry goes and the agent is told.
    switch.inject(c1.port, _client_frame(TCP(sport=41000, dport=80, flags="FA")))
    _sent(switch, b1.port)
    deadline = time.monotonic() + 10
    while _encap6(controller) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _encap6(controller) == {}
    assert (FORWARDER6, B1_6, lease.flow_id) in releases.sent


def test_encap_map6_is_reconciled_after_a_controller_restart(
    tmp_path: Path,
) -> None:
    switch = Switch()
    try:
        first = start_controller(switch, tmp_path / "flows.db", Releases(), forwarder6=FORWARDER6)
        lease = first.lease(B1_6, "k1", 2)
        conns = [(CLIENT6, 42000 + n, VIP6, 80) for n in range(2)]
        for flow, conn in zip(lease, conns, strict=True):
            first.install(FORWARDER6, B1_6, flow.flow_id, 0.0, conn)
        # The switch loses one entry while no controller runs.
        lost = [e for e in first.switch.read_table("encap_map6") if connection_of(e) == conns[0]]
        first.switch.delete(*lost)
        stop_controller(first)
        second = start_controller(
            switch, tmp_path / "flows.db", Releases(), forwarder6=FORWARDER6, election_id=11
        )
        try:
            assert _encap6(second) == {c: f.flow_id for c, f in zip(conns, lease, strict=True)}
            assert second.last_reconcile is not None and len(second.last_reconcile.insert) == 1
        finally:
            stop_controller(second)
    finally:
        switch.stop()


def test_ipv6_requests_the_controller_cannot_serve_are_refused(
    running: tuple[Switch, Controller],
) -> None:
    _, controller = running  # no forwarder6: an IPv4-only controller
    with pytest.raises(FlowError, match="no IPv6 forwarder address"):
        controller.lease(B1_6, "k1", 1)
    with pytest.raises(FlowError, match="different address families"):
        controller.allocate((CLIENT6, 1, "10.0.0.100", 80), "10.0.2.11", "k1")


def test_an_idle_ipv6_flow_is_removed_by_its_timeout(tmp_path: Path) -> None:
    switch = Switch()
    releases = Releases()
    controller = start_controller(
        switch, tmp_path / "flows.db", releases, forwarder6=FORWARDER6, idle_timeout_s=0.3
    )
    try:
        lease = controller.lease(B1_6, "k1", 1)[0]
        controller.install(FORWARDER6, B1_6, lease.flow_id, 0.0, (CLIENT6, 43000, VIP6, 80))
        assert _encap6(controller)
        deadline = time.monotonic() + 10
        while _encap6(controller) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _encap6(controller) == {}
        assert (FORWARDER6, B1_6, lease.flow_id) in releases.sent
    finally:
        stop_controller(controller)
        switch.stop()
