"""Hash and checksum algorithms give bmv2's values for the same input bytes."""

from __future__ import annotations

import random

import pytest

from p4sim.runtime.algorithms import (
    CRC16_CUSTOM,
    CRC32_CUSTOM,
    HASH_ALGORITHMS,
    Crc,
    csum16,
    csum16_int,
    pack_fields,
    seed_random,
)

CHECK = b"123456789"  # the usual CRC catalogue check string

# The IPv4 header of RFC 1071-style worked examples, checksum field zeroed.
IPV4_HEADER = bytes.fromhex("4500003c1c46400040060000ac100a63ac100a0c")


def test_crc32_is_the_common_crc32() -> None:
    assert HASH_ALGORITHMS["crc32"](CHECK) == 0xCBF43926


def test_crc16_is_crc16_arc_as_in_bmv2() -> None:
    # bmv2's table_crc16 is built from polynomial 0x8005 with reflected input
    # and output and a zero initial remainder: CRC-16/ARC.
    assert HASH_ALGORITHMS["crc16"](CHECK) == 0xBB3D


def test_custom_crcs_default_to_the_plain_ones() -> None:
    assert HASH_ALGORITHMS["crc16_custom"](CHECK) == 0xBB3D
    assert HASH_ALGORITHMS["crc32_custom"](CHECK) == 0xCBF43926


@pytest.mark.parametrize(
    ("crc", "expected"),
    [
        (Crc(16, 0x1021, 0xFFFF, 0x0000, False, False), 0x29B1),  # CRC-16/CCITT-FALSE
        (Crc(16, 0x8005, 0xFFFF, 0x0000, True, True), 0x4B37),  # CRC-16/MODBUS
        (Crc(32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, True, True), 0xE3069283),  # CRC-32C
        (Crc(32, 0x04C11DB7, 0xFFFFFFFF, 0xFFFFFFFF, False, False), 0xFC891918),  # BZIP2
        # Reflected with an initial value that is not its own mirror image
        (Crc(16, 0x1021, 0xB2AA, 0x0000, True, True), 0x63D0),  # CRC-16/RIELLO
        (Crc(16, 0x1021, 0x89EC, 0x0000, True, True), 0x26B1),  # CRC-16/TMS37157
        (Crc(16, 0x8005, 0x0000, 0x0000, True, False), 0xBCDD),  # ARC unreflected: 0xBB3D mirrored
    ],
)
def test_configured_crcs_match_the_crc_catalogue(crc: Crc, expected: int) -> None:
    assert crc(CHECK) == expected


def test_reconfiguring_a_custom_crc_changes_the_hash_algorithm() -> None:
    try:
        CRC16_CUSTOM.configure(0x1021, 0xFFFF, 0x0000, False, False)
        assert HASH_ALGORITHMS["crc16_custom"](CHECK) == 0x29B1
        assert HASH_ALGORITHMS["crc16"](CHECK) == 0xBB3D
    finally:
        CRC16_CUSTOM.configure(0x8005, 0, 0, True, True)
        CRC32_CUSTOM.configure(0x04C11DB7, 0xFFFFFFFF, 0xFFFFFFFF, True, True)


def test_crc_parameters_must_fit_the_width() -> None:
    with pytest.raises(ValueError, match="fit in 16 bits"):
        Crc(16, 0x18005, 0, 0, True, True)


def test_csum16_is_the_internet_checksum() -> None:
    checksum = HASH_ALGORITHMS["csum16"](IPV4_HEADER)
    assert checksum == 0xB1E6
    filled = IPV4_HEADER[:10] + checksum.to_bytes(2, "big") + IPV4_HEADER[12:]
    assert HASH_ALGORITHMS["csum16"](filled) == 0


def test_csum16_pads_an_odd_byte_at_the_end() -> None:
    assert HASH_ALGORITHMS["csum16"](b"\x01") == 0xFEFF
    assert HASH_ALGORITHMS["csum16"](b"") == 0xFFFF


def test_xor16_xors_big_endian_words_padding_the_last() -> None:
    assert HASH_ALGORITHMS["xor16"](bytes.fromhex("12345678")) == 0x1234 ^ 0x5678
    assert HASH_ALGORITHMS["xor16"](bytes.fromhex("123456")) == 0x1234 ^ 0x5600


def test_identity_reads_the_first_eight_bytes() -> None:
    assert HASH_ALGORITHMS["identity"](bytes.fromhex("0a000001")) == 0x0A000001
    assert HASH_ALGORITHMS["identity"](bytes(range(1, 11))) == 0x0102030405060708


def test_pack_fields_concatenates_bits_and_pads_the_end() -> None:
    assert pack_fields([0x0A000001, 0x0A000002], [32, 32]) == bytes.fromhex("0a0000010a000002")
    # 1 + 9 bits -> 10 bits, padded with 6 zero bits at the end
    assert pack_fields([1, 0x1FF], [1, 9]) == bytes.fromhex("ffc0")
    # values wider than their field are cut to the field
    assert pack_fields([0x1FF], [8]) == b"\xff"


def test_identity_of_a_nine_bit_field_is_shifted_like_on_bmv2() -> None:
    assert HASH_ALGORITHMS["identity"](pack_fields([3], [9])) == 3 << 7


def test_random_is_repeatable_after_seeding() -> None:
    seed_random(42)
    first = [HASH_ALGORITHMS["random"](b"") for _ in range(3)]
    seed_random(42)
    assert [HASH_ALGORITHMS["random"](b"") for _ in range(3)] == first
    assert len(set(first)) > 1


def test_csum16_of_an_integer_matches_csum16_of_its_bytes() -> None:
    """The generated pipeline checksums headers as integers; the special
    cases are all zeros and sums that are multiples of 0xFFFF."""
    rng = random.Random(7)
    cases = [(0, 0), (0, 5), (0xFFFF, 2), (0xFFFF0000, 4), (0xFFFFFF, 3), (0x1FFFE, 4)]
    for _ in range(2000):
        n = rng.randint(1, 41)
        value = rng.getrandbits(8 * n)
        if rng.random() < 0.1:
            value = (0xFFFF * rng.getrandbits(8 * n)) % (1 << (8 * n))
        cases.append((value, n))
    for value, n in cases:
        assert csum16_int(value, n) == csum16(value.to_bytes(n, "big")), (hex(value), n)
