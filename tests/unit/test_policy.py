"""Classifier policy: rule order, every algorithm, health, and file mistakes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from paths import ROOT

from controller.classifier.policy import load_policy
from controller.classifier.request import Request, RequestIncomplete, parse_request
from controller.config.policy import PolicyError

POLICIES = ROOT / "topologies" / "policies"
ALL = {"b1", "b2", "b3"}


def http(method: str, path: str, host: str = "www.example.com", **headers: str) -> Request:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return parse_request(("\r\n".join(lines) + "\r\n\r\n").encode(), client_ip="10.0.1.10")


def test_request_head_is_parsed() -> None:
    request = http("GET", "/a?b", host="Shop.Example.com:8080", x_user="7")
    assert (request.method, request.path, request.host) == ("GET", "/a?b", "shop.example.com")
    assert request.headers["x-user"] == "7"


def test_incomplete_and_non_http_requests() -> None:
    with pytest.raises(RequestIncomplete):
        parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n")
    raw = parse_request(b"SSH-2.0-OpenSSH\r\n")
    assert not raw.is_http and raw.data.startswith(b"SSH")
    assert not parse_request(b"GET /\r\n\r\n").is_http


def test_first_matching_rule_wins() -> None:
    policy = load_policy(POLICIES / "basic.yaml", known_backends=ALL)
    assert policy.decide(http("GET", "/static/logo.png"), ALL).pool == "static"
    assert policy.decide(http("POST", "/static/x"), ALL).pool == "static"
    assert policy.decide(http("POST", "/upload"), ALL).pool == "uploads"
    assert policy.decide(http("GET", "/", host="shop.example.com"), ALL).pool == "api"


def test_no_match_and_dead_pool_give_the_no_match_action() -> None:
    policy = load_policy(POLICIES / "basic.yaml", known_backends=ALL)
    decision = policy.decide(parse_request(b"\x16\x03\x01binary"), ALL)
    assert decision.backend is None and decision.no_match_action == "http-503"
    dead = policy.decide(http("GET", "/static/a"), {"b1", "b2"})
    assert dead.backend is None


def test_weighted_round_robin_follows_weights_smoothly() -> None:
    policy = load_policy(POLICIES / "basic.yaml", known_backends=ALL)
    picks = [policy.decide(http("GET", "/"), ALL).backend for _ in range(9)]
    names = [b.name for b in picks if b]
    assert Counter(names) == {"b1": 6, "b2": 3}
    assert "b1b1b1" not in "".join(names)


def test_unhealthy_backend_leaves_the_pool() -> None:
    policy = load_policy(POLICIES / "basic.yaml", known_backends=ALL)
    picks = {policy.decide(http("GET", "/"), {"b2", "b3"}).backend.name for _ in range(6)}
    assert picks == {"b2"}


def test_least_connections_prefers_the_idle_backend() -> None:
    policy = load_policy(POLICIES / "basic.yaml", known_backends=ALL)
    pool = policy.pools["uploads"]
    pool.opened("b1")
    pool.opened("b1")
    pool.opened("b2")
    assert policy.decide(http("POST", "/u"), ALL).backend.name == "b2"
    pool.closed("b1")
    pool.closed("b1")
    assert policy.decide(http("POST", "/u"), ALL).backend.name == "b1"


def test_consistent_hash_keeps_keys_when_a_backend_leaves(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "pools: {p: {algorithm: consistent_hash, hash_key: 'header:X-User',"
        " backends: [b1, b2, b3]}}\n"
        "rules: [{pool: p}]\n"
    )
    policy = load_policy(path)
    users = [str(i) for i in range(300)]
    before = {u: policy.decide(http("GET", "/", x_user=u), ALL).backend.name for u in users}
    assert set(before.values()) == ALL
    after = {u: policy.decide(http("GET", "/", x_user=u), {"b1", "b2"}).backend.name for u in users}
    moved = [u for u in users if before[u] != after[u]]
    assert moved and all(before[u] == "b3" for u in moved)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pools: {p: {backends: [b1]}}\nrules: [{pool: q}]", "rules[0].pool: no pool named 'q'"),
        ("pools: {p: {algorithm: random, backends: [b1]}}\nrules: [{pool: p}]",
         "pools.p.algorithm: expected one of"),
        ("pools: {p: {backends: [b9]}}\nrules: [{pool: p}]",
         "pools.p.backends[0]: 'b9' is not a back-end of the topology"),
        ("pools: {p: {backends: [{name: b1, weight: 0}]}}\nrules: [{pool: p}]",
         "pools.p.backends[0].weight: expected an integer in 1..1000"),
        ("pools: {p: {backends: [b1]}}\nrules: [{pool: p, path: /}]",
         "rules[0]: unknown key 'path'"),
        ("pools: {p: {backends: [b1]}}\nrules: [{pool: p}]\non_no_match: hang",
         "on_no_match: expected one of"),
        ("pools: {p: {backends: [b1]}}\nrules: [{pool: p, bytes_hex: zz}]",
         "rules[0].bytes_hex: expected hexadecimal digits"),
    ],
)
def test_policy_mistakes_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path, known_backends=ALL)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_bytes_rules_match_non_http_services(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "pools: {ssh: {backends: [b1]}, tls: {backends: [b2]}}\n"
        "rules: [{bytes_prefix: 'SSH-', pool: ssh}, {bytes_hex: '160301', pool: tls}]\n"
        "on_no_match: close\n"
    )
    policy = load_policy(path)
    assert policy.decide(parse_request(b"SSH-2.0-x\r\n"), ALL).pool == "ssh"
    assert policy.decide(parse_request(b"\x16\x03\x01\x00"), ALL).pool == "tls"
    assert policy.decide(parse_request(b"hello"), ALL).no_match_action == "close"
