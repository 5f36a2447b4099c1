"""Fuzzing `unseal`: whatever the bytes, the only possible error is BlobError.

Two complementary runs. A seeded mutation loop pushes well over 100,000 inputs
derived from valid blobs through the parser in a few seconds; half of them are
re-signed after mutating, so they pass the MAC and exercise the body parser
rather than stopping at the authentication check. Hypothesis then checks the
structural properties (round trip of arbitrary valid states, arbitrary bytes
and arbitrary authentic bodies refused only with BlobError) with shrinking.
FUZZ_SCALE=n multiplies the mutation count (`make fuzz`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import struct
import time
from collections import Counter

from handoff_samples import FORWARDER, KEY, KEYS, make_handoff
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.handoff.blob import (
    HEADER_LEN,
    MAC_LEN,
    VERSION,
    Abort,
    BlobError,
    Commit,
    Handoff,
    Message,
    Ping,
    Release,
    seal,
    unseal,
)
from controller.handoff.tcpstate import ConnectionState, RepairWindow, TcpOptions

FUZZ_INPUTS = 120_000 * int(os.environ.get("FUZZ_SCALE", "1"))
MAX_SIZE = 64 * 1024
SEED = 20261126


def corpus() -> list[bytes]:
    rng = random.Random(SEED)
    messages: list[Message] = [
        make_handoff(),
        make_handoff(send_unacked=b"u" * 5, send_unsent=b"n" * 7, receive=b""),
        make_handoff(forwarder="2001:db8::1", client_ip="2001:db8::10", vip_ip="2001:db8::64"),
        make_handoff(options={"sack": False, "timestamps": False, "snd_wscale": 0}),
        make_handoff(receive=rng.randbytes(300), send_unacked=rng.randbytes(40)),
        Release(flow_id=1, forwarder_ip=FORWARDER),
        Release(flow_id=2**32 - 1, forwarder_ip="2001:db8::1"),
        Abort(flow_id=3, forwarder_ip=FORWARDER, handoff_nonce=rng.randbytes(16)),
        Commit(flow_id=4, forwarder_ip="2001:db8::1", handoff_nonce=rng.randbytes(16)),
        Ping(),
    ]
    return [seal(m, KEYS, max_size=MAX_SIZE) for m in messages]


def resign(data: bytearray) -> bytes:
    """Fix the total length to the real size and append a valid MAC."""
    if len(data) >= HEADER_LEN:
        struct.pack_into(">I", data, 8, len(data) + MAC_LEN)
    return bytes(data) + hmac.digest(KEY, bytes(data), hashlib.sha256)


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    blob = rng.choice(seeds)
    authentic = rng.random() < 0.5
    data = bytearray(blob[:-MAC_LEN] if authentic else blob)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        op = rng.randrange(8)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:  # flip one bit
            i = pos % len(data)
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:  # overwrite with an interesting byte
            data[pos % len(data)] = rng.choice((0, 1, 4, 6, 14, 15, 0x7F, 0x80, 0xFF))
        elif op == 2:  # truncate
            del data[pos:]
        elif op == 3:  # insert random bytes
            data[pos:pos] = rng.randbytes(rng.randrange(1, 9))
        elif op == 4:  # delete a run
            del data[pos : pos + rng.randrange(1, 9)]
        elif op == 5 and len(data) >= 4:  # overwrite a 32-bit word with an extreme value
            i = rng.randrange(len(data) - 3)
            value = rng.choice((0, 1, 0x7FFFFFFF, 0xFFFFFFFF, len(data), len(data) - 70))
            struct.pack_into(">I", data, i, value & 0xFFFFFFFF)
        elif op == 6:  # splice with another seed
            other = rng.choice(seeds)
            cut = rng.randrange(len(other) + 1)
            data[pos:] = other[cut:]
        else:  # append junk
            data += rng.randbytes(rng.randrange(1, 40))
    return resign(data) if authentic else bytes(data)


def test_mutated_blobs_raise_only_blob_error() -> None:
    rng = random.Random(SEED)
    seeds = corpus()
    outcomes: Counter[str] = Counter()
    started = time.perf_counter()
    for _ in range(FUZZ_INPUTS):
        data = mutate(rng, seeds)
        try:
            envelope = unseal(data, KEYS, max_size=MAX_SIZE)
        except BlobError as exc:
            outcomes[exc.reason.value] += 1
            continue
        # Anything accepted is canonical: sealing it again gives the same bytes.
        again = seal(
            envelope.message,
            KEYS,
            created_ms=envelope.created_ms,
            nonce=envelope.nonce,
            key_id=envelope.key_id,
            max_size=MAX_SIZE,
        )
        assert again == data
        outcomes["accepted"] += 1
    elapsed = time.perf_counter() - started
    print(f"\n{FUZZ_INPUTS} fuzz inputs in {elapsed:.1f} s: {dict(outcomes.most_common())}")
    assert sum(outcomes.values()) == FUZZ_INPUTS
    # The run reached past the MAC into the body parser, and hit the framing checks.
    for reason in ("malformed_field", "bad_mac", "truncated", "too_large", "bad_magic"):
        assert outcomes[reason] > 100, (reason, outcomes)
    assert outcomes["accepted"] > 100


# ---------------------------------------------------------------- hypothesis

u32 = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 2**16 - 1)
ipv4 = st.ip_addresses(v=4).map(str)
queue = st.binary(max_size=64)


@st.composite
def handoffs(draw: st.DrawFn) -> Handoff:
    v6 = draw(st.booleans())
    addr = st.ip_addresses(v=6).map(str) if v6 else ipv4
    state = ConnectionState(
        client_ip=draw(addr),
        client_port=draw(u16),
        vip_ip=draw(addr),
        vip_port=draw(u16),
        snd_seq=draw(u32),
        rcv_seq=draw(u32),
        window=RepairWindow(draw(u32), draw(u32), draw(u32), draw(u32), draw(u32)),
        options=TcpOptions(
            mss=draw(st.integers(1, 65535)),
            snd_wscale=draw(st.integers(0, 14)),
            rcv_wscale=draw(st.integers(0, 14)),
            sack=draw(st.booleans()),
            timestamps=draw(st.booleans()),
            ts_offset=draw(u32),
        ),
        send_unacked=draw(queue),
        send_unsent=draw(queue),
        receive=draw(queue),
    )
    return Handoff(flow_id=draw(u32), forwarder_ip=draw(addr), state=state)


FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(handoffs(), st.integers(0, 2**64 - 1), st.binary(min_size=16, max_size=16))
def test_any_valid_handoff_round_trips(handoff: Handoff, created: int, nonce: bytes) -> None:
    envelope = unseal(seal(handoff, KEYS, created_ms=created, nonce=nonce), KEYS)
    assert envelope.message == handoff
    assert (envelope.created_ms, envelope.nonce) == (created, nonce)


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_blob_error(data: bytes) -> None:
    try:
        unseal(data, KEYS)
    except BlobError:
        return
    raise AssertionError("random bytes were accepted")


@FAST
@given(st.sampled_from([1, 2, 3, 4, 5]), st.binary(max_size=200))
def test_arbitrary_authentic_bodies_raise_only_blob_error(kind: int, body: bytes) -> None:
    """A key holder sending nonsense still only gets BlobError (or a valid message)."""
    head = struct.pack(">4sBBHI16sQ", b"P4HO", VERSION, kind, 7, 0, bytes(16), 0)
    data = resign(bytearray(head + body))
    try:
        envelope = unseal(data, KEYS)
    except BlobError:
        return
    kinds = {1: Handoff, 2: Release, 3: Abort, 4: Ping, 5: Commit}
    assert isinstance(envelope.message, kinds[kind])
