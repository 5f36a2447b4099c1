"""The controller's durable flow table and flow-id allocator.

A flow id names one handed-off connection on the wire between the switch and
one back-end: the switch writes it into the TCP port fields, the back-end maps
(forwarder address, flow id) back to the connection. So an id must never be
live twice for the same (forwarder, back-end), and after a flow ends its id
rests in quarantine long enough for stray packets of the old flow to die out
before a new connection may reuse it.

The table lives in SQLite (in the lab's run directory by default) so that a
restarted controller knows every flow it had and can reconcile the switch
against it. Ids whose upper or lower half is zero are never handed out: they
would put TCP port 0 on the wire, which stacks and middleboxes treat as
invalid.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

LEASED = "leased"  # id reserved for a classifier's coming handoff, no connection yet
PENDING = "pending"  # id allocated, blob on its way, no switch entry yet
INSTALLED = "installed"  # switch entry written
QUARANTINE = "quarantine"  # flow ended; id not reusable until released_at + quarantine

ID_SPACE = 1 << 32
# A connection's live flows: the predicate of the live_connection_v2 index,
# spelled the same so that SQLite uses that index.
_LIVE = "state IN ('pending', 'installed')"
_PROBES_BEFORE_COUNT = 4096

_SCHEMA = """
CREATE TABLE IF NOT EXISTS flows (
    forwarder   TEXT    NOT NULL,
    backend     TEXT    NOT NULL,
    flow_id     INTEGER NOT NULL,
    client_ip   TEXT    NOT NULL,
    client_port INTEGER NOT NULL,
    vip         TEXT    NOT NULL,
    vip_port    INTEGER NOT NULL,
    classifier  TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    created_at  REAL    NOT NULL,
    released_at REAL,
    PRIMARY KEY (forwarder, backend, flow_id)
);
DROP INDEX IF EXISTS live_connection;
CREATE UNIQUE INDEX IF NOT EXISTS live_connection_v2
    ON flows (client_ip, client_port, vip, vip_port) WHERE state IN ('pending', 'installed');
