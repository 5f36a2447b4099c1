"""The classifier's policy: which pool a request goes to, and which back-end in it.

The policy file (read by controller.config.policy) holds pools (back-ends
with weights and a balancing algorithm) and ordered rules (first match wins).
Rules match HTTP requests on host, path prefix, method and header values, and
any service on its first bytes. The three algorithms are the ones operators
expect from L7 balancers: smooth weighted round robin (as nginx does it),
least connections relative to weight, and consistent hashing on a chosen key
so a key keeps its back-end while the pool changes little.

Back-ends that fail their health checks are passed in as not live and are
skipped; a pool with no live back-end is a miss, answered like a request that
matched no rule.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from controller.classifier.request import Request
from controller.config.policy import Backend, Rule, read_policy

VIRTUAL_NODES_PER_WEIGHT = 64


class Pool:
    """Back-ends plus the state of their balancing algorithm."""

    def __init__(self, name: str, algorithm: str, backends: list[Backend], hash_key: str) -> None:
        self.name = name
        self.algorithm = algorithm
        self.backends = backends
        self.hash_key = hash_key
        self.active: dict[str, int] = {b.name: 0 for b in backends}
        self._current: dict[str, int] = {b.name: 0 for b in backends}
        self._ring: list[tuple[int, str]] = sorted(
            (_hash64(f"{b.name}#{i}".encode()), b.name)
            for b in backends
            for i in range(b.weight * VIRTUAL_NODES_PER_WEIGHT)
        )
        self._ring_keys = [point for point, _ in self._ring]

    def choose(self, request: Request, live: Collection[str]) -> Backend | None:
        candidates = [b for b in self.backends if b.name in live]
        if not candidates:
            return None
        if self.algorithm == "weighted_round_robin":
            return self._smooth_weighted_round_robin(candidates)
        if self.algorithm == "least_connections":
            return min(candidates, key=lambda b: (self.active[b.name] / b.weight, -b.weight))
        return self._consistent_hash(request, live)

    def opened(self, backend: str) -> None:
        self.active[backend] += 1

    def closed(self, backend: str) -> None:
        self.active[backend] = max(0, self.active[backend] - 1)

    def _smooth_weighted_round_robin(self, candidates: list[Backend]) -> Backend:
        total = 0
        best: Backend | None = None
        for backend in candidates:
            self._current[backend.name] += backend.weight
            total += backend.weight
            if best is None or self._current[backend.name] > self._current[best.name]:
                best = backend
        assert best is not None
        self._current[best.name] -= total
        return best

    def _consistent_hash(self, request: Request, live: Collection[str]) -> Backend | None:
        point = _hash64(self._key_of(request).encode())
        start = bisect.bisect_left(self._ring_keys, point)
        by_name = {b.name: b for b in self.backends}
        for offset in range(len(self._ring)):
            name = self._ring[(start + offset) % len(self._ring)][1]
            if name in live:
                return by_name[name]
        return None

    def _key_of(self, request: Request) -> str:
        if self.hash_key == "client_ip":
            return request.client_ip
        if self.hash_key == "host":
            return request.host or ""
        if self.hash_key == "path":
            return request.path or ""
        return request.headers.get(self.hash_key.removeprefix("header:").lower(), "")


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def matches(rule: Rule, request: Request) -> bool:
    if rule.bytes_prefix is not None and not request.data.startswith(rule.bytes_prefix):
        return False
    http_conditions = (rule.host, rule.path_prefix, rule.method) != (None, None, None)
    if (http_conditions or rule.headers) and not request.is_http:
        return False
    if rule.host is not None and not _host_matches(rule.host, request.host):
        return False
    if rule.path_prefix is not None and not (request.path or "").startswith(rule.path_prefix):
        return False
    if rule.method is not None and request.method != rule.method:
        return False
    return all(request.headers.get(name) == value for name, value in rule.headers)


def _host_matches(pattern: str, host: str | None) -> bool:
    if host is None:
        return False
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


@dataclass(frozen=True)
class Decision:
    """Where a request goes: a back-end of a pool, or the no-match answer."""

    pool: str | None
    backend: Backend | None
    no_match_action: str
    rule: Rule | None = None  # the rule that matched
    rule_index: int = -1  # its position in the policy's rules


@dataclass
class Policy:
    source: Path
    pools: dict[str, Pool]
    rules: list[Rule]
    on_no_match: str = "http-503"
    read_limit_bytes: int = 8192
    read_timeout_s: float = 2.0
    backends: set[str] = field(default_factory=set)

    def decide(self, request: Request, live: Collection[str]) -> Decision:
        for index, rule in enumerate(self.rules):
            if matches(rule, request):
                backend = self.pools[rule.pool].choose(request, live)
                if backend is None:
                    return Decision(None, None, self.on_no_match, rule, index)
                return Decision(rule.pool, backend, self.on_no_match, rule, index)
        return Decision(None, None, self.on_no_match)


def load_policy(path: str | Path, known_backends: Collection[str] | None = None) -> Policy:
    """Read a policy file (controller.config.policy) into a fresh `Policy`;
    `known_backends` (from the topology) catches typos. Raises PolicyError."""
    spec = read_policy(path, known_backends)
    pools = {
        name: Pool(name, pool.algorithm, list(pool.backends), pool.hash_key)
        for name, pool in spec.pools.items()
    }
    return Policy(
        source=spec.source,
        pools=pools,
        rules=list(spec.rules),
        on_no_match=spec.on_no_match,
        read_limit_bytes=spec.read_limit_bytes,
        read_timeout_s=spec.read_timeout_s,
        backends={b.name for pool in pools.values() for b in pool.backends},
    )
