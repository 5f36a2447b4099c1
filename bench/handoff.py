"""Handoff latency and rate, end to end on the lab with the forwarder on p4sim.

The lab of tests/e2e_support.py (basic topology in namespaces, p4sim
programmed over P4Runtime, three agents and demo back-ends, the test
classifier) serves a probe of connections one at a time, then 1,000 client
connections at each concurrency level. Each connection sends one `GET /`, is
handed off to a back-end (round robin), reads the back-end's answer and
closes. The client runs as its own process in the client namespace, so it
does not share a GIL with the classifier.

Measured at the classifier, per handoff (docs/blob-format.md, "One handoff,
message by message"):
  latency     decision -> the agent's answer to the commit: the application
              holds the socket. Lock, freeze, seal, handoff blob through the
              switch, agent checks, decapsulation, restore, "ready" back,
              the encap_map entry written over P4Runtime, the commit through
              the switch, SCM_RIGHTS, its answer back.
  ready       decision -> the agent's "ready" (the socket restored, held)
  switch-over decision -> entry written, commit sent, frozen copy gone
and the steps (p50): lock+freeze+seal, the handoff's round trip to the
agent, the entry write, the commit's round trip, the close and unlock (which
overlap the commit), and the agents' own mean times for both phases.
Handoffs per second = handoffs / (last handover - first decision). The
classifier <-> agent round trip through p4sim is measured separately (1-byte
TCP ping-pong between the classifier and a back-end) because every latency
figure contains two of them.

The client closes as soon as it has the answer; "client close" is the
response -> the back-end's FIN at the client. The application gets the
socket only after the entry is written, so the client's FIN goes straight to
the back-end: without the commit step it fell into the switch-over gap, was
dropped by the classifier's lock and came again after an RTO (~200 ms).

    .venv/bin/python bench/handoff.py [--connections 1000] [--levels 8,32,128] [--probe 100]
    .venv/bin/python bench/handoff.py --quick

Needs root. Prints a table; writes bench/results/handoff.json and .png
(handoff-quick.* with --quick).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
RESULTS = ROOT / "bench" / "results"
PING_PORT = 7200


# ---------------------------------------------------------------- client process


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(v * 1e3 for v in values)
    if not ordered:
        return {}
    return {
        "p50": round(ordered[len(ordered) // 2], 3),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


async def _one(vip: tuple[str, int], backend: str, timings: list[tuple[float, float]]) -> None:
    """One handed-off connection; raises unless `backend` answered. Appends
    (connect -> response, response -> the back-end's FIN) to `timings`."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(*vip)
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: vip\r\nX-Handoff-To: {backend}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        body = await reader.readexactly(length)
        answered = time.perf_counter()
        writer.write_eof()
        rest = await reader.read()
        closed = time.perf_counter()
    finally:
        writer.close()
        await writer.wait_closed()
    if (
        f"X-Backend: {backend}\r\n".encode() not in head
        or body != f"hello from {backend}\n".encode()
    ):
        raise ValueError(f"wrong answer: {head[:200]!r} {body[:100]!r}")
    if rest:
        raise ValueError(f"{len(rest)} bytes after the response")
    timings.append((answered - started, closed - answered))


async def _clients(
    vip: tuple[str, int], count: int, concurrency: int, backends: list[str]
) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    timings: list[tuple[float, float]] = []

    async def bounded(i: int) -> str | None:
        async with gate:
            try:
                await _one(vip, backends[i % len(backends)], timings)
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"
            return None

    started = time.perf_counter()
    problems = await asyncio.gather(*(bounded(i) for i in range(count)))
    wall = time.perf_counter() - started
    failed = [p for p in problems if p is not None]
    return {
        "wall_s": wall,
        "failed": len(failed),
        "first_failure": failed[0] if failed else "",
        "response_ms": _ms([t[0] for t in timings]),
        "close_ms": _ms([t[1] for t in timings]),
    }


def client_main(args: argparse.Namespace) -> int:
    host, port = args.vip.split(":")
    result = asyncio.run(
        _clients((host, int(port)), args.connections, args.concurrency, args.backends.split(","))
    )
    print(json.dumps(result))
    return 0


# ---------------------------------------------------------------- measuring


def round_trip_ms(lab: Any, rounds: int = 300) -> dict[str, float]:
    """1-byte TCP ping-pong classifier -> back-end b1 through the switch."""
    from e2e_support import in_thread_of

    address = (str(lab.host("b1").interface.ip), PING_PORT)
    server = in_thread_of(lab.ns("b1"), lambda: socket.create_server(address))

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(16):
                conn.sendall(data)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    client = in_thread_of(lab.ns("k1"), lambda: socket.create_connection(address, timeout=5))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        client.sendall(b"x")
        client.recv(16)
        samples.append(time.perf_counter() - started)
    client.close()
    thread.join(5)
    server.close()
    return _ms(samples)


def _p50(values: list[float]) -> float:
    return _ms(values).get("p50", 0.0)


AGENT_TIMES = {
    "ready": "p4handoff_agent_handoff_seconds",  # blob received -> socket restored, held
    "commit": "p4handoff_agent_commit_seconds",  # commit received -> application holds it
}


def _agent_seconds(lab: Any) -> dict[str, tuple[float, float]]:
    """Sum and count of the agents' own times for each phase, over every back-end."""
    totals = dict.fromkeys(AGENT_TIMES, (0.0, 0.0))
    for name in lab.backend_names():
        samples = lab.agent_metrics(name)
        for phase, metric in AGENT_TIMES.items():
            total, count = totals[phase]
            totals[phase] = (
                total + samples.get(f"{metric}_sum", 0.0),
                count + samples.get(f"{metric}_count", 0.0),
            )
    return totals


def _agent_mean_ms(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, float]:
    means = {}
    for phase in AGENT_TIMES:
        seconds = after[phase][0] - before[phase][0]
        count = after[phase][1] - before[phase][1]
        means[phase] = round(seconds / max(1.0, count) * 1e3, 3)
    return means


def run_level(lab: Any, count: int, concurrency: int) -> dict[str, Any]:
    assert lab.classifier is not None
    vip = f"{lab.vip[0]}:{lab.vip[1]}"
    argv = [
        "ip", "netns", "exec", lab.ns("c1"), sys.executable, str(Path(__file__).resolve()),
        "--client", "--vip", vip, "--connections", str(count),
        "--concurrency", str(concurrency), "--backends", ",".join(lab.backend_names()),
    ]  # fmt: skip
    agent_before = _agent_seconds(lab)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"client failed ({done.returncode}): {done.stderr[-2000:]}")
    client = json.loads(done.stdout.strip().splitlines()[-1])
    lab.classifier.wait_idle()
    agent_after = _agent_seconds(lab)
    records = list(lab.classifier.records)
    handed = [r for r in records if r.committed]
    batches = list(lab.classifier.writer.batches)
    span = (max(r.handed_at for r in handed) - min(r.decided_at for r in handed)) if handed else 0.0
    result = {
        "concurrency": concurrency,
        "connections": count,
        "handoffs": len(handed),
        "not_handed_off": len(records) - len(handed),
        "client_failures": client["failed"],
        "first_client_failure": client["first_failure"],
        "client_wall_s": round(client["wall_s"], 3),
        "handoffs_per_s": round(len(handed) / span, 1) if span else 0.0,
        "connections_per_s": round(count / client["wall_s"], 1),
        "latency_ms": _ms([r.latency_s for r in handed]),
        "ready_ms": _ms([r.answer_s for r in handed]),
        "switchover_ms": _ms([r.switchover_s for r in handed]),
        "phase_p50_ms": {
            "lock_freeze_seal": _p50([r.sent_at - r.decided_at for r in handed]),
            "agent_ready_round_trip": _p50([r.answered_at - r.sent_at for r in handed]),
            "encap_entry_write": _p50([r.entry_at - r.answered_at for r in handed]),
            "commit_round_trip": _p50([r.handed_at - r.entry_at for r in handed]),
            "close_unlock": _p50([r.done_at - r.entry_at for r in handed]),
        },
        "agent_mean_ms": _agent_mean_ms(agent_before, agent_after),
        "client_response_ms": client["response_ms"],
        "client_close_ms": client["close_ms"],
        "entries_per_write": round(statistics.fmean(batches), 2) if batches else 0.0,
        "_latencies_ms": sorted(r.latency_s * 1e3 for r in handed),
    }
    lab.release_flows()
    return result


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cdf, rate) = plt.subplots(1, 2, figsize=(11, 4.2))
    for level in results:
        values = level["_latencies_ms"]
        if values:
            ys = [(i + 1) / len(values) for i in range(len(values))]
            cdf.plot(values, ys, label=f"{level['concurrency']} at a time, {len(values)} handoffs")
    cdf.set_xscale("log")
    cdf.set_xlabel("handoff latency, decision -> application holds socket (ms)")
    cdf.set_ylabel("fraction of handoffs")
    cdf.grid(True, which="both", alpha=0.3)
    cdf.legend()
    labels = [f"{level['concurrency']}\n({level['connections']} conns)" for level in results]
    rate.bar(labels, [level["handoffs_per_s"] for level in results], color="tab:green")
    rate.set_xlabel("concurrent connections")
    rate.set_ylabel("handoffs per second")
    rate.grid(True, axis="y", alpha=0.3)
    figure.suptitle("P4 Handoff on p4sim: handoff latency and rate by client concurrency")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _table(results: list[dict[str, Any]]) -> str:
    columns = (
        "conc", "handoffs", "fail", "lat p50", "p99", "max", "ready p50", "switch p50",
        "handoffs/s", "freeze", "ready rt", "agent", "entry", "commit rt", "agent", "close",
        "client close p50", "p99",
    )  # fmt: skip
    rows = [columns]
    for r in results:
        lat, phases, agent = r["latency_ms"], r["phase_p50_ms"], r["agent_mean_ms"]
        rows.append(
            (
                str(r["concurrency"]), str(r["handoffs"]),
                str(r["client_failures"] + r["not_handed_off"]),
                f"{lat.get('p50', 0):.2f}", f"{lat.get('p99', 0):.2f}", f"{lat.get('max', 0):.2f}",
                f"{r['ready_ms'].get('p50', 0):.2f}", f"{r['switchover_ms'].get('p50', 0):.2f}",
                f"{r['handoffs_per_s']:.1f}", f"{phases['lock_freeze_seal']:.2f}",
                f"{phases['agent_ready_round_trip']:.2f}", f"{agent['ready']:.2f}",
                f"{phases['encap_entry_write']:.2f}", f"{phases['commit_round_trip']:.2f}",
                f"{agent['commit']:.2f}", f"{phases['close_unlock']:.2f}",
                f"{r['client_close_ms'].get('p50', 0):.1f}",
                f"{r['client_close_ms'].get('p99', 0):.1f}",
            )
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    note = (
        "times in ms; latency = decision -> application holds the socket (switch write "
        "included); ready = decision -> agent's ready; steps are p50: lock+freeze+seal, "
        "handoff round trip, the agents' own mean for it, entry write, commit round trip, "
        "the agents' own mean for it, close+unlock (overlaps the commit); client close = "
        "response -> back-end's FIN at the client"
    )
    return "\n".join([*lines, note])


def bench_main(args: argparse.Namespace) -> int:
    from e2e_support import E2ELab, skip_reason

    reason = skip_reason()
    if reason is not None:
        print(f"bench/handoff.py: cannot run: {reason}", file=sys.stderr)
        return 2
    count = 100 if args.quick else args.connections
    probe = 20 if args.quick else args.probe
    levels = [16] if args.quick else [int(x) for x in args.levels.split(",")]
    started = time.perf_counter()
    lab = E2ELab(agent_metrics_port=9100).start()
    try:
        rst_before = lab.rst.count()
        rtt = round_trip_ms(lab)
        results = [run_level(lab, probe, 1)] if probe else []
        results += [run_level(lab, count, level) for level in levels]
        rst = lab.rst.count() - rst_before
        target = lab.target
    finally:
        lab.close()
    print(
        f"target {target}; classifier <-> agent round trip through the switch: "
        f"p50 {rtt['p50']:.3f} ms, p99 {rtt['p99']:.3f} ms; RSTs at the client: {rst}"
    )
    print(_table(results))
    RESULTS.mkdir(parents=True, exist_ok=True)
    png = RESULTS / ("handoff-quick.png" if args.quick else "handoff.png")
    plot(results, png)
    document = {
        "target": target,
        "connections_per_level": count,
        "round_trip_ms": rtt,
        "client_rst": rst,
        "levels": [{k: v for k, v in r.items() if not k.startswith("_")} for r in results],
        "seconds": round(time.perf_counter() - started, 1),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": len(os.sched_getaffinity(0)),
    }
    out = RESULTS / ("handoff-quick.json" if args.quick else "handoff.json")
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {out} and {png} ({document['seconds']} s)")
    failures = sum(r["client_failures"] + r["not_handed_off"] for r in results)
    return 1 if failures or rst else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--levels", default="8,32,128", help="concurrency levels")
    parser.add_argument(
        "--probe", type=int, default=100, help="connections one at a time first (0: none)"
    )
    parser.add_argument("--quick", action="store_true", help="20 one at a time, 100 at 16")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--vip", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--backends", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return client_main(args) if args.client else bench_main(args)


if __name__ == "__main__":
    sys.exit(main())
