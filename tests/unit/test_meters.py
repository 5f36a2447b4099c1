"""Meters colour like bmv2's two-rate three-colour marker; the indexed extern
arrays (counter, register, meter) guard their indexes."""

from __future__ import annotations

import pytest

from p4sim.errors import ControlPlaneError
from p4sim.runtime.externs import CounterArray, MeterArray, RegisterArray
from p4sim.runtime.meters import GREEN, RED, YELLOW, TwoRateThreeColor

MS = 1_000_000  # nanoseconds


def test_a_burst_is_green_then_yellow_then_red() -> None:
    # 2 packets of committed burst, 4 of peak burst, negligible refill
    meter = TwoRateThreeColor(cir=1, cburst=2, pir=2, pburst=4, unit="PACKETS")
    colours = [meter.execute(0, 1500) for _ in range(6)]
    assert colours == [GREEN, GREEN, YELLOW, YELLOW, RED, RED]


def test_red_packets_take_no_tokens() -> None:
    meter = TwoRateThreeColor(cir=0, cburst=0, pir=0, pburst=1000, unit="BYTES")
    assert meter.execute(0, 1500) == RED
    assert meter.execute(0, 1000) == YELLOW  # the peak bucket was still full
    assert meter.execute(0, 1) == RED


def test_buckets_refill_with_time() -> None:
    # 1000 packets/s: one token per millisecond in each bucket
    meter = TwoRateThreeColor(cir=1000, cburst=1, pir=1000, pburst=1, unit="PACKETS")
    assert meter.execute(0, 1) == GREEN
    assert meter.execute(0, 1) == RED
    assert meter.execute(MS // 2, 1) == RED
    assert meter.execute(MS, 1) == GREEN
    assert meter.execute(10 * MS, 1) == GREEN  # refill is capped at the burst
    assert meter.execute(10 * MS, 1) == RED


def test_byte_meters_charge_the_packet_size() -> None:
    meter = TwoRateThreeColor(cir=0, cburst=1000, pir=0, pburst=3000, unit="BYTES")
    assert meter.execute(0, 600) == GREEN
    assert meter.execute(0, 600) == YELLOW  # 400 committed bytes left
    assert meter.execute(0, 1500) == YELLOW
    assert meter.execute(0, 600) == RED  # 300 peak bytes left


def test_refill_counts_whole_tokens_from_the_origin_like_bmv2() -> None:
    # 1500 bytes/s is 0.0015 bytes per microsecond: after 1 ms one whole byte
    # has been earned, after 2 ms three (floor of 3.0), not 1 + 1.
    meter = TwoRateThreeColor(cir=1500, cburst=10, pir=1500, pburst=10, unit="BYTES")
    assert meter.execute(0, 10) == GREEN
    assert meter.execute(MS, 2) == RED
    assert meter.execute(2 * MS, 3) == GREEN


def test_committed_rate_above_peak_is_rejected() -> None:
    with pytest.raises(ControlPlaneError) as exc:
        TwoRateThreeColor(cir=10, cburst=1, pir=5, pburst=1)
    assert exc.value.code == "INVALID_ARGUMENT"


def test_meter_array_is_green_until_configured_and_guards_indexes() -> None:
    meters = MeterArray("MyIngress.m", 4, "PACKETS")
    assert meters.execute(1, 0, 64) == GREEN
    meters.configure(1, 0, 0, 0, 1)
    assert meters.config(1) == (0, 0, 0, 1)
    assert meters.execute(1, 0, 64) == YELLOW
    assert meters.execute(1, 0, 64) == RED
    assert meters.execute(99, 0, 64) == GREEN  # data plane: no effect
    with pytest.raises(ControlPlaneError) as exc:
        meters.configure(4, 1, 1, 1, 1)
    assert exc.value.code == "OUT_OF_RANGE"
    meters.unconfigure(1)
    assert meters.config(1) is None
    assert meters.execute(1, 0, 64) == GREEN


def test_counter_array_counts_and_guards_indexes() -> None:
    counters = CounterArray("MyIngress.c", 2)
    counters.count(0, 64)
    counters.count(0, 100)
    counters.count(5, 100)  # data plane: out of range has no effect
    assert counters.read(0) == (2, 164)
    assert counters.read(1) == (0, 0)
    counters.write(1, 10, 1000)
    assert counters.read(1) == (10, 1000)
    with pytest.raises(ControlPlaneError) as exc:
        counters.read(2)
    assert exc.value.code == "OUT_OF_RANGE"
    counters.reset()
    assert counters.read(1) == (0, 0)


def test_register_array_masks_to_its_width() -> None:
    regs = RegisterArray("MyIngress.r", 3, 8)
    regs.store(0, 0x1FF)
    assert regs.load(0) == 0xFF
    regs.store(7, 1)  # data plane: no effect
    assert regs.load(7) == 0
    regs.write(1, 0x7F)
    assert regs.read(1) == 0x7F
    with pytest.raises(ControlPlaneError) as exc:
        regs.write(1, 0x100)
    assert exc.value.code == "INVALID_ARGUMENT"
    with pytest.raises(ControlPlaneError) as exc:
        regs.read(3)
    assert exc.value.code == "OUT_OF_RANGE"
