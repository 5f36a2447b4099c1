"""Handoff latency and rate, end to end on the lab with the forwarder on p4sim.

The lab of tests/e2e_support.py (basic topology in namespaces, p4sim
programmed over P4Runtime, three agents and demo back-ends, the test
classifier) serves a probe of connections one at a time, then 1,000 client
connections at each concurrency level. Each connection sends one `GET /`, is
handed off to a back-end (round robin), reads the back-end's answer and
closes. The client runs as its own process in the client namespace, so it
does not share a GIL with the classifier.

Measured at the classifier, per handoff:
  latency     decision -> the agent's OK: the application holds the socket
              (lock, freeze, seal, blob through the switch, agent checks,
              decapsulation, restore, SCM_RIGHTS, the OK back through the switch)
  switch-over decision -> encap_map entry written and the frozen copy gone
and handoffs per second = handoffs / (last switch-over - first decision).
The classifier <-> agent round trip through p4sim is measured separately
(1-byte TCP ping-pong between the classifier and a back-end) because it is
part of every latency figure.

The client closes as soon as it has the answer. The application answers as
soon as it holds the socket, before the switch entry exists, so the client's
FIN falls into the switch-over gap, is dropped by the classifier's lock and
retransmitted after an RTO (~200 ms): the "client FIN" column shows it, and
it is what bounds the rate at low concurrency (a closed-loop client).

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


def _agent_seconds(lab: Any) -> tuple[float, float]:
    """Sum and count of the agents' own handoff times (blob received -> socket
    handed over), over every back-end."""
    total = count = 0.0
    for name in lab.backend_names():
        samples = lab.agent_metrics(name)
        total += samples.get("p4handoff_agent_handoff_seconds_sum", 0.0)
        count += samples.get("p4handoff_agent_handoff_seconds_count", 0.0)
    return total, count


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
    span = (max(r.done_at for r in handed) - min(r.decided_at for r in handed)) if handed else 0.0
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
        "switchover_ms": _ms([r.switchover_s for r in handed]),
        "phase_p50_ms": {
            "lock_freeze_seal": _p50([r.sent_at - r.decided_at for r in handed]),
            "agent_round_trip": _p50([r.acked_at - r.sent_at for r in handed]),
            "encap_entry_write": _p50([r.entry_at - r.acked_at for r in handed]),
            "close_unlock": _p50([r.done_at - r.entry_at for r in handed]),
        },
        "agent_mean_ms": round(
            (agent_after[0] - agent_before[0]) / max(1.0, agent_after[1] - agent_before[1]) * 1e3,
            3,
        ),
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
        "conc", "handoffs", "fail", "lat p50", "p99", "max", "switch p50", "handoffs/s",
        "freeze", "agent rt", "agent", "entry", "close", "client FIN",
    )  # fmt: skip
    rows = [columns]
    for r in results:
        lat, phases = r["latency_ms"], r["phase_p50_ms"]
        rows.append(
            (
                str(r["concurrency"]), str(r["handoffs"]),
                str(r["client_failures"] + r["not_handed_off"]),
                f"{lat.get('p50', 0):.2f}", f"{lat.get('p99', 0):.2f}", f"{lat.get('max', 0):.2f}",
                f"{r['switchover_ms'].get('p50', 0):.2f}", f"{r['handoffs_per_s']:.1f}",
                f"{phases['lock_freeze_seal']:.2f}", f"{phases['agent_round_trip']:.2f}",
                f"{r['agent_mean_ms']:.2f}", f"{phases['encap_entry_write']:.2f}",
                f"{phases['close_unlock']:.2f}", f"{r['client_close_ms'].get('p50', 0):.1f}",
            )
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    note = (
        "times in ms; latency = decision -> application holds the socket; phases are p50 "
        "(agent = the agents' own mean); client FIN = response -> back-end's FIN at the client"
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
