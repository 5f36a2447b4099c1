"""The classifier's ring of recent connections (controller.classifier.recent),
which `handoff trace` reads: one trace per connection task, its steps from the
latency log the classifier already feeds, newest first, bounded."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Histogram

from controller.classifier.controller_client import FlowRef
from controller.classifier.policy import Decision
from controller.classifier.recent import (
    RecentHandoffs,
    TracingLatencyLog,
    describe_request,
    describe_rule,
    note_flow,
)
from controller.classifier.request import parse_request
from controller.config.policy import Backend, Rule

VIP = ("10.0.0.100", 80)


def latency_log() -> TracingLatencyLog:
    histogram = Histogram("steps", "steps", ["step"], registry=CollectorRegistry())
    return TracingLatencyLog(histogram)


def test_each_connection_task_gets_its_own_steps_and_flow() -> None:
    recent, log = RecentHandoffs(), latency_log()

    async def connection(port: int) -> None:
        trace = recent.begin(("10.0.1.10", port), VIP)
        log.add("read", port / 1e6)
        await asyncio.sleep(0)  # the other connection runs in between
        note_flow(FlowRef("10.0.0.1", "10.0.2.11", port), VIP)
        log.add("allocate", 2 * port / 1e6)
        trace.finish("handed_off")

    async def both() -> None:
        await asyncio.gather(connection(1000), connection(2000))

    asyncio.run(both())
    log.add("outside", 1.0)  # no current connection: Stats only
    newest, oldest = recent.find()
    assert [t.client[1] for t in (newest, oldest)] == [2000, 1000]
    assert oldest.phases == [("read", 0.001), ("allocate", 0.002)]
    assert oldest.flow is not None and oldest.flow.flow_id == 1000
    assert oldest.outcome == "handed_off" and oldest.finished_at >= oldest.accepted_at
    assert [t.client[1] for t in recent.find(flow_id=2000)] == [2000]
    assert [t.client[1] for t in recent.find(client_ip="10.0.1.10", client_port=1000)] == [1000]
    assert list(recent.find(client_ip="10.0.1.11")) == []
    assert {s.step for s in log.summaries()} == {"read", "allocate", "outside"}


def test_the_ring_is_bounded_and_limits_answers() -> None:
    recent = RecentHandoffs(capacity=3)
    for port in range(1, 6):
        recent.begin(("10.0.1.10", port), VIP)
    assert len(recent) == 3
    assert [t.client[1] for t in recent.find()] == [5, 4, 3]
    assert [t.client[1] for t in recent.find(limit=2)] == [5, 4]


def test_the_decision_and_request_as_an_operator_reads_them() -> None:
    rule = Rule(pool="static", path_prefix="/static/", headers=(("x-a", "1"),))
    request = parse_request(b"GET /static/a HTTP/1.1\r\nHost: shop\r\n\r\n", "10.0.1.10")
    trace = RecentHandoffs().begin(("10.0.1.10", 1), VIP)
    trace.decided(request, Decision("static", Backend("b3", 1), "http-503", rule, 2))
    assert (trace.rule_index, trace.pool, trace.backend) == (2, "static", "b3")
    assert describe_rule(trace.rule) == "{path_prefix: /static/, headers.x-a: 1, pool: static}"
    assert describe_request(trace.request) == "GET /static/a (Host: shop)"
    assert describe_request(parse_request(b"\x16\x03\x01", "")) == "3 bytes, not HTTP"
