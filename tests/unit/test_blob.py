"""The sealed handoff blob: round trips, field limits, and every way a blob is refused."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from handoff_samples import FORWARDER, KEY, KEY_ID, KEYS, make_handoff

from controller.handoff.blob import (
    HEADER_LEN,
    MAC_LEN,
    VERSION,
    Abort,
    BlobError,
    Commit,
    Envelope,
    Kind,
    Message,
    Ping,
    Reason,
    Release,
    seal,
    sealed_nonce,
    unseal,
)
from controller.handoff.keys import KeyFileError, Keyring, load_keys, parse_keys
from controller.handoff.replay import ReplayWindow

NONCE = bytes(range(100, 116))
CREATED = 1_790_000_000_123


def sealed(message: Message, **kwargs: Any) -> bytes:
    kwargs.setdefault("created_ms", CREATED)
    kwargs.setdefault("nonce", NONCE)
    return seal(message, KEYS, **kwargs)


def reason_of(data: bytes, keys: Keyring = KEYS, **kwargs: Any) -> Reason:
    with pytest.raises(BlobError) as info:
        unseal(data, keys, **kwargs)
    return info.value.reason


def remac(unsigned: bytes, key: bytes = KEY) -> bytes:
    """Append a valid MAC to a hand-built header and body (length field already set)."""
    return unsigned + hmac.digest(key, unsigned, hashlib.sha256)


def rebuild(blob: bytes, body: bytes | None = None, **header: int) -> bytes:
    """Re-sign `blob` with header fields or body replaced, fixing the total length."""
    magic, version, kind, key_id, _, nonce, created = struct.unpack_from(">4sBBHI16sQ", blob)
    fields = {"version": version, "kind": kind, "key_id": key_id, "created": created}
    fields.update(header)
    new_body = blob[HEADER_LEN:-MAC_LEN] if body is None else body
    total = HEADER_LEN + len(new_body) + MAC_LEN
    head = struct.pack(
        ">4sBBHI16sQ",
        magic,
        fields["version"],
        fields["kind"],
        fields["key_id"],
        total,
        nonce,
        fields["created"],
    )
    return remac(head + new_body)


# ---------------------------------------------------------------- round trips


def test_handoff_round_trips_with_every_field() -> None:
    handoff = make_handoff(send_unacked=b"sent but not acked", send_unsent=b"not yet sent")
    envelope = unseal(sealed(handoff), KEYS)
    assert envelope == Envelope(key_id=KEY_ID, nonce=NONCE, created_ms=CREATED, message=handoff)


def test_ipv6_handoff_round_trips() -> None:
    handoff = make_handoff(
        forwarder="2001:db8::1", client_ip="2001:db8:1::10", vip_ip="2001:db8::64"
    )
    assert unseal(sealed(handoff), KEYS).message == handoff


def test_release_round_trips() -> None:
    release = Release(flow_id=0xDEADBEEF, forwarder_ip=FORWARDER)
    blob = sealed(release)
    assert len(blob) == HEADER_LEN + 10 + MAC_LEN
    assert unseal(blob, KEYS).message == release


def test_abort_round_trips_and_names_the_handoff_by_its_nonce() -> None:
    handoff_blob = seal(make_handoff(), KEYS)
    abort = Abort(flow_id=5, forwarder_ip=FORWARDER, handoff_nonce=sealed_nonce(handoff_blob))
    assert abort.handoff_nonce == unseal(handoff_blob, KEYS).nonce
    blob = sealed(abort)
    assert blob[5] == 3 and len(blob) == HEADER_LEN + 10 + 16 + MAC_LEN
    assert unseal(blob, KEYS).message == abort


def test_commit_round_trips_and_names_the_handoff_by_its_nonce() -> None:
    handoff_blob = seal(make_handoff(), KEYS)
    commit = Commit(flow_id=5, forwarder_ip=FORWARDER, handoff_nonce=sealed_nonce(handoff_blob))
    blob = sealed(commit)
    assert blob[5] == 5 and len(blob) == HEADER_LEN + 10 + 16 + MAC_LEN
    assert unseal(blob, KEYS).message == commit
    # The same body as an abort: only the authenticated kind tells them apart.
    as_abort = sealed(Abort(flow_id=5, forwarder_ip=FORWARDER, handoff_nonce=commit.handoff_nonce))
    assert blob[HEADER_LEN:-MAC_LEN] == as_abort[HEADER_LEN:-MAC_LEN]
    assert reason_of(blob[:5] + b"\x03" + blob[6:]) is Reason.BAD_MAC


def test_commit_with_a_short_nonce_or_body_is_malformed() -> None:
    with pytest.raises(BlobError, match="handoff_nonce"):
        sealed(Commit(flow_id=5, forwarder_ip=FORWARDER, handoff_nonce=b"short"))
    blob = sealed(Commit(flow_id=5, forwarder_ip=FORWARDER, handoff_nonce=NONCE))
    body = blob[HEADER_LEN:-MAC_LEN]
    assert reason_of(rebuild(blob, body=body[:-1])) is Reason.MALFORMED_FIELD
    assert reason_of(rebuild(blob, body=body + b"\0")) is Reason.MALFORMED_FIELD
    assert reason_of(rebuild(blob, body=body[:5] + b"\x01" + body[6:])) is Reason.MALFORMED_FIELD


def test_ping_is_an_envelope_without_a_body() -> None:
    blob = sealed(Ping())
    assert blob[5] == 4 and len(blob) == HEADER_LEN + MAC_LEN
    assert unseal(blob, KEYS) == Envelope(
        key_id=KEY_ID, nonce=NONCE, created_ms=CREATED, message=Ping()
    )
    assert reason_of(rebuild(blob, body=b"\0")) is Reason.MALFORMED_FIELD
    assert reason_of(rebuild(blob, kind=2)) is Reason.MALFORMED_FIELD  # a release has a body


def test_abort_with_a_short_nonce_or_body_is_malformed() -> None:
    with pytest.raises(BlobError, match="handoff_nonce"):
        sealed(Abort(flow_id=5, forwarder_ip=FORWARDER, handoff_nonce=b"short"))
    blob = sealed(Abort(flow_id=5, forwarder_ip=FORWARDER, handoff_nonce=NONCE))
    body = blob[HEADER_LEN:-MAC_LEN]
    assert reason_of(rebuild(blob, body=body[:-1])) is Reason.MALFORMED_FIELD
    assert reason_of(rebuild(blob, kind=2)) is Reason.MALFORMED_FIELD  # release is shorter


def test_layout_matches_the_documented_offsets() -> None:
    """docs/blob-format.md: header fields at fixed offsets, big endian, MAC last."""
    handoff = make_handoff(flow_id=0x01020304, receive=b"R", send_unacked=b"UU", send_unsent=b"N")
    blob = sealed(handoff)
    assert blob[0:4] == b"P4HO"
    assert blob[4] == 2 == VERSION and blob[5] == 1
    assert blob[6:8] == KEY_ID.to_bytes(2, "big")
    assert int.from_bytes(blob[8:12], "big") == len(blob) == HEADER_LEN + 70 + 4 + MAC_LEN
    assert blob[12:28] == NONCE
    assert int.from_bytes(blob[28:36], "big") == CREATED
    body = blob[HEADER_LEN:-MAC_LEN]
    assert body[0:4] == bytes([1, 2, 3, 4])
    assert body[4] == 4 and body[5] == 0b11  # IPv4, SACK + timestamps
    assert body[6:10] == bytes([10, 0, 0, 1])  # forwarder
    assert body[10:14] == bytes([10, 0, 1, 10]) and body[14:16] == (40000).to_bytes(2, "big")
    assert body[16:20] == bytes([10, 0, 0, 100]) and body[20:22] == (80).to_bytes(2, "big")
    assert body[22:26] == (1_000_001).to_bytes(4, "big")  # snd_seq
    assert body[58:62] == (2).to_bytes(4, "big")  # len(send_unacked)
    assert body[70:] == b"UUNR"
    assert blob[-MAC_LEN:] == hmac.digest(KEY, blob[:-MAC_LEN], hashlib.sha256)


# ---------------------------------------------------------------- limits

U32_MAX = 2**32 - 1

LIMIT_CASES: list[dict[str, Any]] = [
    {"client_port": 0},
    {"client_port": 65535},
    {"vip_port": 0},
    {"vip_port": 65535},
    {"snd_seq": 0, "rcv_seq": 0},
    {"snd_seq": U32_MAX, "rcv_seq": U32_MAX},
    {"window": {"snd_wl1": 0, "snd_wnd": 0, "max_window": 0, "rcv_wnd": 0, "rcv_wup": 0}},
    {
        "window": {
            "snd_wl1": U32_MAX,
            "snd_wnd": U32_MAX,
            "max_window": U32_MAX,
            "rcv_wnd": U32_MAX,
            "rcv_wup": U32_MAX,
        }
    },
    {"options": {"mss": 1, "snd_wscale": 0, "rcv_wscale": 0, "ts_offset": 0}},
    {"options": {"mss": 65535, "snd_wscale": 14, "rcv_wscale": 14, "ts_offset": U32_MAX}},
    {"options": {"sack": False, "timestamps": False}},
    {"options": {"sack": True, "timestamps": False}},
    {"options": {"sack": False, "timestamps": True}},
    {"send_unacked": b"", "send_unsent": b"", "receive": b""},
    {"client_ip": "0.0.0.0", "vip_ip": "255.255.255.255"},
]


@pytest.mark.parametrize("fields", LIMIT_CASES, ids=lambda f: ",".join(f))
def test_fields_at_their_limits_round_trip(fields: dict[str, Any]) -> None:
    handoff = make_handoff(**fields)
    assert unseal(sealed(handoff), KEYS).message == handoff


@pytest.mark.parametrize("flow_id", [0, U32_MAX])
def test_flow_id_limits_round_trip(flow_id: int) -> None:
    handoff = make_handoff(flow_id=flow_id)
    assert unseal(sealed(handoff), KEYS).message == handoff


def test_queues_filling_the_maximum_exactly_round_trip_and_one_more_byte_is_too_large() -> None:
    limit = 8192
    fixed = HEADER_LEN + 70 + MAC_LEN
    room = limit - fixed
    handoff = make_handoff(
        send_unacked=os.urandom(room // 3),
        send_unsent=os.urandom(room // 3),
        receive=os.urandom(room - 2 * (room // 3)),
    )
    blob = sealed(handoff, max_size=limit)
    assert len(blob) == limit
    assert unseal(blob, KEYS, max_size=limit).message == handoff

    bigger = make_handoff(receive=os.urandom(room + 1))
    with pytest.raises(BlobError) as info:
        sealed(bigger, max_size=limit)
    assert info.value.reason is Reason.TOO_LARGE
    assert reason_of(sealed(bigger, max_size=limit + 1), max_size=limit) is Reason.TOO_LARGE


def test_declared_length_is_refused_before_reading_the_rest() -> None:
    """A header claiming 4 GiB is refused as too large from its 36 bytes alone."""
    head = struct.pack(">4sBBHI16sQ", b"P4HO", VERSION, 1, KEY_ID, U32_MAX, NONCE, CREATED)
    assert reason_of(head, max_size=1 << 20) is Reason.TOO_LARGE


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"client_port": 65536}, "client_port"),
        ({"vip_port": -1}, "vip_port"),
        ({"snd_seq": 2**32}, "snd_seq"),
        ({"rcv_seq": -1}, "rcv_seq"),
        ({"window": {"rcv_wup": 2**32}}, "rcv_wup"),
        ({"options": {"mss": 0}}, "mss"),
        ({"options": {"mss": 65536}}, "mss"),
        ({"options": {"snd_wscale": 15}}, "snd_wscale"),
        ({"options": {"rcv_wscale": -1}}, "rcv_wscale"),
        ({"options": {"ts_offset": 2**32}}, "ts_offset"),
        ({"client_ip": "2001:db8::1"}, "client_ip"),
        ({"vip_ip": "not-an-address"}, "vip_ip"),
    ],
)
def test_sealing_a_value_the_format_cannot_carry_names_the_field(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(BlobError) as info:
        sealed(make_handoff(**fields))
    assert info.value.reason is Reason.MALFORMED_FIELD
    assert field in info.value.detail


def test_sealing_an_out_of_range_flow_id_is_refused() -> None:
    with pytest.raises(BlobError, match="flow_id"):
        sealed(make_handoff(flow_id=2**32))


# ---------------------------------------------------------------- refusals


def region_reason(offset: int) -> set[Reason]:
    """What a bit flip at `offset` of a single-key IPv4 blob must be refused as."""
    if offset < 4:
        return {Reason.BAD_MAGIC}
    if offset == 4:
        return {Reason.BAD_VERSION}
    if offset == 5:  # 1 -> 3 is another kind, so the MAC catches it
        return {Reason.BAD_KIND, Reason.BAD_MAC}
    if offset in (6, 7):
        return {Reason.UNKNOWN_KEY}
    if 8 <= offset < 12:  # total length: too big, too small, or not the real size
        return {Reason.TOO_LARGE, Reason.TRUNCATED, Reason.TRAILING_DATA, Reason.MALFORMED_FIELD}
    return {Reason.BAD_MAC}


def test_every_single_bit_flip_is_refused_for_the_right_reason() -> None:
    blob = sealed(make_handoff(send_unacked=b"abc", send_unsent=b"de"))
    for offset in range(len(blob)):
        for bit in range(8):
            forged = bytearray(blob)
            forged[offset] ^= 1 << bit
            got = reason_of(bytes(forged))
            assert got in region_reason(offset), (offset, bit, got)


def test_every_truncation_is_refused_as_truncated() -> None:
    blob = sealed(make_handoff())
    for length in range(len(blob)):
        assert reason_of(blob[:length]) is Reason.TRUNCATED, length


def test_trailing_bytes_are_refused() -> None:
    assert reason_of(sealed(make_handoff()) + b"\0") is Reason.TRAILING_DATA


def test_unknown_key_id_and_wrong_key_are_refused() -> None:
    other = Keyring({KEY_ID + 1: KEY})
    assert reason_of(sealed(make_handoff()), other) is Reason.UNKNOWN_KEY
    same_id_other_key = Keyring({KEY_ID: bytes(32)})
    assert reason_of(sealed(make_handoff()), same_id_other_key) is Reason.BAD_MAC


def test_key_id_is_authenticated() -> None:
    """Pointing a blob at another configured key fails the MAC, even with both keys held."""
    both = Keyring({KEY_ID: KEY, KEY_ID + 1: bytes(32)})
    blob = bytearray(sealed(make_handoff()))
    blob[6:8] = (KEY_ID + 1).to_bytes(2, "big")
    assert reason_of(bytes(blob), both) is Reason.BAD_MAC


def test_downgrade_to_an_older_version_is_refused_even_with_a_valid_mac() -> None:
    downgraded = rebuild(sealed(make_handoff()), version=VERSION - 1)
    with pytest.raises(BlobError, match="older than") as info:
        unseal(downgraded, KEYS)
    assert info.value.reason is Reason.BAD_VERSION


def test_newer_version_and_unknown_kind_are_refused() -> None:
    blob = sealed(make_handoff())
    assert reason_of(rebuild(blob, version=VERSION + 1)) is Reason.BAD_VERSION
    assert reason_of(rebuild(blob, kind=max(Kind) + 1)) is Reason.BAD_KIND
    assert reason_of(rebuild(blob, kind=0)) is Reason.BAD_KIND


def test_handoff_body_read_as_release_is_malformed() -> None:
    assert reason_of(rebuild(sealed(make_handoff()), kind=2)) is Reason.MALFORMED_FIELD


def handoff_body(**patch: int) -> bytes:
    """A valid IPv4 handoff body with single bytes/words patched at body offsets."""
    body = bytearray(sealed(make_handoff(send_unacked=b"xy"))[HEADER_LEN:-MAC_LEN])
    for name, value in patch.items():
        offset, width = {
            "family": (4, 1),
            "flags": (5, 1),
            "mss": (50, 2),
            "snd_wscale": (52, 1),
            "rcv_wscale": (53, 1),
            "n_unacked": (58, 4),
            "n_receive": (66, 4),
        }[name]
        body[offset : offset + width] = value.to_bytes(width, "big")
    return bytes(body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (handoff_body(family=5), "address family"),
        (handoff_body(family=6)[:100], "handoff body"),  # IPv6 needs a longer fixed part
        (handoff_body(flags=0x04), "flags"),
        (handoff_body(mss=0), "mss"),
        (handoff_body(snd_wscale=15), "snd_wscale"),
        (handoff_body(rcv_wscale=255), "rcv_wscale"),
        (handoff_body(n_unacked=3), "queue lengths"),
        (handoff_body(n_receive=U32_MAX), "queue lengths"),
        (handoff_body()[:-1], "queue lengths"),
        (handoff_body()[:69], "handoff body"),
        (b"", "handoff body"),
    ],
)
def test_authentic_but_malformed_body_is_refused_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(BlobError) as info:
        unseal(rebuild(sealed(make_handoff()), body=body), KEYS)
    assert info.value.reason is Reason.MALFORMED_FIELD
    assert field in info.value.detail


def test_release_with_reserved_bits_or_wrong_length_is_malformed() -> None:
    blob = sealed(Release(flow_id=1, forwarder_ip=FORWARDER))
    body = blob[HEADER_LEN:-MAC_LEN]
    assert reason_of(rebuild(blob, body=body[:5] + b"\x01" + body[6:])) is Reason.MALFORMED_FIELD
    assert reason_of(rebuild(blob, body=body + b"\0")) is Reason.MALFORMED_FIELD
    assert reason_of(rebuild(blob, body=body[:4])) is Reason.MALFORMED_FIELD


def test_total_length_below_header_and_mac_is_malformed() -> None:
    blob = bytearray(sealed(make_handoff()))
    blob[8:12] = (HEADER_LEN + MAC_LEN - 1).to_bytes(4, "big")
    assert reason_of(bytes(blob)) is Reason.MALFORMED_FIELD


def test_garbage_is_bad_magic() -> None:
    assert reason_of(b"GET / HTTP/1.1\r\n\r\n" * 3) is Reason.BAD_MAGIC
    assert reason_of(b"X") is Reason.BAD_MAGIC


def test_error_message_carries_the_reason() -> None:
    with pytest.raises(BlobError, match=r"^truncated: 3 bytes"):
        unseal(b"P4H", KEYS)


# ---------------------------------------------------------------- freshness


def window() -> ReplayWindow:
    return ReplayWindow(max_age_ms=10_000, max_skew_ms=2_000, capacity=4)


def admit_reason(w: ReplayWindow, nonce: bytes, created: int, now: int) -> Reason:
    with pytest.raises(BlobError) as info:
        w.admit(nonce, created, now)
    return info.value.reason


def test_replayed_blob_is_refused() -> None:
    envelope = unseal(sealed(make_handoff()), KEYS)
    w = window()
    w.admit(envelope.nonce, envelope.created_ms, CREATED + 5)
    assert admit_reason(w, envelope.nonce, envelope.created_ms, CREATED + 6) is Reason.REPLAYED


def test_age_and_skew_bounds_are_inclusive() -> None:
    w = window()
    w.admit(b"a" * 16, CREATED - 10_000, CREATED)
    w.admit(b"b" * 16, CREATED + 2_000, CREATED)
    assert admit_reason(w, b"c" * 16, CREATED - 10_001, CREATED) is Reason.STALE
    assert admit_reason(w, b"d" * 16, CREATED + 2_001, CREATED) is Reason.FUTURE


def test_full_window_forgets_the_oldest_and_refuses_anything_not_newer() -> None:
    w = window()
    for i in range(4):
        w.admit(bytes([i]) * 16, CREATED + i, CREATED + 10)
    w.admit(b"\x09" * 16, CREATED + 9, CREATED + 10)  # evicts nonce 0 (created CREATED)
    assert len(w) == 4
    # nonce 0 is forgotten, but its creation time is now the floor: no replay
    assert admit_reason(w, b"\x00" * 16, CREATED, CREATED + 10) is Reason.STALE
    # full, and older than everything held
    assert admit_reason(w, b"\x0a" * 16, CREATED + 1, CREATED + 10) is Reason.STALE


def test_expired_nonces_are_forgotten_and_stay_refused_if_the_clock_steps_back() -> None:
    w = window()
    w.admit(b"\x01" * 16, CREATED, CREATED)
    w.admit(b"\x02" * 16, CREATED + 20_000, CREATED + 20_000)  # expires nonce 1
    assert len(w) == 1
    assert admit_reason(w, b"\x01" * 16, CREATED, CREATED + 5_000) is Reason.STALE


def test_nothing_created_at_or_before_not_before_is_accepted() -> None:
    w = ReplayWindow(max_age_ms=10_000, max_skew_ms=2_000, not_before_ms=CREATED)
    assert admit_reason(w, b"\x01" * 16, CREATED, CREATED + 5) is Reason.STALE
    w.admit(b"\x02" * 16, CREATED + 1, CREATED + 5)


def test_forbidden_nonce_is_refused_as_replayed_when_it_arrives() -> None:
    w = window()
    w.forbid(b"\x05" * 16, CREATED + 100)
    assert admit_reason(w, b"\x05" * 16, CREATED, CREATED + 100) is Reason.REPLAYED
    w.forbid(b"\x05" * 16, CREATED + 200)  # idempotent
    assert len(w) == 1


# ---------------------------------------------------------------- keys


def test_key_file_is_parsed_and_seals_with_the_highest_id(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# rotation: 3 is new\n1 {'ab' * 32}\n\n3 {'cd' * 16}  # current\n")
    path.chmod(0o600)
    keys = load_keys(path)
    assert keys.ids() == (1, 3)
    assert keys.sealing_key_id == 3
    assert keys.get(3) == bytes.fromhex("cd" * 16)
    assert "ab" not in repr(keys)
    assert unseal(seal(make_handoff(), keys), keys).key_id == 3


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"1 {'ab' * 32}\n")
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_keys(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no keys"),
        ("1\n", "expected '<key id> <hex key>'"),
        (f"x {'ab' * 32}\n", "not a decimal"),
        ("1 zz\n", "not valid hex"),
        (f"1 {'ab' * 15}\n", "15 bytes"),
        (f"1 {'ab' * 65}\n", "65 bytes"),
        (f"65536 {'ab' * 32}\n", "outside 0..65535"),
        (f"1 {'ab' * 32}\n1 {'cd' * 32}\n", "<t>:2: key id 1 defined twice"),
    ],
)
def test_bad_key_files_are_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        parse_keys(text, source="<t>")


def test_missing_key_file_is_a_key_file_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        load_keys(tmp_path / "absent")
