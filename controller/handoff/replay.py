"""The freshness check of sealed messages: creation-time bounds plus a nonce memory.

A blob moves a live connection, so accepting it twice would restore the same
connection twice. The window remembers every accepted nonce for as long as its
creation time would still pass the age check; older ones are rejected as stale
without being remembered. Memory is bounded: when `capacity` nonces are held,
the oldest is forgotten and the "floor" rises to its creation time, so nothing
created at or before a forgotten nonce can be accepted again (fail closed:
under overload some fresh blobs are refused as stale, none is replayed). The
floor also covers a wall clock that steps backwards.

Only messages that are already authentic reach the window, so an attacker
without a key cannot fill it.
"""

from __future__ import annotations

import heapq

from controller.handoff.blob import BlobError, Reason

DEFAULT_MAX_AGE_MS = 10_000
DEFAULT_MAX_SKEW_MS = 2_000
DEFAULT_CAPACITY = 1_000_000


class ReplayWindow:
    """Accepts each nonce once, within [now - max_age, now + max_skew]."""

    def __init__(
        self,
        max_age_ms: int = DEFAULT_MAX_AGE_MS,
        max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
        capacity: int = DEFAULT_CAPACITY,
        not_before_ms: int = -1,
    ) -> None:
        """`not_before_ms`: refuse anything created at or before it, e.g. the
        start of a process whose earlier nonces are forgotten."""
        if max_age_ms < 0 or max_skew_ms < 0 or capacity < 1:
            raise ValueError(
                f"replay window needs max_age_ms >= 0, max_skew_ms >= 0, capacity >= 1; "
                f"got {max_age_ms}, {max_skew_ms}, {capacity}"
            )
        self.max_age_ms = max_age_ms
        self.max_skew_ms = max_skew_ms
        self.capacity = capacity
        self._seen: set[bytes] = set()
        self._by_age: list[tuple[int, bytes]] = []
        self._floor = not_before_ms

    def __len__(self) -> int:
        return len(self._seen)

    def admit(self, nonce: bytes, created_ms: int, now_ms: int) -> None:
        """Record `nonce` or raise BlobError (replayed, stale or future)."""
        if created_ms > now_ms + self.max_skew_ms:
            raise BlobError(
                Reason.FUTURE,
                f"created {created_ms - now_ms} ms in the future (skew allowed "
                f"{self.max_skew_ms} ms)",
            )
        oldest_allowed = now_ms - self.max_age_ms
        if created_ms < oldest_allowed:
            raise BlobError(
                Reason.STALE, f"created {now_ms - created_ms} ms ago (max age {self.max_age_ms} ms)"
            )
        self._forget_before(oldest_allowed)
        if created_ms <= self._floor:
            raise BlobError(
                Reason.STALE,
                f"created at {created_ms} ms, not after {self._floor} ms, the newest "
                f"nonce the replay window had to forget",
            )
        if nonce in self._seen:
            raise BlobError(Reason.REPLAYED, f"nonce {nonce.hex()} was accepted before")
        if len(self._seen) >= self.capacity:
            if created_ms <= self._by_age[0][0]:
                raise BlobError(
                    Reason.STALE,
                    f"replay window full ({self.capacity} nonces) and this blob is "
                    f"older than all of them",
                )
            self._pop_oldest()
        heapq.heappush(self._by_age, (created_ms, nonce))
        self._seen.add(nonce)

    def forbid(self, nonce: bytes, created_ms: int) -> None:
        """Make `nonce` unacceptable from now on, whether or not it was seen.

        Used when a classifier aborts a handoff the agent never received: the
        blob may still be in flight and must not be installed when it lands.
        `created_ms` must be no older than the blob's own creation time (the
        abort's time is), so the nonce is remembered as long as the blob
        could pass the age check.
        """
        if nonce in self._seen:
            return
        if len(self._seen) >= self.capacity:
            self._pop_oldest()
        heapq.heappush(self._by_age, (created_ms, nonce))
        self._seen.add(nonce)

    def _forget_before(self, oldest_allowed: int) -> None:
        while self._by_age and self._by_age[0][0] < oldest_allowed:
            self._pop_oldest()

    def _pop_oldest(self) -> None:
        created, nonce = heapq.heappop(self._by_age)
        self._seen.discard(nonce)
        self._floor = max(self._floor, created)
