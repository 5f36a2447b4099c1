"""P4Runtime byte strings <-> Python ints.

P4Runtime (spec section "Bytestrings") carries every P4 integer as a
big-endian byte string. A receiver must accept any length as long as the
value fits the P4Info bitwidth (so leading zero bytes are fine: a client
written for a narrower field keeps working), must reject a value that does
not fit with OUT_OF_RANGE, and a sender uses the shortest string (the
canonical form, `b"\\x00"` for zero) so that what a client reads back
compares equal to what it would have written.
"""

from __future__ import annotations

from p4sim.errors import ControlPlaneError


def decode(value: bytes, bitwidth: int, what: str) -> int:
    """The unsigned value of `value`, checked against `bitwidth`.

    `what` names the field for the error message, e.g.
    "table MyIngress.fwd: match field hdr.ipv4.dstAddr".
    """
    if not value:
        raise ControlPlaneError("INVALID_ARGUMENT", f"{what}: empty byte string")
    number = int.from_bytes(value, "big")
    if number >> bitwidth:
        # A long value is shown by its head and size: the whole of it could
        # overflow gRPC's status trailer and turn the answer into an error.
        shown = f"0x{value.hex()}"
        if len(value) > 32:
            shown = f"0x{value[:16].hex()}... ({len(value)} bytes)"
        raise ControlPlaneError(
            "OUT_OF_RANGE",
            f"{what}: value {shown} does not fit in {bitwidth} bits",
        )
    return number


def encode(number: int) -> bytes:
    """The canonical (shortest) byte string of a non-negative int."""
    return number.to_bytes(max(1, (number.bit_length() + 7) >> 3), "big")
