"""Faults during IPv6 handoffs (the dual-stack basic lab, each switch target):
the IPv6 twins of test_faults.py's lossy-link and restarted-switch tests.
Every client connects to the VIP's IPv6 address; each asserts what the
clients saw (every byte right, by SHA-256, or a clean error; no RST from the
handoff) and that nothing leaked (no encap_map6 entry, no ip6 decapsulation
mapping, no flow id out of quarantine)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from conftest import bring_up
from e2e_support import BACKENDS, PIN_POLICY
from faults_support import (
    ClientBatch,
    Exchange,
    FaultLab,
    Impairment,
    LinkImpairment,
    ResetWatch,
    clients,
    netem_available,
    no_reset_from_the_handoff,
    summary,
    unexpected,
)

from controller.lab.session import wait_for

KB, MB = 1 << 10, 1 << 20
FAULT_TOOLS = ("ip", "tc", "nft", "ethtool", "ss")
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, target: str) -> Iterator[FaultLab]:
    yield from bring_up(tmp_path_factory, target, tag="f6", tools=FAULT_TOOLS,
                        policy=PIN_POLICY, session=FaultLab)  # fmt: skip


@pytest.fixture
def faults(lab: FaultLab) -> Iterator[FaultLab]:
    lab.wait_whole()
    yield lab
    lab.settle()


@pytest.fixture
def resets(lab: FaultLab) -> Iterator[ResetWatch]:
    watch = ResetWatch(lab, family="ip6")
    try:
        yield watch
    finally:
        watch.close()


def vip6(lab: FaultLab) -> tuple[str, int]:
    vip = lab.topology.vips[0]
    assert vip.address6 is not None
    return str(vip.address6), vip.port


def ipv6_flows(lab: FaultLab) -> int:
    return sum(1 for f in lab.flows(include_ended=True) if ":" in f.connection.client_ip)


def test_loss_duplicates_and_reordering_on_the_client_link_during_ipv6_handoffs(
    faults: FaultLab, resets: ResetWatch
) -> None:
    """1 % loss, 1 % duplicates, 25 % reordered by 5 ms on everything c1
    sends while 24 IPv6 clients are handed off mid-upload: every byte
    arrives, both ways."""
    before = ipv6_flows(faults)
    plans = [Exchange(upload=256 * KB, download=512 * KB, seed=i) for i in range(24)]
    with LinkImpairment(faults, "c1", Impairment(), netem=netem_available()) as link:
        outcomes = clients(faults, plans, timeout=90, vip=vip6(faults))
        stats = link.stats()
    assert unexpected(outcomes, {"ok"}) == [], summary(outcomes)
    assert {o.backend for o in outcomes} == set(BACKENDS)
    assert ipv6_flows(faults) - before == 24, "every IPv6 connection was handed off"
    assert stats.dropped > 0, f"{link} dropped nothing: {stats}"
    assert stats.duplicated is None or stats.duplicated > 0, f"{link}: {stats}"
    no_reset_from_the_handoff(resets)
    faults.assert_nothing_leaked()


def test_restarted_switch_gets_ipv6_flows_back_and_live_transfers_finish(
    faults: FaultLab, resets: ResetWatch
) -> None:
    """The switch is SIGKILLed while three handed-off IPv6 connections are
    between their upload and their download, and started again, empty: the
    controller pushes the pipeline, the IPv6 routes, NDP answers and
    steering and the encap_map6 entries again, TCP retransmits the download
    requests the dead switch dropped, and the transfers finish with every
    byte. (The connections wait for the kill: one that finished just before
    it could lose its end digest with the switch, and its flow would stay
    for the idle timeout.)"""
    hold = threading.Event()
    plans = [Exchange(upload=512 * KB, download=12 * MB, seed=i, hold=hold) for i in range(3)]
    with ClientBatch(faults, plans, timeout=90, vip=vip6(faults)) as batch:
        try:

            def installed() -> bool:
                flows = faults.held_flows()
                return len(flows) == 3 and all(f.state == "installed" for f in flows)

            wait_for(installed, 20, "three flows installed")
            held = faults.leaks()
            assert len(held.entries) == 3, held
            faults.kill("switch")
        finally:
            hold.set()
        faults.restart_switch()
        wait_for(lambda: sorted(faults.switch_entries()) == sorted(held.entries), 20,
                 "the controller to reinstall the three IPv6 flows")  # fmt: skip
    outcomes = batch.outcomes()
    assert unexpected(outcomes, {"ok"}) == [], summary(outcomes)
    faults.wait_whole()
    after = clients(faults, [Exchange(seed=10 + i) for i in range(3)], 30, vip=vip6(faults))
    assert [o.kind for o in after] == ["ok"] * 3, summary(after)
    no_reset_from_the_handoff(resets)
    faults.assert_nothing_leaked()