-- expiring quarantine (every allocate and sweep) and listing by state: a range
-- scan instead of a walk over every held flow
CREATE INDEX IF NOT EXISTS by_state ON flows (state, released_at);
CREATE TABLE IF NOT EXISTS cursors (
    forwarder TEXT    NOT NULL,
    backend   TEXT    NOT NULL,
    next_id   INTEGER NOT NULL,
    PRIMARY KEY (forwarder, backend)
);
-- connection ends (FIN/RST digests) noted and waiting out the end grace: a
-- controller restarted meanwhile checks them again instead of forgetting them
CREATE TABLE IF NOT EXISTS endings (
    forwarder TEXT    NOT NULL,
    backend   TEXT    NOT NULL,
    flow_id   INTEGER NOT NULL,
    reason    TEXT    NOT NULL,
    PRIMARY KEY (forwarder, backend, flow_id)
);
"""


class FlowStoreError(Exception):
    """A flow operation that cannot be done; the message names the flow."""


@dataclass(frozen=True)
class Flow:
    forwarder: str
    backend: str
    flow_id: int
    client_ip: str
    client_port: int
    vip: str
    vip_port: int
    classifier: str
    state: str
    created_at: float
    released_at: float | None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.forwarder, self.backend, self.flow_id)


def usable_id(flow_id: int) -> bool:
    return (flow_id >> 16) != 0 and (flow_id & 0xFFFF) != 0


class FlowStore:
    def __init__(
        self,
        path: str | Path,
        quarantine_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.quarantine_s = quarantine_s
        self.clock = clock
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def note_endings(self, ends: list[tuple[tuple[str, str, int], str]]) -> None:
        """Remember that these flows' connections are ending (key, reason)."""
        with self._transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO endings VALUES (?,?,?,?)",
                [(*key, reason) for key, reason in ends],
            )

    def endings(self) -> list[tuple[tuple[str, str, int], str]]:
        rows = self.db.execute("SELECT forwarder, backend, flow_id, reason FROM endings")
        return [((f, b, i), reason) for f, b, i, reason in rows.fetchall()]

    def drop_endings(self, keys: list[tuple[str, str, int]]) -> None:
        with self._transaction():
            self._drop_endings(keys)

    def _drop_endings(self, keys: Sequence[tuple[str, str, int]]) -> None:
        self.db.executemany(
            "DELETE FROM endings WHERE forwarder=? AND backend=? AND flow_id=?", keys
        )

    def allocate(
        self,
        forwarder: str,
        backend: str,
        client: tuple[str, int],
        vip: tuple[str, int],
        classifier: str,
    ) -> Flow:
        """Reserve a fresh id for a connection about to move to `backend`."""
        now = self.clock()
        with self._transaction():
            self._expire(now)
            live = self.db.execute(
                "SELECT forwarder, backend, flow_id FROM flows WHERE client_ip=? AND "
                f"client_port=? AND vip=? AND vip_port=? AND {_LIVE}",
                (*client, *vip),
            ).fetchone()
            if live is not None:
                raise FlowStoreError(
                    f"connection {client[0]}:{client[1]} -> {vip[0]}:{vip[1]} already has "
                    f"flow {live[2]:#010x} to {live[1]}"
                )
            flow_id = self._next_free_id(forwarder, backend)
            flow = Flow(forwarder, backend, flow_id, client[0], client[1], vip[0], vip[1],
                        classifier, PENDING, now, None)
            self.db.execute(
                "INSERT INTO flows VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (flow.forwarder, flow.backend, flow.flow_id, flow.client_ip, flow.client_port,
                 flow.vip, flow.vip_port, flow.classifier, flow.state, flow.created_at, None),
            )
        return flow

    def _next_free_id(self, forwarder: str, backend: str) -> int:
        row = self.db.execute(
            "SELECT next_id FROM cursors WHERE forwarder=? AND backend=?", (forwarder, backend)
        ).fetchone()
        candidate = row[0] if row else 0x00010001
        probes = 0
        while not usable_id(candidate) or self.db.execute(
            "SELECT 1 FROM flows WHERE forwarder=? AND backend=? AND flow_id=?",
            (forwarder, backend, candidate),
        ).fetchone():
            candidate = (candidate + 1) % ID_SPACE
            probes += 1
            # Counting the taken ids walks all of them: only when the cursor
            # has met a long run of taken ones.
            if probes % _PROBES_BEFORE_COUNT == 0 and self._taken(forwarder, backend) >= (
                ID_SPACE >> 1
            ):
                raise FlowStoreError(f"no free flow id for forwarder {forwarder} to {backend}")
        self.db.execute(
            "INSERT INTO cursors VALUES (?,?,?) ON CONFLICT(forwarder, backend) "
            "DO UPDATE SET next_id=excluded.next_id",
            (forwarder, backend, (candidate + 1) % ID_SPACE),
        )
        return candidate

    def _taken(self, forwarder: str, backend: str) -> int:
        count: int = self.db.execute(
            "SELECT COUNT(*) FROM flows WHERE forwarder=? AND backend=?", (forwarder, backend)
        ).fetchone()[0]
        return count

    def lease(self, forwarder: str, backend: str, classifier: str, count: int) -> list[Flow]:
        """Reserve `count` fresh ids for a classifier's coming handoffs to
        `backend` (one transaction); each is bound to its connection later
        (`bind`) or expires like a pending id."""
        now = self.clock()
        leased = []
        with self._transaction():
            self._expire(now)
            for _ in range(count):
                flow_id = self._next_free_id(forwarder, backend)
                flow = Flow(forwarder, backend, flow_id, "", 0, "", 0, classifier, LEASED, now,
                            None)  # fmt: skip
                self.db.execute(
                    "INSERT INTO flows VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (forwarder, backend, flow_id, "", 0, "", 0, classifier, LEASED, now, None),
                )
                leased.append(flow)
        return leased

    def bind(
        self, key: tuple[str, str, int], client: tuple[str, int], vip: tuple[str, int]
    ) -> Flow:
        """A leased id now carries this connection: it becomes pending."""
        now = self.clock()
        with self._transaction():
            flow = self.get(*key)
            if flow is None or flow.state != LEASED:
                current = flow.state if flow else "unknown"
                raise FlowStoreError(
                    f"flow {key[2]:#010x} of {key[0]} to {key[1]} is {current}, expected leased"
                )
            try:
                self.db.execute(
                    "UPDATE flows SET state=?, client_ip=?, client_port=?, vip=?, vip_port=?, "
                    "created_at=? WHERE forwarder=? AND backend=? AND flow_id=?",
                    (PENDING, *client, *vip, now, *key),
                )
            except sqlite3.IntegrityError:
                raise FlowStoreError(
                    f"connection {client[0]}:{client[1]} -> {vip[0]}:{vip[1]} already has a "
                    "live flow"
                ) from None
        return replace(
            flow, state=PENDING, client_ip=client[0], client_port=client[1],
            vip=vip[0], vip_port=vip[1], created_at=now,
        )  # fmt: skip

    def mark_installed(self, forwarder: str, backend: str, flow_id: int) -> Flow:
        return _one(self.mark_installed_many([(forwarder, backend, flow_id)]))

    def mark_installed_many(self, keys: list[tuple[str, str, int]]) -> list[Flow | FlowStoreError]:
        """Their switch entries are written: one transaction for a whole Write's flows."""
        return self._set_states(keys, INSTALLED, None, (PENDING,))

    def release(self, forwarder: str, backend: str, flow_id: int) -> Flow:
        return _one(self.release_many([(forwarder, backend, flow_id)]))

    def release_many(
        self, keys: list[tuple[str, str, int]],
        forget_endings_of: Sequence[tuple[str, str, int]] = (),
    ) -> list[Flow | FlowStoreError]:  # fmt: skip
        """The flows ended (or their handoffs failed): their ids go to
        quarantine and the endings noted for `forget_endings_of` are
        dropped, all in one transaction."""
        return self._set_states(
            keys, QUARANTINE, self.clock(), (LEASED, PENDING, INSTALLED), forget_endings_of
        )

    def _set_states(
        self, keys: list[tuple[str, str, int]], state: str, released_at: float | None,
        allowed_from: tuple[str, ...], forget_endings_of: Sequence[tuple[str, str, int]] = (),
    ) -> list[Flow | FlowStoreError]:  # fmt: skip
        """Each key's flow moves to `state` if it is in one of `allowed_from`;
        the others are answered with the error naming their state."""
        results: list[Flow | FlowStoreError] = []
        with self._transaction():
            for key in keys:
                flow = self.get(*key)
                if flow is None or flow.state not in allowed_from:
                    current = flow.state if flow else "unknown"
                    results.append(FlowStoreError(
                        f"flow {key[2]:#010x} of {key[0]} to {key[1]} is {current}, "
                        f"expected {' or '.join(allowed_from)}"
                    ))  # fmt: skip
                    continue
                self.db.execute(
                    "UPDATE flows SET state=?, released_at=? WHERE forwarder=? AND backend=? "
                    "AND flow_id=?",
                    (state, released_at, *key),
                )
                results.append(replace(flow, state=state, released_at=released_at))
            if forget_endings_of:
                self._drop_endings(forget_endings_of)
        return results

    def get(self, forwarder: str, backend: str, flow_id: int) -> Flow | None:
        row = self.db.execute(
            "SELECT * FROM flows WHERE forwarder=? AND backend=? AND flow_id=?",
            (forwarder, backend, flow_id),
        ).fetchone()
        return Flow(*row) if row else None

    def find_connection(self, client: tuple[str, int], vip: tuple[str, int]) -> Flow | None:
        row = self.db.execute(
            "SELECT * FROM flows WHERE client_ip=? AND client_port=? AND vip=? AND vip_port=? "
            f"AND {_LIVE}",
            (*client, *vip),
        ).fetchone()
        return Flow(*row) if row else None

    def flows(self, state: str | None = None) -> list[Flow]:
        if state is None:
            rows = self.db.execute("SELECT * FROM flows ORDER BY created_at").fetchall()
        else:
            rows = self.db.execute(
                "SELECT * FROM flows WHERE state=? ORDER BY created_at", (state,)
            ).fetchall()
        return [Flow(*row) for row in rows]

    def live_flows(self) -> list[Flow]:
        """Pending and installed flows (through the by_state index: the ids
        in quarantine, a minute of ended flows, are not read)."""
        rows = self.db.execute(
            "SELECT * FROM flows WHERE state IN (?, ?) ORDER BY created_at", (PENDING, INSTALLED)
        ).fetchall()
        return [Flow(*row) for row in rows]

    def count_by_backend(self, state: str) -> dict[str, int]:
        """Flows in `state` per back-end address (through the by_state index)."""
        rows = self.db.execute(
            "SELECT backend, COUNT(*) FROM flows WHERE state=? GROUP BY backend", (state,)
        ).fetchall()
        return {backend: count for backend, count in rows}

    def count(self, state: str) -> int:
        found: int = self.db.execute(
            "SELECT COUNT(*) FROM flows WHERE state=?", (state,)
        ).fetchone()[0]
        return found

    def expire_quarantine(self) -> int:
        """Forget flows whose quarantine is over; returns how many ids became free."""
        with self._transaction():
            return self._expire(self.clock())

    def _expire(self, now: float) -> int:
        cursor = self.db.execute(
            "DELETE FROM flows WHERE state=? AND released_at <= ?",
            (QUARANTINE, now - self.quarantine_s),
        )
        return cursor.rowcount

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)


def _one(results: list[Flow | FlowStoreError]) -> Flow:
    (result,) = results
    if isinstance(result, FlowStoreError):
        raise result
    return result


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, so two controllers never hand out one id."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")

