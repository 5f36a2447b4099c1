"""What the classifier did with its most recent connections, for `handoff trace`.

A bounded ring (`RecentHandoffs`) keeps one `HandoffTrace` per accepted
connection, from accept to its outcome: the request line, the rule and pool
that matched, the back-end, the flow id, and the duration of each handoff
step. The ring is the classifier's only per-connection record and costs a few
attribute writes per connection: the steps arrive through `TracingLatencyLog`,
which the classifier already calls for its Stats, and reach the current
connection's trace through a context variable (every connection is its own
asyncio task, so each has its own).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from controller.classifier.controller_client import FlowRef
from controller.classifier.policy import Decision
from controller.classifier.request import Request
from controller.config.policy import Rule
from controller.handoff.stats import LatencyLog

DEFAULT_CAPACITY = 1024
REQUEST_CHARS = 200

Endpoint = tuple[str, int]


@dataclass(slots=True, eq=False)
class HandoffTrace:
    """One connection as this classifier handled it (filled in as it goes)."""

    client: Endpoint
    vip: Endpoint
    accepted_at: float
    request: Request | None = None
    rule: Rule | None = None
    rule_index: int = -1
    pool: str = ""
    backend: str = ""
    flow: FlowRef | None = None
    phases: list[tuple[str, float]] = field(default_factory=list)
    outcome: str = ""
    finished_at: float = 0.0

    def decided(self, request: Request, decision: Decision) -> None:
        self.request = request
        self.rule = decision.rule
        self.rule_index = decision.rule_index
        self.pool = decision.pool or ""
        self.backend = decision.backend.name if decision.backend is not None else ""

    def finish(self, outcome: str) -> None:
        self.outcome = outcome
        self.finished_at = time.time()

    def matches(self, client_ip: str, client_port: int, flow_id: int) -> bool:
        if client_ip and self.client[0] != client_ip:
            return False
        if client_port and self.client[1] != client_port:
            return False
        return not flow_id or (self.flow is not None and self.flow.flow_id == flow_id)


_current: ContextVar[HandoffTrace | None] = ContextVar("p4handoff_handoff_trace", default=None)


def note_flow(flow: FlowRef, vip: Endpoint) -> None:
    """The flow id allocated for the current connection (and its VIP as accepted)."""
    trace = _current.get()
    if trace is not None:
        trace.flow = flow
        trace.vip = vip


class RecentHandoffs:
    """The last `capacity` connections, oldest dropped first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._ring: deque[HandoffTrace] = deque(maxlen=capacity)

    def begin(self, client: Endpoint, vip: Endpoint) -> HandoffTrace:
        """A new connection's trace, current for the calling task from now on."""
        trace = HandoffTrace(client, vip, time.time())
        self._ring.append(trace)
        _current.set(trace)
        return trace

    def find(
        self, client_ip: str = "", client_port: int = 0, flow_id: int = 0, limit: int = 0
    ) -> Iterator[HandoffTrace]:
        """Matching traces, newest first (at most `limit`, 0: all)."""
        found = 0
        for trace in reversed(list(self._ring)):
            if trace.matches(client_ip, client_port, flow_id):
                yield trace
                found += 1
                if limit and found >= limit:
                    return

    def __len__(self) -> int:
        return len(self._ring)


class TracingLatencyLog(LatencyLog):
    """A LatencyLog whose samples also go to the current connection's trace."""

    def add(self, step: str, seconds: float) -> None:
        super().add(step, seconds)
        trace = _current.get()
        if trace is not None:
            trace.phases.append((step, seconds))


def describe_request(request: Request | None) -> str:
    if request is None:
        return ""
    if request.is_http:
        line = f"{request.method} {request.path or ''}"
        if request.host:
            line += f" (Host: {request.host})"
        return line[:REQUEST_CHARS]
    return f"{len(request.data)} bytes, not HTTP"


def describe_rule(rule: Rule | None) -> str:
    """The rule as a policy file writes it: `{path_prefix: /static/, pool: static}`."""
    if rule is None:
        return ""
    parts = [f"{name}: {value}" for name, value in (
        ("host", rule.host), ("path_prefix", rule.path_prefix), ("method", rule.method),
    ) if value is not None]  # fmt: skip
    parts += [f"headers.{name}: {value}" for name, value in rule.headers]
    if rule.bytes_prefix is not None:
        parts.append(f"bytes_hex: {rule.bytes_prefix.hex()}")
    parts.append(f"pool: {rule.pool}")
    return "{" + ", ".join(parts) + "}"
