"""Packets per second of p4sim's in-memory path (`Switch.process`) through
the forwarder with 0, 10k, 100k and 1M `encap_map` entries (one per
migrated connection), and the memory one entry costs.

Two kinds of traffic at each size: client segments of migrated connections
(every packet hits a random installed entry and is rewritten towards its
back-end) and segments of connections that were not handed off (they miss
encap_map and are steered to a classifier by the VIP hash). The first packet
of each kind is checked before timing. Times are CPU seconds of this process,
so other work on a shared machine does not count against p4sim.

Memory per entry: tracemalloc's count of what the table keeps per entry
(entries built as the P4Runtime server builds them: fresh key ints, own
action call), measured by loading a second, fresh switch at each size
(tracemalloc slows loading about sevenfold, so the load rate comes from the
first, untraced load). The process's peak resident memory is recorded too.

The forwarder's encap_map holds 65,536 entries (p4src/shared/size.p4); for
the 1M point the program is compiled from a temporary copy of p4src/ with
ENCAP_MAP_SIZE raised, nothing else changed. bmv2 is not measured here: it
has no in-process path to compare with; bench/forwarder_veth_pps.py runs the
forwarder on both targets over veths, bench/p4runtime_writes.py their
P4Runtime writes.

    .venv/bin/python bench/p4sim_scale.py           # full run, about 3 minutes
    .venv/bin/python bench/p4sim_scale.py --quick   # 0, 10k, 100k; seconds

Writes bench/results/p4sim_scale.json and bench/results/p4sim_scale.png.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import resource
import shutil
import struct
import sys
import tempfile
import time
import tracemalloc
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from p4sim.compiler import CompiledProgram, compile_file
from p4sim.runtime.switch import Switch
from p4sim.runtime.tables import ActionCall, Exact, Lpm, TableEntry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from machine import commit, machine  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SIZES = (0, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (0, 10_000, 100_000)
POOL = 4_096

CLIENT_PORT, BACKEND_PORT, CLASSIFIER_PORTS = 1, 2, (4, 5)
VIP = 0x0A000064  # 10.0.0.100
TUNNEL_SRC = 0x0A000201  # 10.0.2.1
BACKEND = 0x0A00020B  # 10.0.2.11
CLASSIFIERS = (0x0A00030A, 0x0A00030B)  # 10.0.3.10, 10.0.3.11
GATEWAY_MAC = 0x02AA00000001
CLIENT_MAC = 0x020000000110


@dataclass
class Point:
    entries: int
    hit_packets_per_second: float | None
    hit_us_per_packet: float | None
    miss_packets_per_second: float
    miss_us_per_packet: float
    load_seconds: float
    entries_per_second: float | None
    tracemalloc_bytes_per_entry: float | None


def forwarder(capacity: int) -> CompiledProgram:
    """The forwarder, with encap_map sized for `capacity` entries if its
    own size is smaller (compiled from a patched temporary copy)."""
    source = ROOT / "p4src"
    size_p4 = (source / "shared" / "size.p4").read_text()
    declared = int(re.search(r"#define ENCAP_MAP_SIZE\s+(\d+)", size_p4).group(1))  # type: ignore[union-attr]
    if capacity <= declared:
        return compile_file(source / "forwarder.p4")
    with tempfile.TemporaryDirectory(prefix="p4sim-scale-") as tmp:
        copy = Path(tmp) / "p4src"
        shutil.copytree(source, copy)
        patched = re.sub(r"(#define ENCAP_MAP_SIZE\s+)\d+", rf"\g<1>{capacity}", size_p4)
        (copy / "shared" / "size.p4").write_text(patched)
        return compile_file(copy / "forwarder.p4")


def base_switch(program: CompiledProgram) -> Switch:
    """Routes to the back-end and classifiers, and the VIP's 64 buckets."""
    switch = Switch(program, cpu_port=255)
    routes = switch.resolve_table("routes")
    hop = switch.resolve_action("set_next_hop")
    for address, port in (
        (BACKEND, BACKEND_PORT),
        *zip(CLASSIFIERS, CLASSIFIER_PORTS, strict=True),
    ):
        args = (port, GATEWAY_MAC + port, 0x020000000000 + port)
        routes.insert(TableEntry((Lpm(address, 32),), ActionCall(hop, args)))
    steering = switch.resolve_table("vip_steering")
    steer = switch.resolve_action("steer_to_classifier")
    for bucket in range(64):
        call = ActionCall(steer, (CLASSIFIERS[bucket % 2],))
        steering.insert(TableEntry((Exact(VIP), Exact(bucket)), call))
    return switch


