"""deploy/grafana/handoff.json queries only what the processes export: every
metric name (and every label it selects or groups by) is checked against the
Prometheus registries the controller, classifier and agent build, not a list
kept by hand; and the dashboard shows what an operator looks for."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from controller.agent import core as agent_core
from controller.classifier import core as classifier_core
from controller.classifier.agent_pool import AgentPool
from controller.handoff.keys import Keyring
from controller.switch import core as switch_core
from controller.switch.agent_release import AgentReleaser

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "handoff.json"
# Labels Prometheus adds to every scraped series, and a histogram's bucket bound.
TARGET_LABELS = {"job", "instance", "le"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}


def exported() -> dict[str, set[str]]:
    """Every series name the three processes can export -> its label names,
    from the registries their metrics are created in."""
    keys = Keyring({1: b"k" * 32})
    registries = []
    # handoff classifier: its metrics and its agent pool's (controller.classifier.main)
    classifier = CollectorRegistry()
    classifier_core._Metrics(classifier)
    AgentPool({}, keys, classifier)
    registries.append(classifier)
    # handoff controller: its metrics and its release notices' (controller.switch.main)
    controller = CollectorRegistry()
    switch_core._Metrics(controller)
    AgentReleaser(keys, lambda backend: (backend, 7100), controller).close()
    registries.append(controller)
    # handoff agent (controller.agent.core.Agent.registry)
    agent = CollectorRegistry()
    agent_core._Metrics(agent)
    agent.register(agent_core._DecapCollector(lambda: agent_core.DecapCounts(0, 0)))
    registries.append(agent)
    names: dict[str, set[str]] = {}
    for registry in registries:
        for family in registry.collect():
            collector = registry._names_to_collectors[family.name]  # labels: private
            labels = set(getattr(collector, "_labelnames", ()))
            for suffix in SUFFIXES[family.type]:
                names[family.name + suffix] = labels
    return names


def queries() -> list[tuple[str, str]]:
    document = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in document["panels"]
            for target in panel["targets"]]  # fmt: skip


def test_the_registries_are_the_processes_own() -> None:
    names = exported()
    assert names['p4handoff_classifier_connections_total'] == {"outcome"}
    assert "p4handoff_controller_flows" in names and "p4handoff_agent_live_flows" in names
    assert "p4handoff_classifier_step_seconds_bucket" in names


@pytest.mark.parametrize("title, expr", queries())
def test_every_query_uses_exported_metrics_and_labels(title: str, expr: str) -> None:
    names = exported()
    used = set(re.findall(r"\bp4handoff_[a-zA-Z0-9_]+", expr))
    assert used, f"{title}: no P4 Handoff metric in {expr}"
    unknown = used - names.keys()
    assert not unknown, f"{title}: {sorted(unknown)} not exported by any process"
    available = set().union(*(names[n] for n in used)) | TARGET_LABELS
    for name, selector in re.findall(r"\b(p4handoff_[a-zA-Z0-9_]+)\{([^}]*)\}", expr):
        for label in re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", selector):
            assert label in names[name] | TARGET_LABELS, f"{title}: {name} has no label {label}"
    for clause in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr):
        for label in (part.strip() for part in clause.split(",") if part.strip()):
            assert label in available, f"{title}: no metric of {expr} has label {label}"


def test_the_dashboard_shows_what_an_operator_looks_for() -> None:
    document = json.loads(DASHBOARD.read_text())
    titles = " | ".join(panel["title"] for panel in document["panels"])
    for wanted in ("Handoffs/s by outcome", "latency p50 by step", "latency p99 by step",
                   "Live flows per back-end", "Switch entries", "Agent health"):  # fmt: skip
        assert wanted in titles
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in document["templating"]["list"]}
    assert {"datasource", "controller_job", "classifier_job", "agent_job"} <= variables
    for panel in document["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert all(t["refId"] for t in panel["targets"])
