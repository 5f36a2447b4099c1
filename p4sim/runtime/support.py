"""Helpers the generated pipeline code calls: control-flow signals, header
stacks, value sets and the few operators too long to inline.

The code generator (`p4sim/passes/codegen.py`) inlines everything else; what
is here is either shared state (a stack's next index) or rare enough that a
function call does not matter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ONCE = (None,)  # `for _ in ONCE:` gives inlined bodies a `break` target for `return`


class ExitSignal(Exception):
    """`exit`: ends the current parser or control and every caller."""


class ParserReject(Exception):
    """A parser error: carries the `error` code for `parser_error`."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class AssertFailed(Exception):
    """A v1model `assert`/`assume` that did not hold: the packet is dropped."""


class PacketIn:
    """The `packet_in` a parser reads: bytes and a byte cursor."""

    __slots__ = ("data", "off")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.off = 0


class PacketOut:
    """The `packet_out` a deparser writes: emitted header bytes in order."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []


class Stack:
    """A header stack: `hs` holds `size` headers, `nxt_i` is P4's nextIndex."""

    __slots__ = ("hs", "make", "nxt_i", "oob", "size")

    def __init__(self, make: Callable[[], Any], size: int, oob_code: int) -> None:
        self.make = make
        self.size = size
        self.hs = [make() for _ in range(size)]
        self.nxt_i = 0
        self.oob = oob_code

    def nxt(self) -> Any:
        if self.nxt_i >= self.size:
            raise ParserReject(self.oob)
        return self.hs[self.nxt_i]

    def last(self) -> Any:
        if self.nxt_i == 0 or self.nxt_i > self.size:
            raise ParserReject(self.oob)
        return self.hs[self.nxt_i - 1]

    def at(self, index: int) -> Any:
        """A run-time index: out of range reads a fresh invalid header and
        writes go nowhere (bmv2 leaves such accesses undefined)."""
        if 0 <= index < self.size:
            return self.hs[index]
        return self.make()

    def push_front(self, count: int) -> None:
        count = min(count, self.size)
        if count:
            self.hs = [self.make() for _ in range(count)] + self.hs[: self.size - count]
        self.nxt_i = min(self.nxt_i + count, self.size)

    def pop_front(self, count: int) -> None:
        count = min(count, self.size)
        if count:
            self.hs = self.hs[count:] + [self.make() for _ in range(count)]
        self.nxt_i = max(self.nxt_i - count, 0)

    def copy(self) -> Stack:
        new = Stack.__new__(Stack)
        new.make = self.make
        new.size = self.size
        new.oob = self.oob
        new.hs = [h.copy() for h in self.hs]
        new.nxt_i = self.nxt_i
        return new

    def assign(self, other: Stack) -> None:
        for mine, theirs in zip(self.hs, other.hs, strict=True):
            mine.assign(theirs)
        self.nxt_i = other.nxt_i

    def invalidate(self) -> None:
        for h in self.hs:
            h.invalidate()  # a header, or a header_union (all its members)
        self.nxt_i = 0

    def emit(self, parts: list[bytes]) -> None:
        for h in self.hs:
            h.emit(parts)


class ValueSet:
    """A parser `value_set`: the control plane fills it with (value, mask)
    members, one pair per select expression."""

    def __init__(self, name: str, size: int, widths: tuple[int, ...]) -> None:
        self.name = name
        self.size = size
        self.widths = widths
        self.members: list[tuple[tuple[int, int], ...]] = []

    def add(self, member: tuple[tuple[int, int], ...]) -> None:
        from p4sim.errors import ControlPlaneError

        if len(member) != len(self.widths):
            raise ControlPlaneError("INVALID_ARGUMENT", f"value_set {self.name} takes "
                                    f"{len(self.widths)} values per member")
        if member in self.members:
            raise ControlPlaneError("ALREADY_EXISTS", f"member already in {self.name}")
        if len(self.members) >= self.size:
            raise ControlPlaneError("RESOURCE_EXHAUSTED", f"value_set {self.name} is full")
        self.members.append(member)

    def remove(self, member: tuple[tuple[int, int], ...]) -> None:
        from p4sim.errors import ControlPlaneError

        if member not in self.members:
            raise ControlPlaneError("NOT_FOUND", f"member not in {self.name}")
        self.members.remove(member)

    def clear(self) -> None:
        self.members.clear()

    def matches(self, *values: int) -> bool:
        for member in self.members:
            for v, (value, mask) in zip(values, member, strict=True):
                if v & mask != value & mask:
                    break
            else:
                return True
        return False


def equal(a: Any, b: Any) -> bool:
    """`==` on headers, structs, unions and stacks (P4_16 8.17): invalid
    headers are equal to each other whatever their fields hold."""
    if isinstance(a, Stack):
        return all(equal(x, y) for x, y in zip(a.hs, b.hs, strict=True))
    slots = type(a).__slots__
    if "_v" in slots and not (a._v and b._v):
        return bool(a._v) == bool(b._v)
    for name in slots:
        if name == "_v":
            continue
        x, y = getattr(a, name), getattr(b, name)
        if hasattr(x, "__slots__") or isinstance(x, Stack):
            if not equal(x, y):
                return False
        elif isinstance(x, tuple):  # a varbit (length, value): bmv2 compares values
            if x[1] != y[1]:
                return False
        elif x != y:
            return False
    return True


def shl(value: int, amount: int, width: int) -> int:
    """`value << amount` in `width` bits, without building huge ints."""
    if amount >= width:
        return 0
    return (value << amount) & ((1 << width) - 1)


def div(a: int, b: int) -> int:
    return a // b if b else 0


def mod(a: int, b: int) -> int:
    return a % b if b else 0


def sat_signed(value: int, width: int) -> int:
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return min(max(value, lo), hi) & ((1 << width) - 1)


def lookahead(data: bytes, off: int, bits: int, too_short: int) -> int:
    nbytes = (bits + 7) // 8
    if off + nbytes > len(data):
        raise ParserReject(too_short)
    return int.from_bytes(data[off:off + nbytes], "big") >> (nbytes * 8 - bits)