def connections(rng: random.Random, count: int) -> list[tuple[int, int]]:
    """`count` distinct (client address in 10.128.0.0/9, client port)."""
    seen: set[int] = set()
    while len(seen) < count:
        seen.add(rng.getrandbits(23 + 16))
    return [(0x0A800000 | key >> 16, 1024 + (key & 0xFFFF) % 64512) for key in seen]


def load(switch: Switch, conns: list[tuple[int, int]]) -> None:
    table = switch.resolve_table("encap_map")
    action = switch.resolve_action("encap_to_backend")
    for flow_id, (client, port) in enumerate(conns):
        key = (Exact(int(client)), Exact(VIP), Exact(int(port)), Exact(80))
        table.insert(TableEntry(key, ActionCall(action, (flow_id, TUNNEL_SRC, BACKEND))))


def _checksum(header: bytes) -> int:
    words: tuple[int, ...] = struct.unpack(f"!{len(header) // 2}H", header)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def segment(client: int, port: int, seq: int) -> bytes:
    """A 64-byte client segment to VIP:80 with a valid IPv4 checksum."""
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 50, seq & 0xFFFF, 0x4000, 64, 6, 0, client, VIP)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    tcp = struct.pack("!HHIIBBHHH", port, 80, seq, 1, 0x50, 0x10, 502, 0, 0)
    ether = struct.pack(
        "!6s6sH", GATEWAY_MAC.to_bytes(6, "big"), CLIENT_MAC.to_bytes(6, "big"), 0x0800
    )
    return ether + ip + tcp + bytes(64 - 14 - 20 - 20)


def timed(switch: Switch, pool: list[bytes], packets: int) -> float:
    """CPU seconds for `packets` packets from the client port."""
    process = switch.process
    n = len(pool)
    for i in range(min(1_000, packets)):  # warm-up
        process(CLIENT_PORT, pool[i % n])
    gc.collect()
    start = time.process_time()
    for i in range(packets):
        process(CLIENT_PORT, pool[i % n])
    return time.process_time() - start


def traced_bytes_per_entry(program: CompiledProgram, conns: list[tuple[int, int]]) -> float:
    switch = base_switch(program)
    raw = [(c.to_bytes(4, "big"), p.to_bytes(2, "big")) for c, p in conns]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    load(switch, [(int.from_bytes(c, "big"), int.from_bytes(p, "big")) for c, p in raw])
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / len(conns)


