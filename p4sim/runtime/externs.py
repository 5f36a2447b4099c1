"""Indexed extern arrays: `counter`, `register` and `meter`.

Each array has two faces. The control plane (`read`, `write`, `configure`...)
gets a `ControlPlaneError("OUT_OF_RANGE")` for a bad index, which P4Runtime
and the STF runner report. The data plane (`count`, `load`, `store`,
`execute`) follows bmv2 instead: a bad index has no effect and reads give 0,
so a packet never crashes the pipeline.
"""

from __future__ import annotations

from p4sim.errors import ControlPlaneError
from p4sim.runtime.meters import GREEN, TwoRateThreeColor

COUNTER_UNITS = ("PACKETS", "BYTES", "BOTH")


def _check_index(kind: str, name: str, index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ControlPlaneError(
            "OUT_OF_RANGE", f"{kind} {name}: index {index} is outside 0..{size - 1}"
        )


class CounterArray:
    """`counter(size, type)`: packet and byte counts per index (both are kept
    whatever the unit, which only says what P4Info advertises)."""

    def __init__(self, name: str, size: int, unit: str = "BOTH") -> None:
        if unit not in COUNTER_UNITS:
            raise ValueError(f"counter {name}: unit must be one of {COUNTER_UNITS}, got {unit}")
        self.name = name
        self.size = size
        self.unit = unit
        self.packets = [0] * size
        self.bytes = [0] * size

    def __len__(self) -> int:
        return self.size

    def count(self, index: int, nbytes: int) -> None:
        if 0 <= index < self.size:
            self.packets[index] += 1
            self.bytes[index] += nbytes

    def read(self, index: int) -> tuple[int, int]:
        _check_index("counter", self.name, index, self.size)
        return self.packets[index], self.bytes[index]

    def write(self, index: int, packets: int, nbytes: int) -> None:
        _check_index("counter", self.name, index, self.size)
        if packets < 0 or nbytes < 0:
            raise ControlPlaneError(
                "INVALID_ARGUMENT", f"counter {self.name}: counts must not be negative"
            )
        self.packets[index] = packets
        self.bytes[index] = nbytes

    def reset(self) -> None:
        self.packets[:] = [0] * self.size
        self.bytes[:] = [0] * self.size


class RegisterArray:
    """`register<bit<W>>(size)`: every stored value is masked to W bits (a
    signed register holds its two's-complement bit pattern)."""

    def __init__(self, name: str, size: int, width: int) -> None:
        self.name = name
        self.size = size
        self.width = width
        self.mask = (1 << width) - 1
        self.values = [0] * size

    def __len__(self) -> int:
        return self.size

    def load(self, index: int) -> int:
        if 0 <= index < self.size:
            return self.values[index]
        return 0

    def store(self, index: int, value: int) -> None:
        if 0 <= index < self.size:
            self.values[index] = value & self.mask

    def read(self, index: int) -> int:
        _check_index("register", self.name, index, self.size)
        return self.values[index]

    def write(self, index: int, value: int) -> None:
        _check_index("register", self.name, index, self.size)
        if not 0 <= value <= self.mask:
            raise ControlPlaneError(
                "INVALID_ARGUMENT",
                f"register {self.name}: value {value:#x} does not fit in {self.width} bits",
            )
        self.values[index] = value

    def reset(self) -> None:
        self.values[:] = [0] * self.size


class MeterArray:
    """`meter(size, type)`: one two-rate three-colour marker per index; an
    index the control plane never configured marks every packet GREEN."""

    def __init__(self, name: str, size: int, unit: str = "BYTES", *, origin_ns: int = 0) -> None:
        self.name = name
        self.size = size
        self.unit = unit
        self.origin_ns = origin_ns
        self.cells: list[TwoRateThreeColor | None] = [None] * size

    def __len__(self) -> int:
        return self.size

    def configure(self, index: int, cir: int, cburst: int, pir: int, pburst: int) -> None:
        _check_index("meter", self.name, index, self.size)
        self.cells[index] = TwoRateThreeColor(
            cir, cburst, pir, pburst, self.unit, origin_ns=self.origin_ns
        )

    def config(self, index: int) -> tuple[int, int, int, int] | None:
        """(cir, cburst, pir, pburst) of a configured index, else None."""
        _check_index("meter", self.name, index, self.size)
        cell = self.cells[index]
        return None if cell is None else (cell.cir, cell.cburst, cell.pir, cell.pburst)

    def unconfigure(self, index: int) -> None:
        _check_index("meter", self.name, index, self.size)
        self.cells[index] = None

    def execute(self, index: int, now_ns: int, size: int) -> int:
        if 0 <= index < self.size:
            cell = self.cells[index]
            if cell is not None:
                return cell.execute(now_ns, size)
        return GREEN
