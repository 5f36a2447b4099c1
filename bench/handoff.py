"""Handoff latency and rate through the shipped system, on the lab with the forwarder on p4sim.

The lab is the product's own (controller.lab.session.LabSession: the basic
topology as `handoff lab up` builds it, p4sim, the controller writing
encap_map over P4Runtime, the classifier process on k1, three migrator
agents and demo back-ends), with a policy that lets a request name its
back-end (`X-Handoff-To`). A client process in c1 opens connections to the
VIP one at a time (`--probe`), then `--connections` at each concurrency
level (`--levels`); each sends one `GET /` naming a back-end (round robin),
reads the back-end's answer and closes.

Measured by the classifier itself (its Stats RPC, the numbers `handoff stats`
shows; the classifier is restarted before each level so they cover that
level only), per handed-off connection:
  decision_to_handover  policy decision -> the agent's answer to the commit:
              the application holds the socket (flow id, lock, freeze, then
              the handoff to the agent and InstallFlow = the controller's
              P4Runtime write side by side, then the commit)
  decision_to_ready     decision -> the agent's "ready"
and the CPU time every lab process spent over the level, per handoff (from
/proc/PID/stat; the level's connection ends included),
and its steps: allocate (a flow id from the leased block, or the
controller's AllocateFlow), freeze (lock + TCP_REPAIR dump), agent (blob to
the agent and its "ready" back), install (freeze -> InstallFlow answered:
the controller writes encap_map while the agent restores), commit (entry
written and agent ready -> the commit's answer), read (accept -> request
read). Connections per second = connections /
the client's wall time; handoffs per second = handed-off connections / the
same. The classifier <-> agent round trip through p4sim is measured
separately (1-byte TCP ping-pong from k1 to b1), since every handoff holds
two of them.

    .venv/bin/python bench/handoff.py [--connections 1000] [--levels 8,32,128] [--probe 200]
    .venv/bin/python bench/handoff.py --quick

Needs root. Prints a table; writes bench/results/handoff.json and .png
(handoff-quick.* with --quick; `--out DIR` for another directory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PING_PORT = 7200
BACKENDS = ["b1", "b2", "b3"]
PIN_HEADER = "X-Handoff-To"
# Every request names its back-end; without the header, round robin.
POLICY: dict[str, object] = {
    "pools": {
        "all": {"algorithm": "weighted_round_robin", "backends": BACKENDS},
        **{f"only_{b}": {"backends": [b]} for b in BACKENDS},
    },
    "rules": [
        *({"headers": {PIN_HEADER.lower(): b}, "pool": f"only_{b}"} for b in BACKENDS),
        {"path_prefix": "/", "pool": "all"},
    ],
    "on_no_match": "http-503",
    "read_limit": {"bytes": 8192, "timeout_ms": 2000},
}
# What bench/handoff.py measured before it ran the shipped path: the test
# tree's stand-in classifier, which was also its own controller (one
# P4Runtime client in-process, no AllocateFlow/InstallFlow RPCs), on the
# same machine (full run of 2026-11-26, commit 098df627e96b).
STAND_IN = {
    "latency_ms_p50_one_at_a_time": 4.46,
    "latency_ms_p99_one_at_a_time": 7.93,
    "handoffs_per_s_one_at_a_time": 162.3,
    "handoffs_per_s_128_at_a_time": 605.7,
    "latency_ms_p50_128_at_a_time": 174.53,
}
# The shipped path before issue 13's changes (flow ids leased in blocks,
# bulk counter reads, flow-store indexes, agent threads): full run of
# 2026-12-06, commit a1f43652ba64.
BEFORE_ISSUE_13 = {
    "latency_ms_p50_one_at_a_time": 9.19,
    "latency_ms_p99_one_at_a_time": 25.84,
    "handoffs_per_s_one_at_a_time": 80.2,
    "handoffs_per_s_128_at_a_time": 185.8,
    "step_p50_ms_one_at_a_time": {
        "allocate": 1.65, "freeze": 0.377, "agent": 2.04, "install": 2.31, "commit": 2.06,
    },
}
STEPS = ("read", "allocate", "freeze", "agent", "install", "commit")


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
        "_response_ms": sorted(round(t[0] * 1e3, 3) for t in timings),
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
    """1-byte TCP ping-pong classifier host k1 -> back-end b1 through the switch."""
    address = (lab.address("b1"), PING_PORT)
    server = lab.call_in("b1", lambda: socket.create_server(address))

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(16):
                conn.sendall(data)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    client = lab.call_in("k1", lambda: socket.create_connection(address, timeout=5))
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


class RstCounter:
    """TCP segments with RST entering or leaving the client's namespace (nft)."""

    TABLE = "bench_rst"

    def __init__(self, lab: Any, host: str) -> None:
        from controller.handoff.nft import Nft

        self.nft = lab.call_in(host, Nft)
        t = f"ip {self.TABLE}"
        self.nft.run(
            f"add table {t}\nadd counter {t} rst\n"
            f"add chain {t} in {{ type filter hook prerouting priority raw; }}\n"
            f"add chain {t} out {{ type filter hook output priority raw; }}\n"
            f'add rule {t} in tcp flags rst counter name "rst"\n'
            f'add rule {t} out tcp flags rst counter name "rst"\n'
        )

    def count(self) -> int:
        packets: int = self.nft.query(f"list counter ip {self.TABLE} rst")[0]["counter"]["packets"]
        return packets