def measure_point(program: CompiledProgram, entries: int, packets: int, seed: int) -> Point:
    rng = random.Random(seed)
    conns = connections(rng, entries + POOL)
    installed, strangers = conns[:entries], conns[entries:]
    switch = base_switch(program)
    gc.collect()
    started = time.process_time()
    load(switch, installed)
    load_s = time.process_time() - started

    misses = [segment(c, p, i) for i, (c, p) in enumerate(strangers)]
    ((port, _),) = switch.process(CLIENT_PORT, misses[0])
    if port not in CLASSIFIER_PORTS:
        raise SystemExit(f"a segment of an unknown connection left on port {port}")
    miss_s = timed(switch, misses, packets)
    hit_s = None
    if entries:
        hits = [segment(c, p, i) for i, (c, p) in enumerate(rng.choices(installed, k=POOL))]
        ((port, frame),) = switch.process(CLIENT_PORT, hits[0])
        if port != BACKEND_PORT or frame[30:34] != BACKEND.to_bytes(4, "big"):
            raise SystemExit("a segment of a migrated connection was not rewritten to its back-end")
        hit_s = timed(switch, hits, packets)
    del switch
    traced = round(traced_bytes_per_entry(program, installed), 1) if entries else None
    return Point(
        entries=entries,
        hit_packets_per_second=round(packets / hit_s, 1) if hit_s else None,
        hit_us_per_packet=round(hit_s / packets * 1e6, 3) if hit_s else None,
        miss_packets_per_second=round(packets / miss_s, 1),
        miss_us_per_packet=round(miss_s / packets * 1e6, 3),
        load_seconds=round(load_s, 3),
        entries_per_second=round(entries / load_s, 1) if entries else None,
        tracemalloc_bytes_per_entry=traced,
    )


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = result["points"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    xs = [max(p["entries"], 1) for p in points]
    labels = [f"{p['entries']:,}" for p in points]
    hits = [
        (x, p["hit_packets_per_second"])
        for x, p in zip(xs, points, strict=True)
        if p["hit_packets_per_second"]
    ]
    left.plot(
        xs, [p["miss_packets_per_second"] for p in points], "o-", label="not handed off (steered)"
    )
    left.plot([x for x, _ in hits], [y for _, y in hits], "s-", label="handed off (rewritten)")
    left.set_xscale("symlog", linthresh=1)
    left.set_xticks(xs, labels)
    left.set_ylim(bottom=0)
    left.set_xlabel("encap_map entries")
    left.set_ylabel("packets/s (CPU time, 1 core)")
    left.legend(fontsize=8)
    left.set_title("p4sim forwarder throughput", fontsize=10)
    mem = [p for p in points if p["entries"]]
    bars = right.bar(
        [f"{p['entries']:,}" for p in mem],
        [p["tracemalloc_bytes_per_entry"] for p in mem],
        color="#55a868",
    )
    right.bar_label(bars, fmt="%.0f B", fontsize=8)
    right.set_xlabel("encap_map entries")
    right.set_ylabel("bytes per entry (tracemalloc)")
    right.set_title("memory per encap_map entry", fontsize=10)
    mode = "quick run" if result["quick"] else "full run"
    fig.suptitle(f"{mode}: {result['packets_per_point']:,} packets per point", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(sizes: tuple[int, ...], packets: int, quick: bool, out_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    program = forwarder(max(sizes))
    points = []
    for i, entries in enumerate(sizes):
        point = measure_point(program, entries, packets, seed=1000 + i)
        points.append(asdict(point))
        hit = f"{point.hit_packets_per_second:,.0f}" if point.hit_packets_per_second else "-"
        print(
            f"{entries:>9,} entries: hit {hit} pps, miss {point.miss_packets_per_second:,.0f} "
            f"pps, load {point.load_seconds:.1f} s, {point.tracemalloc_bytes_per_entry} B "
            "per entry",
            flush=True,
        )
    result = {
        "benchmark": "p4sim_scale",
        "quick": quick,
        "program": "p4src/forwarder.p4"
        + (f" (ENCAP_MAP_SIZE raised to {max(sizes):,})" if max(sizes) > 65_536 else ""),
        "packets_per_point": packets,
        "points": points,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": machine(),
        **commit(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "p4sim_scale.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, out_dir / "p4sim_scale.png")
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="0, 10k, 100k entries, 5k packets")
    parser.add_argument("--packets", type=int, help="packets per measurement")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    packets = args.packets or (5_000 if args.quick else 100_000)
    run(sizes, packets, args.quick, args.out)
    print(f"wrote {args.out / 'p4sim_scale.json'} and {args.out / 'p4sim_scale.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
