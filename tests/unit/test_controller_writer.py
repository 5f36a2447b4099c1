"""The coalescing flow writer: updates queued while a Write is in flight go
out together in the next one, and a refused update fails only its own
caller. Against a recording stand-in for P4RuntimeClient.write."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from controller.p4rt import RpcError, TableEntry, Update, UpdateFailure, WriteError
from controller.switch.flow_writer import FlowWriter, WriterStopped


def update(n: int) -> Update:
    return Update.insert(TableEntry(f"t{n}"))


class Recorder:
    """Holds the first Write until released, records every batch."""

    def __init__(self) -> None:
        self.batches: list[list[Update]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        self.outcomes: list[Exception | None] = []  # per Write, in order; then success

    def write(self, updates: Sequence[Update]) -> None:
        self.batches.append(list(updates))
        self.entered.set()
        self.release.wait(5)
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome


def test_updates_queued_during_a_write_share_the_next_one() -> None:
    recorder = Recorder()
    writer = FlowWriter(recorder.write, max_batch=100)
    try:
        first = writer.submit(update(0))
        assert recorder.entered.wait(5)
        queued = [writer.submit(update(n)) for n in range(1, 31)]
        recorder.release.set()
        assert first.result(5) == 1
        assert [f.result(5) for f in queued] == [30] * 30
        assert [len(b) for b in recorder.batches] == [1, 30]
    finally:
        writer.stop()


def test_batches_are_capped() -> None:
    recorder = Recorder()
    writer = FlowWriter(recorder.write, max_batch=8)
    try:
        writer.submit(update(0))
        assert recorder.entered.wait(5)
        queued = [writer.submit(update(n)) for n in range(20)]
        recorder.release.set()
        for future in queued:
            future.result(5)
        assert [len(b) for b in recorder.batches] == [1, 8, 8, 4]
    finally:
        writer.stop()


def test_one_callers_updates_go_together_and_are_split_only_at_the_cap() -> None:
    """An idle writer wakes at the first queued update: a caller's updates
    queued one by one could go out as a Write of one and a Write of the
    rest; submit_many's never are."""
    recorder = Recorder()
    recorder.release.set()
    writer = FlowWriter(recorder.write, max_batch=8)
    try:
        for future in writer.submit_many([update(n) for n in range(5)]):
            assert future.result(5) == 5
        for future in writer.submit_many([update(n) for n in range(5, 25)]):
            future.result(5)
        assert writer.submit_many([]) == []
        assert [len(b) for b in recorder.batches] == [5, 8, 8, 4]
        assert [u for b in recorder.batches for u in b] == [update(n) for n in range(25)]
    finally:
        writer.stop()


def test_a_refused_update_fails_only_its_caller() -> None:
    recorder = Recorder()
    failure = UpdateFailure(1, update(2), "ALREADY_EXISTS", "entry exists")
    recorder.outcomes = [None, WriteError("UNKNOWN", "1 of 3 updates failed", (failure,))]
    writer = FlowWriter(recorder.write)
    try:
        blocker = writer.submit(update(0))
        assert recorder.entered.wait(5)
        futures = [writer.submit(update(n)) for n in (1, 2, 3)]
        recorder.release.set()
        assert blocker.result(5) == 1
        assert futures[0].result(5) == 3 and futures[2].result(5) == 3
        with pytest.raises(WriteError) as refused:
            futures[1].result(5)
        assert [f.code for f in refused.value.failures] == ["ALREADY_EXISTS"]
    finally:
        writer.stop()


def test_a_failed_write_fails_its_whole_batch_and_stop_fails_the_rest() -> None:
    recorder = Recorder()
    recorder.release.set()
    recorder.outcomes = [RpcError("Write", "UNAVAILABLE", "switch gone")]
    writer = FlowWriter(recorder.write)
    with pytest.raises(RpcError):
        writer.apply(update(0), 5)
    writer.stop()
    with pytest.raises(WriterStopped):
        writer.apply(update(1), 5)
