"""Idle timeouts: one timer per table entry that has a TTL.

The P4Runtime server tells the primary controller when an entry has not been
hit for `idle_timeout_ns` (an IdleTimeoutNotification; the entry stays
installed). Instead of sweeping every table periodically, each entry with a
TTL owns an event-loop timer set to the moment it would expire given its last
hit (`TableEntry.last_hit_ns`, kept by the table lookup). When the timer
fires early because the entry was hit meanwhile, it re-arms at the new
deadline; when it fires on an idle entry, the entry is reported once and then
checked again one TTL later, so a hit after the report starts a fresh period
and a second report follows only after another idle TTL.

Notifications that fall due in the same loop iteration go out as one message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from p4sim.runtime.tables import MatchTable, TableEntry


@dataclass(slots=True)
class _Armed:
    table: MatchTable
    table_name: str
    entry: TableEntry
    handle: asyncio.TimerHandle
    reported_at: int = -1  # clock value of the last report, -1: never


class IdleTimers:
    """`report` receives (table name, entry) pairs of entries gone idle."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        report: Callable[[list[tuple[str, TableEntry]]], None],
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._loop = loop
        self._report = report
        self._clock = clock_ns
        self._armed: dict[int, _Armed] = {}
        self._due: list[tuple[str, TableEntry]] = []

    def __len__(self) -> int:
        return len(self._armed)

    def arm(self, table: MatchTable, table_name: str, entry: TableEntry) -> None:
        """Start (or restart) the TTL of an installed entry; entries without a
        TTL are ignored. The entry counts as hit now."""
        self.disarm(entry)
        if entry.idle_timeout_ns <= 0:
            return
        now = self._clock()
        entry.last_hit_ns = now
        handle = self._schedule(now + entry.idle_timeout_ns, id(entry))
        self._armed[id(entry)] = _Armed(table, table_name, entry, handle)

    def disarm(self, entry: TableEntry) -> None:
        armed = self._armed.pop(id(entry), None)
        if armed is not None:
            armed.handle.cancel()

    def clear(self) -> None:
        for armed in self._armed.values():
            armed.handle.cancel()
        self._armed.clear()

    def _schedule(self, deadline_ns: int, key: int) -> asyncio.TimerHandle:
        # The loop clock and the table clock are both CLOCK_MONOTONIC.
        return self._loop.call_at(deadline_ns / 1e9, self._fire, key)

    def _fire(self, key: int) -> None:
        armed = self._armed.get(key)
        if armed is None:
            return
        entry = armed.entry
        if armed.table.get(entry.matches, entry.priority) is not entry:
            del self._armed[key]  # deleted or replaced behind our back
            return
        now = self._clock()
        ttl = entry.idle_timeout_ns
        deadline = entry.last_hit_ns + ttl
        if now < deadline:
            armed.handle = self._schedule(deadline, key)
            return
        if armed.reported_at < 0 or entry.last_hit_ns > armed.reported_at:
            armed.reported_at = now
            if not self._due:
                self._loop.call_soon(self._flush)
            self._due.append((armed.table_name, entry))
        armed.handle = self._schedule(now + ttl, key)

    def _flush(self) -> None:
        due, self._due = self._due, []
        if due:
            self._report(due)
