"""Two-rate three-colour marker (RFC 2698), computed the way bmv2 does.

bmv2 keeps one token bucket per rate and refills it from a single time origin
rather than from the previous packet: the tokens a bucket has earned are
`floor(microseconds since origin * rate per microsecond)`, and a packet takes
only what was earned since the last packet. Reproducing that arithmetic
(microsecond ticks, a float rate, truncation to whole tokens) keeps colours
identical to bmv2's for the same packet times.

The peak bucket is checked first: too few peak tokens makes the packet RED and
takes nothing; otherwise the peak bucket pays and the committed bucket is
checked: too few committed tokens makes it YELLOW, else it pays too and the
packet is GREEN. A meter that was never configured marks everything GREEN.
"""

from __future__ import annotations

from p4sim.errors import ControlPlaneError

GREEN = 0
YELLOW = 1
RED = 2

UNITS = ("PACKETS", "BYTES")


class _Bucket:
    __slots__ = ("burst", "earned", "per_us", "tokens")

    def __init__(self, rate_per_s: int, burst: int) -> None:
        self.per_us = rate_per_s / 1_000_000
        self.burst = burst
        self.tokens = burst
        self.earned = 0

    def refill(self, us_since_origin: int) -> None:
        earned = int(us_since_origin * self.per_us)
        self.tokens = min(self.tokens + earned - self.earned, self.burst)
        self.earned = earned


class TwoRateThreeColor:
    """One meter cell. Rates are per second (packets or bytes, as P4Runtime's
    MeterConfig gives them), bursts in packets or bytes. `origin_ns` is the
    instant bmv2 would have created the meter: refills count from it."""

    __slots__ = ("cburst", "cir", "committed", "origin_ns", "pburst", "peak", "pir", "unit")

    def __init__(
        self,
        cir: int,
        cburst: int,
        pir: int,
        pburst: int,
        unit: str = "BYTES",
        *,
        origin_ns: int = 0,
    ) -> None:
        if unit not in UNITS:
            raise ControlPlaneError("INVALID_ARGUMENT", f"meter unit must be one of {UNITS}")
        if min(cir, cburst, pir, pburst) < 0:
            raise ControlPlaneError(
                "INVALID_ARGUMENT", "meter rates and bursts must not be negative"
            )
        if cir > pir:
            raise ControlPlaneError(
                "INVALID_ARGUMENT", f"meter committed rate {cir} exceeds peak rate {pir}"
            )
        self.cir, self.cburst, self.pir, self.pburst = cir, cburst, pir, pburst
        self.unit = unit
        self.origin_ns = origin_ns
        self.peak = _Bucket(pir, pburst)
        self.committed = _Bucket(cir, cburst)

    def execute(self, now_ns: int, size: int) -> int:
        """Colour one packet seen at `now_ns`; `size` is its length in bytes
        (bmv2 uses the length the packet had on ingress) and is ignored by a
        packets meter."""
        amount = 1 if self.unit == "PACKETS" else size
        us = max(now_ns - self.origin_ns, 0) // 1000
        peak = self.peak
        peak.refill(us)
        if peak.tokens < amount:
            return RED
        peak.tokens -= amount
        committed = self.committed
        committed.refill(us)
        if committed.tokens < amount:
            return YELLOW
        committed.tokens -= amount
        return GREEN
