"""Coalescing P4Runtime writer for flow entries.

Every handoff ends with one `encap_map` insert, and every closed connection
with one delete. One Write per entry would make the switch's RPC rate the
handoff rate limit, so updates submitted while a Write is in flight wait and
go together in the next one: an idle controller writes each update at once,
a loaded one writes batches as large as the load (up to `max_batch`). The
updates of one `submit_many` are queued as one item, so a caller's batch (an
InstallFlows of several flows, a burst of ended flows) is never split by the
writer waking up between two of them. The batch is CONTINUE_ON_ERROR, so one
refused update fails only its own caller.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from controller.p4rt import P4RuntimeError, Update, WriteError

Write = Callable[[Sequence[Update]], None]
BatchObserver = Callable[[int, float], None]  # (updates in the batch, seconds the Write took)


class WriterStopped(P4RuntimeError):
    """The writer was stopped before the update was written."""


class FlowWriter:
    def __init__(
        self, write: Write, *, max_batch: int = 1024, on_batch: BatchObserver | None = None
    ) -> None:
        self._write = write
        self.max_batch = max_batch
        self._on_batch = on_batch
        self._queue: queue.Queue[list[tuple[Update, Future[int]]] | None] = queue.Queue()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="flow-writer", daemon=True)
        self._thread.start()

    def submit(self, update: Update) -> Future[int]:
        """Queue one update; the future resolves to the size of the batch that
        carried it, or raises the switch's error for this update."""
        return self.submit_many([update])[0]

    def submit_many(self, updates: Sequence[Update]) -> list[Future[int]]:
        """`submit` of several updates that go into one Write together
        (several when they are more than `max_batch`)."""
        futures: list[Future[int]] = [Future() for _ in updates]
        if self._stopped:
            for future in futures:
                future.set_exception(WriterStopped("flow writer stopped"))
        elif updates:
            self._queue.put(list(zip(updates, futures, strict=True)))
        return futures

    def apply(self, update: Update, timeout: float) -> int:
        return self.submit(update).result(timeout)

    def stop(self) -> None:
        self._stopped = True
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._fail_rest()
                return
            batch = item
            stopping = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.extend(more)
            for start in range(0, len(batch), self.max_batch):
                self._flush(batch[start : start + self.max_batch])
            if stopping:
                self._fail_rest()
                return

    def _flush(self, batch: list[tuple[Update, Future[int]]]) -> None:
        updates = [update for update, _ in batch]
        started = time.perf_counter()
        try:
            self._write(updates)
        except WriteError as exc:
            failed = {failure.index: failure for failure in exc.failures}
            for index, (_, future) in enumerate(batch):
                failure = failed.get(index)
                if failure is not None:
                    future.set_exception(WriteError(failure.code, failure.message, (failure,)))
                elif failed:
                    future.set_result(len(batch))
                else:
                    # The switch refused the whole Write without per-update detail.
                    future.set_exception(exc)
        except Exception as exc:
            for _, future in batch:
                future.set_exception(exc)
        else:
            for _, future in batch:
                future.set_result(len(batch))
        if self._on_batch is not None:
            self._on_batch(len(batch), time.perf_counter() - started)

    def _fail_rest(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            for _, future in item or ():
                future.set_exception(WriterStopped("flow writer stopped"))
