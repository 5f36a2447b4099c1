"""The numbers behind the Stats RPC of the controller and the classifiers.

Prometheus is the long-term record (histograms and counters scraped over
HTTP); the Stats RPC answers "how is it doing right now" for the CLI without
a Prometheus server: counters are the registry's own samples, flattened, and
latencies are percentiles over the most recent samples of each step.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram

from controller.proto import handoff_pb2 as pb

LATENCY_BUCKETS = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 1.0, 5.0)


@dataclass(frozen=True)
class LatencySummary:
    step: str
    count: int
    mean_s: float
    p50_s: float
    p99_s: float
    max_s: float


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


class LatencyLog:
    """Per-step durations: every sample goes to the histogram (label `step`),
    the last `keep` of each step stay for percentiles."""

    def __init__(self, histogram: Histogram, keep: int = 4096) -> None:
        self._histogram = histogram
        self._keep = keep
        self._lock = threading.Lock()
        self._recent: dict[str, deque[float]] = {}
        self._counts: dict[str, int] = {}
        # Histogram.labels() checks and locks on every call; a handoff adds
        # some ten samples, so each step's child is looked up once.
        self._children: dict[str, Histogram] = {}

    def add(self, step: str, seconds: float) -> None:
        child = self._children.get(step)
        if child is None:
            child = self._children[step] = self._histogram.labels(step)
        child.observe(seconds)
        with self._lock:
            self._recent.setdefault(step, deque(maxlen=self._keep)).append(seconds)
            self._counts[step] = self._counts.get(step, 0) + 1

    def summaries(self) -> list[LatencySummary]:
        with self._lock:
            recent = {step: sorted(samples) for step, samples in self._recent.items()}
            counts = dict(self._counts)
        return [
            LatencySummary(
                step,
                counts[step],
                sum(ordered) / len(ordered),
                _percentile(ordered, 0.5),
                _percentile(ordered, 0.99),
                ordered[-1],
            )
            for step, ordered in recent.items()
        ]


def flatten(registry: CollectorRegistry) -> dict[str, float]:
    """Counter and gauge samples as `name{label="value",...}` -> value
    (histogram buckets left out; their _count and _sum kept)."""
    out: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith(("_bucket", "_created")):
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = float(sample.value)
    return out


def stats_response(
    role: str, name: str, primary: bool, registry: CollectorRegistry, latencies: LatencyLog
) -> pb.StatsResponse:
    return pb.StatsResponse(
        role=role,
        name=name,
        primary=primary,
        counters=flatten(registry),
        latencies=[
            pb.Latency(
                step=s.step,
                count=s.count,
                mean_s=s.mean_s,
                p50_s=s.p50_s,
                p99_s=s.p99_s,
                max_s=s.max_s,
            )
            for s in latencies.summaries()
        ],
    )
