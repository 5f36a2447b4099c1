"""Policy files: which pool a request goes to, and the back-ends of each pool.

A policy file holds pools (back-ends with weights and a balancing algorithm)
and ordered rules (first match wins). Rules match HTTP requests on host, path
prefix, method and header values, and any service on its first bytes. This
module reads the file into typed values (`PolicyFile`), reporting each
mistake with the file and key; the classifier's decisions on these values
live in controller.classifier.policy.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.config.yaml_reader import YamlReader, load_yaml

ALGORITHMS = ("weighted_round_robin", "least_connections", "consistent_hash")
NO_MATCH_ACTIONS = ("http-503", "close")
HASH_KEYS = ("client_ip", "host", "path")


class PolicyError(Exception):
    """A policy file that cannot be used; the message names file and key."""


@dataclass(frozen=True)
class Backend:
    name: str
    weight: int = 1


@dataclass(frozen=True)
class PoolSpec:
    """A pool as the file gives it: back-ends and how to balance over them."""

    name: str
    algorithm: str
    backends: tuple[Backend, ...]
    hash_key: str


@dataclass(frozen=True)
class Rule:
    """One rule; a condition left None (or empty) matches anything."""

    pool: str
    host: str | None = None
    path_prefix: str | None = None
    method: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    bytes_prefix: bytes | None = None


@dataclass(frozen=True)
class PolicyFile:
    source: Path
    pools: dict[str, PoolSpec]
    rules: tuple[Rule, ...]
    on_no_match: str = "http-503"
    read_limit_bytes: int = 8192
    read_timeout_s: float = 2.0


def read_policy(path: str | Path, known_backends: Collection[str] | None = None) -> PolicyFile:
    """Read a policy file; `known_backends` (from the topology) catches typos."""
    source = Path(path)
    document = load_yaml(source, PolicyError)
    read = YamlReader(source, PolicyError)
    top = read.mapping(document, "top level", (), {"pools", "rules", "on_no_match", "read_limit"})
    if "pools" not in top or "rules" not in top:
        raise read.fail("top level", "expected keys 'pools' and 'rules'")
    pools = _read_pools(read, top["pools"], known_backends)
    rules = _read_rules(read, top["rules"], pools)
    on_no_match = top.get("on_no_match", "http-503")
    if on_no_match not in NO_MATCH_ACTIONS:
        raise read.fail(
            "on_no_match", f"expected one of {', '.join(NO_MATCH_ACTIONS)}, got {on_no_match!r}"
        )
    limit = read.mapping(top.get("read_limit", {}), "read_limit", (), {"bytes", "timeout_ms"})
    return PolicyFile(
        source=source,
        pools=pools,
        rules=tuple(rules),
        on_no_match=on_no_match,
        read_limit_bytes=read.integer(limit.get("bytes", 8192), "read_limit.bytes", 1, 1 << 20),
        read_timeout_s=read.integer(
            limit.get("timeout_ms", 2000), "read_limit.timeout_ms", 1, 60000
        )
        / 1000,
    )


def _read_pools(
    read: YamlReader, value: Any, known_backends: Collection[str] | None
) -> dict[str, PoolSpec]:
    if not isinstance(value, dict) or not value:
        raise read.fail("pools", "expected a mapping of pool names to pools")
    pools: dict[str, PoolSpec] = {}
    for name, item in value.items():
        where = f"pools.{name}"
        spec = read.mapping(item, where, (), {"algorithm", "backends", "hash_key"})
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
        pools[str(name)] = PoolSpec(str(name), algorithm, tuple(backends), hash_key)
    return pools


def _read_backends(
    read: YamlReader, value: Any, where: str, known_backends: Collection[str] | None
) -> list[Backend]:
    if not isinstance(value, list) or not value:
        raise read.fail(f"{where}.backends", "expected a non-empty list of back-ends")
    backends: list[Backend] = []
    for index, item in enumerate(value):
        at = f"{where}.backends[{index}]"
        if isinstance(item, str):
            backend = Backend(item)
        else:
            spec = read.mapping(item, at, (), {"name", "weight"})
            backend = Backend(
                read.string(spec.get("name"), f"{at}.name"),
                read.integer(spec.get("weight", 1), f"{at}.weight", 1, 1000),
            )
        if known_backends is not None and backend.name not in known_backends:
            raise read.fail(f"{at}", f"{backend.name!r} is not a back-end of the topology")
        if any(b.name == backend.name for b in backends):
            raise read.fail(f"{at}", f"{backend.name!r} is listed twice")
        backends.append(backend)
    return backends


def _read_rules(read: YamlReader, value: Any, pools: dict[str, PoolSpec]) -> list[Rule]:
    if not isinstance(value, list) or not value:
        raise read.fail("rules", "expected a non-empty list of rules")
    rules: list[Rule] = []
    allowed = {"pool", "host", "path_prefix", "method", "headers", "bytes_prefix", "bytes_hex"}
    for index, item in enumerate(value):
        where = f"rules[{index}]"
        spec = read.mapping(item, where, (), allowed)
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


def _optional_string(read: YamlReader, spec: dict[str, Any], key: str, where: str) -> str | None:
    return read.string(spec[key], f"{where}.{key}") if key in spec else None
