"""The results page (docs/results.md) from the JSON bench/run_all.py wrote.

Generic on purpose: each benchmark's JSON is shown as it is, scalars as a
figure/value table and every list of records as a table of its own, so a
new benchmark appears on the page without touching this file.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any

# Keys the environment block already shows, when a benchmark repeats them.
META = {"environment", "machine", "commit", "dirty", "python", "cpus"}


def fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if isinstance(value, bool) else "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def render(data: Any) -> list[str]:
    """Markdown for one result: a figure table, then one table per list of
    records (e.g. one row per measured point)."""
    scalars: list[tuple[str, Any]] = []
    records: list[tuple[str, list[dict[str, Any]]]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key not in META:
                    walk(item, f"{path} / {key}" if path else str(key))
        elif _is_records(value):
            records.append((path, value))
        elif isinstance(value, list):
            scalars.append((path, ", ".join(fmt(v) for v in value)))
        else:
            scalars.append((path, value))

    walk(data, "")
    lines: list[str] = []
    if scalars:
        lines += ["| figure | value |", "|---|---:|"]
        lines += [f"| {name} | {fmt(value)} |" for name, value in scalars]
        lines.append("")
    for name, rows in records:
        lines += [f"`{name}`:", ""]
        lines += record_table([_flat(row) for row in rows])
        lines.append("")
    return lines


def _flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """One record with nested objects spelled out: {"latency_ms": {"p50": 1}}
    becomes {"latency_ms p50": 1}; lists inside a record are left out."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix} {key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(_flat(value, name))
        elif not isinstance(value, list):
            out[name] = value
    return out


