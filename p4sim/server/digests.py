"""Digest lists: batching, list ids, acks, as P4Runtime's DigestEntry.Config says.

A digest is streamed only after the controller configured its digest id.
Pending digests of one id go out as one DigestList when `max_list_size` of
them have gathered or the oldest has waited `max_timeout_ns` (0: at the end
of the current event-loop iteration). Until the controller acks a list (or
`ack_timeout_ns` passes) the same data is not reported again; data already
waiting in the pending batch is not queued twice either.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from finsy.proto import p4d, p4r

from p4sim.errors import ControlPlaneError
from p4sim.server.codec import encode
from p4sim.server.p4info_index import DigestRef

Values = tuple[int | tuple[int, int], ...]  # a varbit is (length in bits, value)


@dataclass
class _DigestState:
    ref: DigestRef
    config: p4r.DigestEntry.Config
    pending: list[Values] = field(default_factory=list)
    pending_set: set[Values] = field(default_factory=set)
    flush_handle: asyncio.Handle | None = None
    unacked: dict[int, tuple[frozenset[Values], asyncio.TimerHandle | None]] = field(
        default_factory=dict
    )
    held: dict[Values, int] = field(default_factory=dict)  # data -> how many unacked lists hold it


class DigestEngine:
    """`send` delivers a StreamMessageResponse to the primary and returns
    False when there is nobody to deliver to (the list is then dropped)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, send: Callable[[p4r.StreamMessageResponse], bool]
    ) -> None:
        self._loop = loop
        self._send = send
        self._states: dict[int, _DigestState] = {}
        self._next_list_id = 1

    def config(self, digest_id: int) -> p4r.DigestEntry.Config | None:
        state = self._states.get(digest_id)
        return state.config if state else None

    def queued(self, digest_id: int) -> tuple[int, list[int]]:
        """(data waiting for the next list, ids of lists sent and not acked yet)"""
        state = self._states.get(digest_id)
        return (len(state.pending), sorted(state.unacked)) if state else (0, [])

    def configured(self) -> list[int]:
        return sorted(self._states)

    def configure(self, ref: DigestRef, config: p4r.DigestEntry.Config) -> None:
        if config.max_timeout_ns < 0 or config.ack_timeout_ns < 0 or config.max_list_size < 0:
            raise ControlPlaneError("INVALID_ARGUMENT", f"digest {ref.name}: negative config value")
        stored = p4r.DigestEntry.Config()
        stored.CopyFrom(config)
        state = self._states.get(ref.id)
        if state is None:
            self._states[ref.id] = _DigestState(ref, stored)
        else:
            state.config = stored

    def remove(self, digest_id: int) -> None:
        state = self._states.pop(digest_id, None)
        if state is None:
            return
        if state.flush_handle is not None:
            state.flush_handle.cancel()
        for _, handle in state.unacked.values():
            if handle is not None:
                handle.cancel()

    def clear(self) -> None:
        for digest_id in list(self._states):
            self.remove(digest_id)

    def offer(self, digest_id: int, values: Values) -> None:
        """One digest from the data plane."""
        state = self._states.get(digest_id)
        if state is None or values in state.held or values in state.pending_set:
            return
        state.pending.append(values)
        state.pending_set.add(values)
        config = state.config
        if config.max_list_size and len(state.pending) >= config.max_list_size:
            self._flush(state)
        elif state.flush_handle is None:
            if config.max_timeout_ns:
                delay = config.max_timeout_ns / 1e9
                state.flush_handle = self._loop.call_later(delay, self._flush, state)
            else:
                state.flush_handle = self._loop.call_soon(self._flush, state)

    def ack(self, digest_id: int, list_id: int) -> None:
        state = self._states.get(digest_id)
        if state is None:
            raise ControlPlaneError("NOT_FOUND", f"digest id {digest_id} is not configured")
        if list_id in state.unacked:  # a late ack (after ack_timeout_ns) is no error
            self._release(state, list_id)

    def _release(self, state: _DigestState, list_id: int) -> None:
        data, handle = state.unacked.pop(list_id)
        if handle is not None:
            handle.cancel()
        for values in data:
            left = state.held[values] - 1
            if left:
                state.held[values] = left
            else:
                del state.held[values]

    def _flush(self, state: _DigestState) -> None:
        if state.flush_handle is not None:
            state.flush_handle.cancel()
            state.flush_handle = None
        if self._states.get(state.ref.id) is not state or not state.pending:
            return
        batch, state.pending, state.pending_set = state.pending, [], set()
        limit = state.config.max_list_size or len(batch)
        for start in range(0, len(batch), limit):
            self._emit(state, batch[start : start + limit])

    def _emit(self, state: _DigestState, batch: list[Values]) -> None:
        list_id = self._next_list_id
        self._next_list_id += 1
        message = p4r.StreamMessageResponse()
        digest = message.digest
        digest.digest_id = state.ref.id
        digest.list_id = list_id
        digest.timestamp = time.time_ns()
        for values in batch:
            digest.data.append(encode_digest_data(state.ref, values))
        if not self._send(message):
            return
        timeout = state.config.ack_timeout_ns
        if not timeout:
            return
        handle = self._loop.call_later(timeout / 1e9, self._expire, state, list_id)
        data = frozenset(batch)
        state.unacked[list_id] = (data, handle)
        for values in data:
            state.held[values] = state.held.get(values, 0) + 1

    def _expire(self, state: _DigestState, list_id: int) -> None:
        if list_id in state.unacked:
            state.unacked[list_id] = (state.unacked[list_id][0], None)
            self._release(state, list_id)


def encode_digest_data(ref: DigestRef, values: Values) -> p4d.P4Data:
    """A digest's data as P4Data: a struct of bit strings, or a bare bit
    string for a digest of a single non-struct value."""
    data = p4d.P4Data()
    if ref.is_struct:
        for value in values:
            member = data.struct.members.add()
            _encode_value(member, value)
    else:
        _encode_value(data, values[0])
    return data


def _encode_value(data: p4d.P4Data, value: object) -> None:
    """A bit string, or a varbit (the pipeline's `(length, value)` pair) as
    P4Runtime's `P4Varbit`: the value's bytes and its length in bits."""
    if isinstance(value, tuple):
        length, number = value
        data.varbit.bitstring = encode(number)
        data.varbit.bitwidth = length
    else:
        assert isinstance(value, int)
        data.bitstring = encode(value)
