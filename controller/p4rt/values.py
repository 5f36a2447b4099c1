"""Readable values to P4Runtime's canonical byte strings and back.

People and topology files write `10.0.0.0/8`, `aa:bb:cc:dd:ee:ff`, `80` or
`0x1f`; P4Runtime wants the shortest big-endian byte string of the value
(one byte for zero) and rejects values wider than the field. This module is
the one place that converts, and checks widths, for the whole client.
"""

from __future__ import annotations

import ipaddress
import re

from controller.p4rt.errors import ValueFormatError

Readable = int | str | bytes

_MAC_RE = re.compile(r"^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2})+$")
_IPV4_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def parse_int(value: Readable) -> int:
    """The non-negative integer a readable value stands for.

    Accepted: a Python int, big-endian bytes, or text: a dotted IPv4 address,
    colon-separated hex bytes (a MAC address), an IPv6 address, `0x`/`0o`/`0b` numbers or a
    decimal number (underscores allowed in numbers).
    """
    if isinstance(value, bool):
        raise ValueFormatError(f"{value!r} is a bool, not a field value")
    if isinstance(value, int):
        if value < 0:
            raise ValueFormatError(f"{value} is negative; P4Runtime values are unsigned")
        return value
    if isinstance(value, bytes):
        if not value:
            raise ValueFormatError("an empty byte string is not a value")
        return int.from_bytes(value, "big")
    text = value.strip()
    if _IPV4_RE.match(text):
        try:
            return int(ipaddress.IPv4Address(text))
        except ipaddress.AddressValueError as exc:
            raise ValueFormatError(f"{value!r} is not an IPv4 address: {exc}") from None
    if _MAC_RE.match(text):
        return int("".join(f"{int(part, 16):02x}" for part in text.split(":")), 16)
    if ":" in text:
        try:
            return int(ipaddress.IPv6Address(text))
        except ipaddress.AddressValueError as exc:
            raise ValueFormatError(f"{value!r} is not an IPv6 address: {exc}") from None
    try:
        number = int(text, 0) if text[:2].lower() in ("0x", "0o", "0b") else int(text, 10)
    except ValueError:
        raise ValueFormatError(
            f"{value!r} is not an IPv4 or IPv6 address, a MAC address or a number"
        ) from None
    if number < 0:
        raise ValueFormatError(f"{value!r} is negative; P4Runtime values are unsigned")
    return number


def parse_prefix(value: Readable) -> tuple[int, int | None]:
    """A value with an optional `/length` suffix (`10.0.0.0/8`); the length is
    None when absent (the caller takes the full field width)."""
    if isinstance(value, str) and "/" in value:
        address, _, length = value.partition("/")
        try:
            prefix_len = int(length, 10)
        except ValueError:
            raise ValueFormatError(f"{value!r}: prefix length {length!r} is not a number") from None
        return parse_int(address), prefix_len
    return parse_int(value), None


def parse_masked(value: Readable) -> tuple[int, int | None]:
    """A ternary value written `value&&&mask` (P4 syntax); the mask is None
    when absent (the caller takes all ones)."""
    if isinstance(value, str) and "&&&" in value:
        data, _, mask = value.partition("&&&")
        return parse_int(data), parse_int(mask)
    return parse_int(value), None


def parse_range(value: Readable) -> tuple[int, int]:
    """A range written `low..high` (P4 syntax); a single value is a range of one."""
    if isinstance(value, str) and ".." in value:
        low, _, high = value.partition("..")
        return parse_int(low), parse_int(high)
    number = parse_int(value)
    return number, number


def check_width(value: int, bitwidth: int, what: str) -> int:
    """`value` itself when it fits in `bitwidth` bits; otherwise an error naming `what`."""
    if value < 0 or value >> bitwidth:
        raise ValueFormatError(f"{what}: {value:#x} does not fit in {bitwidth} bits")
    return value


def encode(value: int, bitwidth: int, what: str) -> bytes:
    """The canonical P4Runtime byte string of `value` for a `bitwidth`-bit field."""
    check_width(value, bitwidth, what)
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def decode(data: bytes, bitwidth: int, what: str) -> int:
    """The integer in a P4Runtime byte string (canonical or padded) for a
    `bitwidth`-bit field; an error if the value is wider than the field."""
    if not data:
        raise ValueFormatError(f"{what}: empty byte string")
    return check_width(int.from_bytes(data, "big"), bitwidth, what)


def format_ipv4(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def format_ipv6(value: int) -> str:
    return str(ipaddress.IPv6Address(value))


def format_mac(value: int) -> str:
    raw = value.to_bytes(6, "big")
    return ":".join(f"{b:02x}" for b in raw)