def record_table(rows: list[dict[str, Any]]) -> list[str]:
    """Rows as a table, or transposed (one column per record, named by its
    first field) when records have more fields than fit across a page."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    if len(columns) <= 10:
        return [
            "| " + " | ".join(columns) + " |",
            "|" + "---:|" * len(columns),
            *("| " + " | ".join(fmt(row.get(c)) for c in columns) + " |" for row in rows),
        ]
    first = columns[0]
    header = [f"{first} {fmt(row.get(first))}" for row in rows]
    return [
        "| figure | " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(rows),
        *(f"| {c} | " + " | ".join(fmt(row.get(c)) for row in rows) + " |" for c in columns[1:]),
    ]


def summary_line(root: Path, name: str) -> str:
    """The first line of the benchmark script's docstring (its bmv2 run's too)."""
    bmv2 = name.endswith("-bmv2")
    script = root / "bench" / f"{name.removesuffix('-bmv2')}.py"
    try:
        doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    except (OSError, SyntaxError):
        return ""
    line = " ".join(doc.split("\n\n")[0].split())
    if not bmv2:
        return line
    return (f"{line.replace('on p4sim', 'on bmv2')} This run: `--target bmv2`; bmv2 built "
            "`--disable-logging-macros --disable-elogger CXXFLAGS=-O2` (the fast build).")


BMV2_BUILD = (
    "bmv2 is behavioral-model 1.15.5 (with PI 0.1.2, p4c 1.2.5.16) configured "
    "`--disable-logging-macros --disable-elogger CXXFLAGS=-O2`, the fast build (the p4lang "
    "tutorials' VM builds it with logging on, several times slower)"
)


def _result(summary: dict[str, Any], root: Path, name: str) -> dict[str, Any] | None:
    for o in summary["benchmarks"]:
        if o["name"] == name and o["status"] == "ok" and o["results"]:
            path = root / o["results"][0]
            if path.exists():
                data: dict[str, Any] = json.loads(path.read_text())
                return data
    return None


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "-"


def _newconn_rows(
    mine: dict[str, Any] | None, theirs: dict[str, Any] | None
) -> list[tuple[str, float | None, float | None]]:
    """New connections/s with a connection per request, the handoff's and
    HAProxy's, and the handoff over HAProxy: the switch is on both paths, so
    the target changes the ratio as well as the rates."""
    if not mine or not theirs:
        return []

    def close_rates(document: dict[str, Any]) -> dict[tuple[str, int], float]:
        return {(r["path"], r["clients"]): r["requests_per_s"]
                for r in document["runs"] if r["mode"] == "close"}  # fmt: skip

    ours, other = close_rates(mine), close_rates(theirs)
    rows: list[tuple[str, float | None, float | None]] = []
    for clients in sorted({c for _, c in ours} & {c for _, c in other}):
        handoff = (ours.get(("handoff", clients)), other.get(("handoff", clients)))
        haproxy = (ours.get(("haproxy", clients)), other.get(("haproxy", clients)))
        rows.append((f"lab: new connections/s through the handoff, {clients} clients", *handoff))
        rows.append((f"lab: new connections/s through HAProxy, {clients} clients", *haproxy))
        p4sim, bmv2 = (h / p if h and p else None for h, p in zip(handoff, haproxy, strict=True))
        rows.append((f"lab: handoff / HAProxy new connections/s, {clients} clients", p4sim, bmv2))
    return rows


def target_comparison(summary: dict[str, Any], root: Path) -> list[str]:
    """p4sim next to bmv2, figure by figure, from the benchmarks of this run
    that measured both: forwarder_veth_pps, p4runtime_writes, handoff and
    newconn with their -bmv2 runs."""
    rows: list[tuple[str, float | None, float | None]] = []
    veth = _result(summary, root, "forwarder_veth_pps")
    for row in (veth or {}).get("p4sim_over_bmv2", []):
        what = (f"forwarder on veths, {row['entries']:,} encap_map entries, "
                f"{row['traffic'].replace('_', ' ')}")  # fmt: skip
        rows.append((f"{what}: loss-free packets/s", row["p4sim loss_free_pps"],
                     row["bmv2 loss_free_pps"]))  # fmt: skip
        rows.append((f"{what}: packets per CPU second of the switch", row["p4sim per_cpu_s"],
                     row["bmv2 per_cpu_s"]))  # fmt: skip
    writes = _result(summary, root, "p4runtime_writes") or {}
    if "p4sim" in writes and "bmv2" in writes:
        rows.append(("P4Runtime inserts/s, one entry per Write", writes["p4sim"]["single_per_s"],
                     writes["bmv2"]["single_per_s"]))  # fmt: skip
        rows.append(("P4Runtime inserts/s, batches of 1,000", writes["p4sim"]["batched_per_s"],
                     writes["bmv2"]["batched_per_s"]))  # fmt: skip
    mine, theirs = _result(summary, root, "handoff"), _result(summary, root, "handoff-bmv2")
    if mine and theirs:
        rows.append(("lab: classifier <-> agent round trip through the switch, p50 ms",
                     mine["round_trip_ms"]["p50"], theirs["round_trip_ms"]["p50"]))  # fmt: skip
        other = {lv["concurrency"]: lv for lv in theirs["levels"]}
        for level in mine["levels"]:
            peer = other.get(level["concurrency"])
            if peer is None:
                continue
            c = level["concurrency"]
            rows.append((f"lab: handoffs/s, {c} at a time", level["handoffs_per_s"],
                         peer["handoffs_per_s"]))  # fmt: skip
            rows.append((f"lab: decision to handover p50 ms, {c} at a time",
                         level["latency_ms"]["p50"], peer["latency_ms"]["p50"]))  # fmt: skip
    rows += _newconn_rows(_result(summary, root, "newconn"), _result(summary, root, "newconn-bmv2"))
    lines = ["## p4sim / bmv2", ""]
    if not rows:
        return [*lines, "No bmv2 figures in this run (p4c and simple_switch_grpc were not on "
                "PATH, or the benchmarks comparing the targets did not run).", ""]  # fmt: skip
    lines += [
        "Both targets measured in this run on the same machine, figure by figure (the "
        "sections below have the details and how each was measured). The machine has 2 cores "
        "and was shared with other work during the run: compare the ratios, not the absolute "
        "figures, and prefer the per-CPU-second ones. Ratio above 1: p4sim's figure is the "
        f"higher one (for latencies that means p4sim is slower). {BMV2_BUILD}.",
        "",
        "| figure | p4sim | bmv2 | p4sim / bmv2 |",
        "|---|---:|---:|---:|",
        *(f"| {what} | {fmt(a)} | {fmt(b)} | {_ratio(a, b)} |" for what, a, b in rows),
        "",
    ]
    return lines


def write_page(summary: dict[str, Any], page: Path, root: Path) -> None:
    quick = summary["mode"] == "quick"
    m = summary["machine"]
    rev = (summary.get("commit") or "unknown")[:12] + (
        " (with local changes)" if summary.get("dirty") else ""
    )
    lines = [
        "# Benchmark results" + (" (quick run)" if quick else ""),
        "",
        "Generated by `make bench` (`bench/run_all.py`) from the JSON in `bench/results/`; "
        "do not edit, run it again.",
        "",
    ]
    if quick:
        lines += [
            "**Quick-run figures**: smoke-sized counts on a possibly busy machine. They show "
            "that the benchmarks work, not what the system does; quote the full run.",
            "",
        ]
    lines += [
        f"- machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"{m['os']}, Linux {m['kernel']}, Python {m['python']}",
        f"- commit: `{rev}`, finished {summary['finished']}",
        "",
        "| benchmark | status | seconds | results |",
        "|---|---|---:|---|",
    ]
    for o in summary["benchmarks"]:
        results = ", ".join(f"`{r}`" for r in o["results"]) or "-"
        lines.append(
            f"| [{o['name']}](#{o['name'].replace('_', '-')}) | {fmt(o['status'])} | "
            f"{o['seconds']} | {results} |"
        )
    lines.append("")
    lines += target_comparison(summary, root)
    for o in summary["benchmarks"]:
        lines += [f"## {o['name']}", ""]
        about = summary_line(root, o["name"])
        if about:
            lines += [about, ""]
        lines += [f"Command: `{' '.join(o['command'])}` ({o['seconds']} s, {o['status']})", ""]
        for result in o["results"]:
            path = root / result
            if not path.exists():
                continue
            data = json.loads(path.read_text())
            env = data.get("environment", {})
            lines += [f"From `{result}` ({env.get('mode', summary['mode'])} run):", ""]
            lines += render(data)
        for plot in o["plots"]:
            rel = os.path.relpath(root / plot, page.parent)
            lines += [f"![{Path(plot).stem}]({rel})", ""]
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("\n".join(lines).rstrip() + "\n")
