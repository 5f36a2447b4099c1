"""The classifier's policy: which pool a request goes to, and which back-end in it.

A policy file holds pools (back-ends with weights and a balancing algorithm)
and ordered rules (first match wins). Rules match HTTP requests on host, path
prefix, method and header values, and any service on its first bytes. The
three algorithms are the ones operators expect from L7 balancers: smooth
weighted round robin (as nginx does it), least connections relative to weight,
and consistent hashing on a chosen key so a key keeps its back-end while the
pool changes little.

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
from typing import Any

import yaml

from controller.request import Request

ALGORITHMS = ("weighted_round_robin", "least_connections", "consistent_hash")
NO_MATCH_ACTIONS = ("http-503", "close")
HASH_KEYS = ("client_ip", "host", "path")
VIRTUAL_NODES_PER_WEIGHT = 64


class PolicyError(Exception):
    """A policy file that cannot be used; the message names file and key."""


@dataclass(frozen=True)
class Backend:
    name: str
    weight: int = 1


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


@dataclass(frozen=True)
class Rule:
    pool: str
    host: str | None = None
    path_prefix: str | None = None
    method: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    bytes_prefix: bytes | None = None

    def matches(self, request: Request) -> bool:
        if self.bytes_prefix is not None and not request.data.startswith(self.bytes_prefix):
            return False
        http_conditions = (self.host, self.path_prefix, self.method) != (None, None, None)
        if (http_conditions or self.headers) and not request.is_http:
            return False
        if self.host is not None and not _host_matches(self.host, request.host):
            return False
        if self.path_prefix is not None and not (request.path or "").startswith(self.path_prefix):
            return False
        if self.method is not None and request.method != self.method:
            return False
        return all(request.headers.get(name) == value for name, value in self.headers)


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
        for rule in self.rules:
            if rule.matches(request):
                backend = self.pools[rule.pool].choose(request, live)
                if backend is None:
                    break
                return Decision(rule.pool, backend, self.on_no_match)
        return Decision(None, None, self.on_no_match)


class _Reader:
    def __init__(self, source: Path) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> PolicyError:
        return PolicyError(f"{self.source}: {where}: {message}")

    def mapping(self, value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(
                where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
            )
        return value

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"expected a non-empty string, got {value!r}")
        return value

    def positive(self, value: Any, where: str, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise self.fail(where, f"expected an integer in 1..{high}, got {value!r}")
        return value


def load_policy(path: str | Path, known_backends: Collection[str] | None = None) -> Policy:
    """Read a policy file; `known_backends` (from the topology) catches typos."""
    source = Path(path)
    try:
        document = yaml.safe_load(source.read_text())
    except OSError as error:
        raise PolicyError(f"{source}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise PolicyError(f"{source}: not valid YAML: {error}") from None
    read = _Reader(source)
    top = read.mapping(document, "top level", {"pools", "rules", "on_no_match", "read_limit"})
    if "pools" not in top or "rules" not in top:
        raise read.fail("top level", "expected keys 'pools' and 'rules'")
    pools = _read_pools(read, top["pools"], known_backends)
    rules = _read_rules(read, top["rules"], pools)
    on_no_match = top.get("on_no_match", "http-503")
    if on_no_match not in NO_MATCH_ACTIONS:
        raise read.fail(
            "on_no_match", f"expected one of {', '.join(NO_MATCH_ACTIONS)}, got {on_no_match!r}"
        )
    limit = read.mapping(top.get("read_limit", {}), "read_limit", {"bytes", "timeout_ms"})
    return Policy(
        source=source,
        pools=pools,
        rules=rules,
        on_no_match=on_no_match,
        read_limit_bytes=read.positive(limit.get("bytes", 8192), "read_limit.bytes", 1 << 20),
        read_timeout_s=read.positive(limit.get("timeout_ms", 2000), "read_limit.timeout_ms", 60000)
        / 1000,
        backends={b.name for pool in pools.values() for b in pool.backends},
    )


def _read_pools(
    read: _Reader, value: Any, known_backends: Collection[str] | None
) -> dict[str, Pool]:
    if not isinstance(value, dict) or not value:
        raise read.fail("pools", "expected a mapping of pool names to pools")
    pools: dict[str, Pool] = {}
    for name, item in value.items():
        where = f"pools.{name}"
        spec = read.mapping(item, where, {"algorithm", "backends", "hash_key"})
        algorithm = spec.get("algorithm", "weighted_round_robin")
        if algorithm not in ALGORITHMS:
            raise read.fail(
                f"{where}.algorithm", f"expected one of {', '.join(ALGORITHMS)}, got {algorithm!r}"
            )
        hash_key = spec.get("hash_key", "client_ip")
        if "hash_key" in spec and algorithm != "consistent_hash":
            raise read.fail(f"{where}.hash_key", "only consistent_hash uses a hash_key")
        if hash_key not in HASH_KEYS and not str(hash_key).startswith("header:"):
            raise read.fail(
                f"{where}.hash_key",
                f"expected one of {', '.join(HASH_KEYS)} or header:NAME, got {hash_key!r}",
            )
        backends = _read_backends(read, spec.get("backends"), where, known_backends)
        pools[str(name)] = Pool(str(name), algorithm, backends, hash_key)
    return pools


def _read_backends(
    read: _Reader, value: Any, where: str, known_backends: Collection[str] | None
) -> list[Backend]:
    if not isinstance(value, list) or not value:
        raise read.fail(f"{where}.backends", "expected a non-empty list of back-ends")
    backends: list[Backend] = []
    for index, item in enumerate(value):
        at = f"{where}.backends[{index}]"
        if isinstance(item, str):
            backend = Backend(item)
        else:
            spec = read.mapping(item, at, {"name", "weight"})
            backend = Backend(
                read.string(spec.get("name"), f"{at}.name"),
                read.positive(spec.get("weight", 1), f"{at}.weight", 1000),
            )
        if known_backends is not None and backend.name not in known_backends:
            raise read.fail(f"{at}", f"{backend.name!r} is not a back-end of the topology")
        if any(b.name == backend.name for b in backends):
            raise read.fail(f"{at}", f"{backend.name!r} is listed twice")
        backends.append(backend)
    return backends


def _read_rules(read: _Reader, value: Any, pools: dict[str, Pool]) -> list[Rule]:
    if not isinstance(value, list) or not value:
        raise read.fail("rules", "expected a non-empty list of rules")
    rules: list[Rule] = []
    allowed = {"pool", "host", "path_prefix", "method", "headers", "bytes_prefix", "bytes_hex"}
    for index, item in enumerate(value):
        where = f"rules[{index}]"
        spec = read.mapping(item, where, allowed)
        pool = read.string(spec.get("pool"), f"{where}.pool")
        if pool not in pools:
            raise read.fail(f"{where}.pool", f"no pool named {pool!r}")
        headers = spec.get("headers", {})
        if not isinstance(headers, dict):
            raise read.fail(f"{where}.headers", "expected a mapping of header names to values")
        prefix: bytes | None = None
        if "bytes_prefix" in spec and "bytes_hex" in spec:
            raise read.fail(where, "use bytes_prefix or bytes_hex, not both")
        if "bytes_prefix" in spec:
            prefix = read.string(spec["bytes_prefix"], f"{where}.bytes_prefix").encode()
        if "bytes_hex" in spec:
            try:
                prefix = bytes.fromhex(read.string(spec["bytes_hex"], f"{where}.bytes_hex"))
            except ValueError:
                raise read.fail(f"{where}.bytes_hex", "expected hexadecimal digits") from None
        method = spec.get("method")
        rules.append(
            Rule(
                pool=pool,
                host=_optional_string(read, spec, "host", where),
                path_prefix=_optional_string(read, spec, "path_prefix", where),
                method=read.string(method, f"{where}.method").upper() if method else None,
                headers=tuple((str(k).lower(), str(v)) for k, v in headers.items()),
                bytes_prefix=prefix,
            )
        )
    return rules


def _optional_string(read: _Reader, spec: dict[str, Any], key: str, where: str) -> str | None:
    return read.string(spec[key], f"{where}.{key}") if key in spec else None
