"""The CRCs and the internet checksum, computed bit by bit and apart from
p4sim's table-driven implementations, for tests that predict a switch's
hashes and checksums."""

from __future__ import annotations

import zlib


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC (poly 0x8005 reflected, init 0, no final xor): bmv2's `crc16`."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def crc32(data: bytes) -> int:
    """CRC-32 as zlib computes it: bmv2's `crc32`."""
    return zlib.crc32(data) & 0xFFFFFFFF


def ones_sum(data: bytes) -> int:
    """RFC 1071 one's-complement sum of 16-bit words (odd length zero-padded)."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def csum16(data: bytes) -> int:
    """The internet checksum of `data`: bmv2's `csum16`."""
    return ~ones_sum(data) & 0xFFFF
