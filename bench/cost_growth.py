"""Does a handoff cost more when the switch already holds many? Per-connection
cost with 0, 10,000 and 100,000 live handed-off connections' entries installed.

The lab is bench/handoff.py's (controller.lab.session.LabSession: the basic
topology, p4sim, the shipped classifier, controller and agents). Before each
step the controller is given more held flows the way a classifier gives them:
flow ids leased in blocks (LeaseFlowIds) and bound to connections by
InstallFlows, so each one is a flow-table row and an encap_map entry, like a
live handed-off connection that is idle (from client addresses no host has;
the controller runs with a one-hour idle timeout so none of them expires).
Then the same level as bench/handoff.py's (`--connections` at
`--concurrency`) runs, and the figures are the classifier's handoff latency,
the rate, and every process's CPU time per handoff, side by side per step;
the ratios to the empty step are the point (the machine's noise cancels
within one run better than across runs).

    .venv/bin/python bench/cost_growth.py [--held 0,10000,100000] [--connections 1000]
    .venv/bin/python bench/cost_growth.py --quick     # --held 0,2000 --connections 200

Needs root. Prints a table; writes bench/results/cost_growth.json and .png
(`--out DIR` for another directory).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from handoff import BACKENDS, POLICY, run_level  # noqa: E402

RESULTS = ROOT / "bench" / "results"
# Client addresses of the preloaded flows: on c1's subnet, used by no host.
FIRST_CLIENT = ipaddress.IPv4Address("10.0.1.100")
LEASE = 1024  # the controller's MAX_LEASE
IDLE_TIMEOUT_S = 3600


def held_installed(lab: Any) -> int:
    """Installed flows, from the controller's Stats (a ListFlows of 100,000
    flows would read their counters and cost more than what is measured)."""
    counters = lab.controller_stats().counters
    return int(counters.get('p4handoff_controller_flows{state="installed"}', 0))


def preload(lab: Any, wanted: int, have: int) -> tuple[int, float]:
    """Held flows from `have` to `wanted`; returns (flows added, seconds)."""
    import grpc

    from controller.proto import handoff_pb2 as pb
    from controller.proto import handoff_pb2_grpc as pb_grpc

    vip, vip_port = lab.vip
    addresses = {name: str(lab.topology.host(name).interface.ip) for name in BACKENDS}
    started = time.perf_counter()
    added = 0
    with grpc.insecure_channel(f"unix:{lab.lab.controller_socket}") as channel:
        stub = pb_grpc.ControllerStub(channel)  # type: ignore[no-untyped-call]
        while have + added < wanted:
            backend = addresses[BACKENDS[(have + added) // LEASE % len(BACKENDS)]]
            count = min(LEASE, wanted - have - added)
            lease = stub.LeaseFlowIds(
                pb.LeaseFlowIdsRequest(backend=backend, classifier="preload", count=count),
                timeout=30,
            )
            requests = []
            for ref in lease.flows:
                n = have + added + len(requests)
                client = FIRST_CLIENT + n // 50000
                connection = pb.Connection(client_ip=str(client), client_port=10000 + n % 50000,
                                           vip=vip, vip_port=vip_port)  # fmt: skip
                requests.append(pb.InstallFlowRequest(flow=ref, connection=connection))
            results = stub.InstallFlows(pb.InstallFlowsRequest(flows=requests), timeout=120)
            failed = [r for r in results.results if r.code != 0]
            if failed:
                raise RuntimeError(f"InstallFlows refused {len(failed)}: {failed[0].message}")
            added += len(requests)
            if added % 10240 == 0:
                print(f"  preloaded {have + added:,} in {time.perf_counter() - started:.1f} s",
                      flush=True)  # fmt: skip
    return added, time.perf_counter() - started


def plot(steps: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cpu, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = [f"{s['held']:,}" for s in steps]
    names = sorted({n for s in steps for n in s["level"]["cpu_ms_per_handoff"]})
    bottom = [0.0] * len(steps)
    for name in names:
        heights = [s["level"]["cpu_ms_per_handoff"].get(name, 0.0) for s in steps]
        cpu.bar(labels, heights, bottom=bottom, label=name)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    cpu.set_xlabel("handed-off connections already held")
    cpu.set_ylabel("CPU ms per handoff, by process")
    cpu.legend(fontsize=7)
    latency.plot(labels, [s["level"]["latency_ms"]["p50"] for s in steps], "o-", label="p50")
    latency.plot(labels, [s["level"]["latency_ms"]["p99"] for s in steps], "o-", label="p99")
    latency.set_xlabel("handed-off connections already held")
    latency.set_ylabel("decision -> application holds the socket (ms)")
    latency.legend()
    for axes in (cpu, latency):
        axes.grid(True, axis="y", alpha=0.3)
    figure.suptitle("P4 Handoff on p4sim: per-connection cost with entries already installed")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _table(steps: list[dict[str, Any]]) -> str:
    base = steps[0]["level"]
    rows = [("held", "added in s", "conns/s", "lat p50", "p99", "CPU ms/handoff",
             "switch", "controller", "classifier-k1", "vs first")]  # fmt: skip
    for s in steps:
        level, cpu = s["level"], s["level"]["cpu_ms_per_handoff"]
        rows.append((
            f"{s['held']:,}", f"{s['preload_s']:.1f}", f"{level['connections_per_s']:.1f}",
            f"{level['latency_ms']['p50']:.2f}", f"{level['latency_ms']['p99']:.2f}",
            f"{level['cpu_ms_per_handoff_total']:.2f}", f"{cpu.get('switch', 0):.2f}",
            f"{cpu.get('controller', 0):.2f}", f"{cpu.get('classifier-k1', 0):.2f}",
            f"{level['cpu_ms_per_handoff_total'] / base['cpu_ms_per_handoff_total']:.2f}x",
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--held", default="0,10000,100000", help="held flows at each step")
    parser.add_argument("--connections", type=int, default=1000, help="handoffs per step")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="--held 0,2000 --connections 200")
    parser.add_argument("--out", help="directory for the JSON and PNG (default bench/results)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/cost_growth.py: cannot run: needs root (network namespaces)", file=sys.stderr)
        return 2
    held = [0, 2000] if args.quick else [int(x) for x in args.held.split(",")]
    if held != sorted(held):
        parser.error(f"--held must grow step by step, got {args.held}")
    count = 200 if args.quick else args.connections

    from controller.lab.session import LabSession

    started = time.perf_counter()
    steps: list[dict[str, Any]] = []
    with LabSession(policy=POLICY, tag="g") as lab:
        lab.restart_controller("--idle-timeout", str(IDLE_TIMEOUT_S))
        lab.wait_whole()
        for wanted in held:
            added, seconds = preload(lab, wanted, held_installed(lab))
            baseline = held_installed(lab)
            level = run_level(
                lab, count, args.concurrency, ended=lambda b=baseline: held_installed(lab) <= b
            )
            figures = {k: v for k, v in level.items() if not k.startswith("_")}
            steps.append(
                {"held": baseline, "preload_added": added, "preload_s": round(seconds, 2),
                 "level": figures}
            )  # fmt: skip
            print(
                f"held {baseline:,}: {level['connections_per_s']:.1f} conns/s, "
                f"{level['cpu_ms_per_handoff_total']:.2f} CPU ms/handoff",
                flush=True,
            )
    print(_table(steps))
    out_dir = Path(args.out) if args.out else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "cost_growth-quick" if args.quick else "cost_growth"
    plot(steps, out_dir / f"{stem}.png")
    document = {
        "path": "shipped: classifier -> controller -> P4Runtime -> agent, p4sim, basic lab",
        "connections_per_step": count,
        "concurrency": args.concurrency,
        "steps": steps,
        "seconds": round(time.perf_counter() - started, 1),
        "python": platform.python_version(),
        "cpus": len(os.sched_getaffinity(0)),
    }
    (out_dir / f"{stem}.json").write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {out_dir / stem}.json and .png ({document['seconds']} s)")
    failures = sum(s["level"]["client_failures"] + s["level"]["not_handed_off"] for s in steps)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
