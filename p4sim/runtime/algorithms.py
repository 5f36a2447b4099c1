"""The hash and checksum algorithms behind v1model's `hash`, `verify_checksum`
and `update_checksum`, with bmv2's parameters so results match bmv2's.

bmv2 (`src/bm_sim/calculations.cpp`) defines them as:

- `crc16`: CRC-16/ARC: polynomial 0x8005, initial remainder 0, input and
  output reflected, no final xor ("123456789" -> 0xBB3D);
- `crc32`: the common CRC-32: polynomial 0x04C11DB7, initial remainder and
  final xor 0xFFFFFFFF, reflected ("123456789" -> 0xCBF43926);
- `crc16_custom` / `crc32_custom`: table CRCs whose parameters the control
  plane may change; until then they equal `crc16` / `crc32`;
- `csum16`: the Internet checksum (RFC 1071): ones' complement of the ones'
  complement sum of big-endian 16-bit words, an odd last byte padded with 0;
- `xor16`: xor of the big-endian 16-bit words, the last one padded with 0;
- `identity`: the first (up to) 8 bytes read as a big-endian integer.

`random` has no bmv2 counterpart (bmv2 rejects it); here it draws from a
seeded generator so runs are repeatable.

Inputs are bytes: `pack_fields` concatenates the field values bit by bit, in
order, and pads the end with zero bits to a whole byte, as bmv2's calculation
input builder does. (So `identity` of one 9-bit field is the value shifted
left by 7, exactly as on bmv2.) bmv2 skips the fields of invalid headers:
callers leave those out of `values`.
"""

from __future__ import annotations

import random
import sys
from array import array
from collections.abc import Callable, Sequence
from functools import reduce
from operator import xor


def pack_fields(values: Sequence[int], widths: Sequence[int]) -> bytes:
    acc = 0
    total = 0
    for value, width in zip(values, widths, strict=True):
        acc = (acc << width) | (value & ((1 << width) - 1))
        total += width
    pad = -total % 8
    return (acc << pad).to_bytes((total + pad) // 8, "big")


def _reflect(value: int, nbits: int) -> int:
    result = 0
    for _ in range(nbits):
        result = (result << 1) | (value & 1)
        value >>= 1
    return result


_REFLECT8 = [_reflect(b, 8) for b in range(256)]


class Crc:
    """A table-driven CRC computed as bmv2's `crc_custom` does: the table is
    built from the unreflected polynomial, input bytes are reflected first
    when `reflect_in`, the remainder at the end when `reflect_out`.

    When both are reflected (crc16 and crc32) the remainder is kept
    reflected instead, with a table of reflected entries: the same result
    without reflecting every byte and the remainder (a third of the
    forwarder's hash time on p4sim, which hashes every steered packet)."""

    def __init__(
        self,
        width: int,
        polynomial: int,
        init: int,
        xor_out: int,
        reflect_in: bool,
        reflect_out: bool,
    ) -> None:
        self.width = width
        self.configure(polynomial, init, xor_out, reflect_in, reflect_out)

    def configure(
        self, polynomial: int, init: int, xor_out: int, reflect_in: bool, reflect_out: bool
    ) -> None:
        mask = (1 << self.width) - 1
        if max(polynomial, init, xor_out) > mask or min(polynomial, init, xor_out) < 0:
            raise ValueError(f"crc{self.width} parameters must fit in {self.width} bits")
        self.polynomial = polynomial
        self.init = init
        self.xor_out = xor_out
        self.reflect_in = reflect_in
        self.reflect_out = reflect_out
        top = 1 << (self.width - 1)
        table = []
        for dividend in range(256):
            remainder = dividend << (self.width - 8)
            for _ in range(8):
                remainder = ((remainder << 1) ^ polynomial) if remainder & top else remainder << 1
            table.append(remainder & mask)
        self._table = table
        self._reflected = (
            [_reflect(table[_REFLECT8[i]], self.width) for i in range(256)]
            if reflect_in and reflect_out
            else None
        )
        self._reflected_init = _reflect(init, self.width)

    def __call__(self, data: bytes) -> int:
        if self._reflected is not None:
            reflected = self._reflected
            remainder = self._reflected_init
            for byte in data:
                remainder = reflected[(remainder ^ byte) & 0xFF] ^ (remainder >> 8)
            return remainder ^ self.xor_out
        table = self._table
        shift = self.width - 8
        mask = (1 << self.width) - 1
        remainder = self.init
        for byte in data:
            if self.reflect_in:
                byte = _REFLECT8[byte]
            remainder = (table[byte ^ (remainder >> shift)] ^ (remainder << 8)) & mask
        if self.reflect_out:
            remainder = _reflect(remainder, self.width)
        return remainder ^ self.xor_out


def _words16(data: bytes) -> array[int]:
    if len(data) % 2:
        data += b"\x00"
    words = array("H", data)
    if sys.byteorder == "little":
        words.byteswap()
    return words


def csum16(data: bytes) -> int:
    total = sum(_words16(data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def csum16_int(value: int, nbytes: int) -> int:
    """`csum16` of `value` as `nbytes` big-endian bytes, without making the
    bytes (ten times faster for an IPv4 header). Since 2**16 is 1 modulo
    0xFFFF, the ones' complement sum of the 16-bit words is the value modulo
    0xFFFF, except that a non-zero multiple of 0xFFFF sums to 0xFFFF."""
    if nbytes % 2:
        value <<= 8  # the zero pad byte `csum16` appends
    total = value % 0xFFFF
    if not total and value:
        total = 0xFFFF
    return ~total & 0xFFFF


def xor16(data: bytes) -> int:
    return reduce(xor, _words16(data), 0)


def identity(data: bytes) -> int:
    return int.from_bytes(data[:8], "big")


_RANDOM = random.Random(0)


def seed_random(seed: int) -> None:
    """Restart the `random` algorithm's sequence (tests, repeatable runs)."""
    _RANDOM.seed(seed)


def random_hash(data: bytes) -> int:
    return _RANDOM.getrandbits(32)


CRC16 = Crc(16, 0x8005, 0x0000, 0x0000, True, True)
CRC32 = Crc(32, 0x04C11DB7, 0xFFFFFFFF, 0xFFFFFFFF, True, True)
# The control plane may reconfigure these two (bmv2's `set_crc16_parameters` /
# `set_crc32_parameters`); here one setting per algorithm, not per calculation.
CRC16_CUSTOM = Crc(16, 0x8005, 0x0000, 0x0000, True, True)
CRC32_CUSTOM = Crc(32, 0x04C11DB7, 0xFFFFFFFF, 0xFFFFFFFF, True, True)

HASH_ALGORITHMS: dict[str, Callable[[bytes], int]] = {
    "crc16": CRC16,
    "crc32": CRC32,
    "crc16_custom": CRC16_CUSTOM,
    "crc32_custom": CRC32_CUSTOM,
    "csum16": csum16,
    "xor16": xor16,
    "identity": identity,
    "random": random_hash,
}