def _latency_ms(latency: Any) -> dict[str, float]:
    return {
        "p50": round(latency.p50_s * 1e3, 3),
        "p99": round(latency.p99_s * 1e3, 3),
        "max": round(latency.max_s * 1e3, 3),
        "mean": round(latency.mean_s * 1e3, 3),
    }


def run_level(
    lab: Any, count: int, concurrency: int, ended: Callable[[], bool] | None = None
) -> dict[str, Any]:
    """One level on an up lab. `ended`: whether the level's flows have all
    ended (default: the controller holds no flow)."""
    from controller.lab.session import wait_for

    lab.restart_classifier("k1")  # its Stats then cover this level alone
    lab.wait_whole()
    pids = {r.name: r.pid for r in lab.records()}
    cpu_before = {name: _cpu_s(pid) for name, pid in pids.items()}
    argv = [
        sys.executable, str(Path(__file__).resolve()), "--client",
        "--vip", f"{lab.vip[0]}:{lab.vip[1]}", "--connections", str(count),
        "--concurrency", str(concurrency), "--backends", ",".join(BACKENDS),
    ]  # fmt: skip
    done = lab.command("c1", argv, check=False, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"client failed ({done.returncode}): {done.stderr[-2000:]}")
    client = json.loads(done.stdout.strip().splitlines()[-1])
    outcomes: dict[str, int] = {}

    def counted() -> bool:
        outcomes.clear()
        outcomes.update(lab.outcomes("k1"))
        return sum(outcomes.values()) >= count

    wait_for(counted, 60, f"the classifier to count {count} connections")
    latencies = lab.latencies("k1")
    handed = outcomes.get("handed_off", 0)
    # Ends (FIN grace, deletes, agent releases) are part of a handoff's cost.
    wait_for(ended or (lambda: not lab.held_flows()), 120, "the flows of the level to end")
    spent = {name: _cpu_s(pid) - cpu_before[name] for name, pid in pids.items()}
    wall = client["wall_s"]
    result = {
        "concurrency": concurrency,
        "connections": count,
        "handoffs": handed,
        "not_handed_off": sum(outcomes.values()) - handed,
        "outcomes": outcomes,
        "client_failures": client["failed"],
        "first_client_failure": client["first_failure"],
        "client_wall_s": round(wall, 3),
        "handoffs_per_s": round(handed / wall, 1) if wall else 0.0,
        "connections_per_s": round(count / wall, 1) if wall else 0.0,
        "latency_ms": _latency_ms(latencies["decision_to_handover"]),
        "ready_ms": _latency_ms(latencies["decision_to_ready"]),
        "step_p50_ms": {s: round(latencies[s].p50_s * 1e3, 3) for s in STEPS if s in latencies},
        "step_p99_ms": {s: round(latencies[s].p99_s * 1e3, 3) for s in STEPS if s in latencies},
        "client_response_ms": client["response_ms"],
        "client_close_ms": client["close_ms"],
        "cpu_ms_per_handoff": {
            name: round(seconds * 1e3 / max(handed, 1), 3) for name, seconds in spent.items()
        },
        "cpu_ms_per_handoff_total": round(sum(spent.values()) * 1e3 / max(handed, 1), 3),
        "_response_ms": client["_response_ms"],
    }
    return result


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process, from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cdf, steps, rate) = plt.subplots(1, 3, figsize=(15, 4.4))
    for level in results:
        values = level["_response_ms"]
        if values:
            ys = [(i + 1) / len(values) for i in range(len(values))]
            cdf.plot(values, ys, label=f"{level['concurrency']} at a time")
    cdf.set_xscale("log")
    cdf.set_xlabel("client: connect -> the back-end's answer (ms)")
    cdf.set_ylabel("fraction of connections")
    cdf.grid(True, which="both", alpha=0.3)
    cdf.legend()
    labels = [str(level["concurrency"]) for level in results]
    bottom = [0.0] * len(results)
    for step in ("allocate", "freeze", "agent", "install", "commit"):
        heights = [level["step_p50_ms"].get(step, 0.0) for level in results]
        steps.bar(labels, heights, bottom=bottom, label=step)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    steps.plot(labels, [level["latency_ms"]["p50"] for level in results], "k_", markersize=30,
               label="decision -> handover p50")  # fmt: skip
    steps.set_yscale("log")
    steps.set_xlabel("connections at a time")
    steps.set_ylabel("classifier's step p50 (ms)")
    steps.legend(fontsize=8)
    steps.grid(True, axis="y", which="both", alpha=0.3)
    rate.bar(labels, [level["connections_per_s"] for level in results], color="tab:green")
    rate.set_xlabel("connections at a time")
    rate.set_ylabel("handed-off connections per second")
    rate.grid(True, axis="y", alpha=0.3)
    figure.suptitle("P4 Handoff, shipped path on p4sim: handoff latency and rate by concurrency")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _table(results: list[dict[str, Any]]) -> str:
    columns = (
        "conc", "handoffs", "fail", "lat p50", "p99", "max", "ready p50", "conns/s",
        "read", "allocate", "freeze", "agent", "install", "commit", "client close p50",
        "CPU ms/handoff",
    )  # fmt: skip
    rows: list[tuple[str, ...]] = [columns]
    for r in results:
        lat, steps = r["latency_ms"], r["step_p50_ms"]
        rows.append(
            (
                str(r["concurrency"]), str(r["handoffs"]),
                str(r["client_failures"] + r["not_handed_off"]),
                f"{lat['p50']:.2f}", f"{lat['p99']:.2f}", f"{lat['max']:.2f}",
                f"{r['ready_ms']['p50']:.2f}", f"{r['connections_per_s']:.1f}",
                *(f"{steps.get(s, 0.0):.2f}" for s in STEPS),
                f"{r['client_close_ms'].get('p50', 0):.1f}",
                f"{r['cpu_ms_per_handoff_total']:.2f}",
            )
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    note = (
        "times in ms, from the classifier's Stats; latency = decision -> application holds "
        "the socket (the controller's switch write included); steps are p50: read (accept -> "
        "request), allocate (AllocateFlow), freeze (lock + dump), agent (handoff -> ready), "
        "install (InstallFlow: encap_map written), commit (round trip); client close = "
        "response -> the back-end's FIN at the client; CPU = every lab process's CPU time "
        "over the level (its flows' ends included) per handoff"
    )
    return "\n".join([*lines, note])


def bench_main(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from controller.lab.session import LabSession
    from controller.switch.pipeline import missing_tools

    if os.geteuid() != 0:
        print("bench/handoff.py: cannot run: needs root (network namespaces)", file=sys.stderr)
        return 2
    missing = missing_tools(args.target)
    if missing:
        print(f"bench/handoff.py: target {args.target} needs {' and '.join(missing)}",
              file=sys.stderr)  # fmt: skip
        return 2
    count = 100 if args.quick else args.connections
    probe = 20 if args.quick else args.probe
    levels = [16] if args.quick else [int(x) for x in args.levels.split(",")]
    started = time.perf_counter()
    with LabSession(policy=POLICY, target=args.target, tag="h") as lab:
        rst = RstCounter(lab, "c1")
        rtt = round_trip_ms(lab)
        results = [run_level(lab, probe, 1)] if probe else []
        results += [run_level(lab, count, level) for level in levels]
        resets = rst.count()
    print(
        f"target {args.target}; classifier <-> agent round trip through the switch: "
        f"p50 {rtt['p50']:.3f} ms, p99 {rtt['p99']:.3f} ms; RSTs at the client: {resets}"
    )
    print(_table(results))
    out_dir = Path(args.out) if args.out else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "handoff-quick" if args.quick else "handoff"
    png = out_dir / f"{stem}.png"
    plot(results, png)
    document = {
        "path": "shipped: classifier -> controller -> P4Runtime -> agent (controller.lab.session)",
        "target": args.target,
        "connections_per_level": count,
        "round_trip_ms": rtt,
        "client_rst": resets,
        "levels": [{k: v for k, v in r.items() if not k.startswith("_")} for r in results],
        "stand_in_before": STAND_IN,
        "before_issue_13": BEFORE_ISSUE_13,
        "seconds": round(time.perf_counter() - started, 1),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": len(os.sched_getaffinity(0)),
    }
    out = out_dir / f"{stem}.json"
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {out} and {png} ({document['seconds']} s)")
    failures = sum(r["client_failures"] + r["not_handed_off"] for r in results)
    return 1 if failures or resets else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--levels", default="8,32,128", help="concurrency levels")
    parser.add_argument(
        "--probe", type=int, default=200, help="connections one at a time first (0: none)"
    )
    parser.add_argument("--quick", action="store_true", help="20 one at a time, 100 at 16")
    parser.add_argument("--target", default="p4sim", choices=("p4sim", "bmv2"))
    parser.add_argument("--out", help="directory for the JSON and PNG (default bench/results)")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--vip", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--backends", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return client_main(args) if args.client else bench_main(args)


if __name__ == "__main__":
    sys.exit(main())
