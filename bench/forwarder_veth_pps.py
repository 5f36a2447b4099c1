"""Forwarder packets/s on veths with 0, 10k and 100k encap_map entries, p4sim and bmv2 side by side.

Each target in turn runs as its own process in a fresh network namespace
holding the switch ends of two veth pairs (the same setup for both: offloads
off, names with the process id, everything removed afterwards). The
controller's P4Runtime client (controller.p4rt) pushes the forwarder as
`controller.switch.pipeline.build_pipeline` builds it for that target
(p4sim's own compiler; p4c's JSON and P4Info for bmv2), with encap_map
raised to hold the largest point (ENCAP_MAP_SIZE patched in a temporary
copy of p4src/, nothing else changed), and writes the routes, the VIP's 64
steering buckets and then encap_map entries in batches of 1,000, growing
the table from one point to the next on the same switch.

Both switches run at once, each in its own namespace; at each table size
each kind of traffic goes to one target and then the other, so that both
see the same moment of a shared machine. Two kinds of 70-byte client
segments enter port 1 and leave port 2: segments of handed-off connections
(each hits an installed entry and is rewritten towards its back-end; a pool
of 4,096 random installed connections) and segments of connections not
handed off (they miss encap_map and are steered to a classifier by the VIP
hash). One frame of each kind is checked to come out rewritten before
timing. What arrives is counted by the kernel on the receiving veth (no
Python receiver competing for the CPU).

Per figure: first flat out (this process sends as fast as it can), then a
search for the highest paced rate the switch forwards with under 1 % loss
(`--steps` paced runs of `--seconds`, RFC 2544 style), since a switch that
is overrun spends CPU on frames it then drops. Reported: that loss-free
rate, the packets per CPU second of the switch process (all its threads) at
it, which other work on a shared machine distorts less, and the flat-out
figures. Each point also records how long writing its new entries took
(`load_seconds`, `inserts_per_second`: the client's building of the
messages included; bench/p4runtime_writes.py measures the switches' write
rates alone).

bmv2 is measured where `p4c` and `simple_switch_grpc` are on PATH;
otherwise p4sim alone, and the result says why. Needs root.

    .venv/bin/python bench/forwarder_veth_pps.py [--seconds 2] [--sizes 0,10000,100000] [--out DIR]
    .venv/bin/python bench/forwarder_veth_pps.py --quick    # 0 and 10k, 1 s per figure

Writes forwarder_veth_pps.json and .png (into bench/results unless --out).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from p4sim_veth_pps import SwitchProcess, switch_namespace  # noqa: E402

from controller.p4rt import P4RuntimeClient  # noqa: E402
from controller.p4rt.entities import EntityFactory, TableEntry, Update  # noqa: E402
from controller.switch.pipeline import Pipeline, build_pipeline, missing_tools  # noqa: E402

RESULTS = ROOT / "bench" / "results"
NAME = "forwarder_veth_pps"
SIZES = (0, 10_000, 100_000)
QUICK_SIZES = (0, 10_000)
TABLE_SIZE = 1 << 17  # encap_map capacity for the run (the shipped forwarder: 65,536)
POOL = 4_096
BATCH = 1_000
LOSS_FREE = 0.01
DRAIN_S = 0.3
# bmv2 as /work's p4lab bundle builds it; quoted wherever its figures appear.
BMV2_BUILD = (
    "behavioral-model 1.15.5 configured --with-pi --with-thrift --with-nanomsg "
    "--disable-logging-macros --disable-elogger CXXFLAGS=-O2 (the fast build; the p4lang "
    "tutorials' VM builds it with logging on, several times slower); p4c 1.2.5.16, PI 0.1.2"
)

CLIENT_PORT, OUT_PORT = 1, 2
VIP = "10.0.0.100"
TUNNEL_SRC = "10.0.2.1"
BACKEND = "10.0.2.11"
CLASSIFIERS = ("10.0.3.10", "10.0.3.11")
GATEWAY_MAC = "02:aa:00:00:00:01"
CLIENT_MAC = "02:00:00:00:01:10"
NEXT_HOP_MAC = "02:00:00:00:00:99"  # nobody's: the receiving kernel drops what it counted
MARKER = b"p4handoff-bench!"


@dataclass
class Blast:
    """One stretch of sending: as fast as possible, or paced to `rate`."""

    rate: float | None
    sent: int
    received: int
    seconds: float
    switch_cpu_seconds: float

    @property
    def offered_pps(self) -> float:
        return self.sent / self.seconds

    @property
    def forwarded_pps(self) -> float:
        return self.received / self.seconds

    @property
    def loss(self) -> float:
        return 1 - self.received / self.sent if self.sent else 0.0

    @property
    def per_cpu_second(self) -> float:
        return self.received / self.switch_cpu_seconds if self.switch_cpu_seconds else 0.0


@dataclass
class Figure:
    """One target, one table size, one kind of traffic."""

    loss_free_pps: float  # highest paced rate forwarded with under 1 % loss (0: none)
    per_cpu_second_at_loss_free: float  # forwarded per CPU second of the switch at that rate
    flat_out_offered_pps: float  # the sender as fast as it can
    flat_out_forwarded_pps: float
    flat_out_loss: float
    flat_out_per_cpu_second: float
    steps: list[list[float]]  # [paced rate, loss] of every step of the search


def forwarder_copy(tmp: Path, capacity: int) -> Path:
    """p4src/ copied into `tmp` with encap_map sized for `capacity` entries."""
    copy = tmp / "p4src"
    shutil.copytree(ROOT / "p4src", copy)
    size_p4 = copy / "shared" / "size.p4"
    text, count = re.subn(
        r"(#define ENCAP_MAP_SIZE\s+)\d+", rf"\g<1>{capacity}", size_p4.read_text()
    )
    if count != 1:
        raise SystemExit(f"{size_p4}: no ENCAP_MAP_SIZE to raise")
    size_p4.write_text(text)
    return copy / "forwarder.p4"


def switch_argv(target: str, address: str, ports: list[tuple[int, str]]) -> list[str]:
    interfaces = [arg for number, ifname in ports for arg in ("-i", f"{number}@{ifname}")]
    common = ["--device-id", "0", *interfaces, "--no-p4"]
    options = ["--grpc-server-addr", address, "--cpu-port", "255"]
    if target == "bmv2":
        return ["simple_switch_grpc", *common, "--", *options]
    return [sys.executable, "-m", "p4sim.cli", *common, *options]


@contextmanager
def switch_process(
    target: str, netns: str, ports: list[tuple[int, str]], workdir: Path
) -> Iterator[SwitchProcess]:
    """The switch serving P4Runtime on a Unix socket, inside `netns`."""
    sock = workdir / f"{target}.sock"
    address = f"unix:{sock}"
    log = (workdir / f"{target}.log").open("w")
    # `ip netns exec` execs the switch: the pid is the switch's own.
    proc = subprocess.Popen(["ip", "netns", "exec", netns, *switch_argv(target, address, ports)],
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                output = (workdir / f"{target}.log").read_text()
                raise RuntimeError(f"{target} did not start: {output}")
            time.sleep(0.05)
        yield SwitchProcess(address, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def base_entries(entities: EntityFactory) -> list[TableEntry]:
    """Routes to the back-end and both classifiers (all out of port 2), and
    the VIP's steering buckets spread over the classifiers."""
    routes = [
        entities.table_entry("routes", {"dst_addr": f"{address}/32"}, "set_next_hop",
                             {"port": OUT_PORT, "src_mac": GATEWAY_MAC, "dst_mac": NEXT_HOP_MAC})
        for address in (BACKEND, *CLASSIFIERS)
    ]  # fmt: skip
    buckets = 1 << entities.index.table("vip_steering").field("bucket").bitwidth
    steering = [
        entities.table_entry("vip_steering", {"vip": VIP, "bucket": bucket},
                             "steer_to_classifier", {"classifier": CLASSIFIERS[bucket % 2]})
        for bucket in range(buckets)
    ]  # fmt: skip
    return routes + steering


def encap_entries(entities: EntityFactory, conns: list[tuple[str, int]], first_flow: int
                  ) -> list[TableEntry]:  # fmt: skip
    return [
        entities.table_entry(
            "encap_map",
            {"ipv4_src": client, "ipv4_dst": VIP, "tcp_sport": port, "tcp_dport": 80},
            "encap_to_backend",
            {"flow_id": first_flow + i, "tunnel_src": TUNNEL_SRC, "backend": BACKEND},
        )
        for i, (client, port) in enumerate(conns)
    ]


def write(client: P4RuntimeClient, entries: list[TableEntry]) -> float:
    """Insert in batches; returns the seconds it took."""
    started = time.perf_counter()
    for i in range(0, len(entries), BATCH):
        client.write([Update.insert(e) for e in entries[i : i + BATCH]])
    return time.perf_counter() - started


def connections(rng: random.Random, count: int) -> list[tuple[str, int]]:
    """`count` distinct (client address in 10.128.0.0/9, client port)."""
    seen: set[int] = set()
    while len(seen) < count:
        seen.add(rng.getrandbits(23 + 16))
    return [(socket.inet_ntoa(struct.pack("!I", 0x0A800000 | key >> 16)),
             1024 + (key & 0xFFFF) % 64512) for key in sorted(seen)]  # fmt: skip


def _checksum(header: bytes) -> int:
    words: tuple[int, ...] = struct.unpack(f"!{len(header) // 2}H", header)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def segment(client: str, port: int, seq: int) -> bytes:
    """A 70-byte client ACK segment to VIP:80 (valid IPv4 checksum) carrying MARKER."""
    length = 20 + 20 + len(MARKER)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, seq & 0xFFFF, 0x4000, 64, 6, 0,
                     socket.inet_aton(client), socket.inet_aton(VIP))  # fmt: skip
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    tcp = struct.pack("!HHIIBBHHH", port, 80, seq, 1, 0x50, 0x10, 502, 0, 0)
    ether = bytes.fromhex(GATEWAY_MAC.replace(":", "") + CLIENT_MAC.replace(":", "")) + b"\x08\x00"
    return ether + ip + tcp + MARKER


def _rx_packets(ifname: str) -> int:
    return int(Path(f"/sys/class/net/{ifname}/statistics/rx_packets").read_text())


def check_first(tx: socket.socket, rx_ifname: str, frame: bytes, allowed: tuple[str, ...]) -> str:
    """Send `frame` once more with a TCP sequence number of its own; it must
    come out of port 2 with its IPv4 destination one of `allowed`, which is
    returned (frames still leaving from an earlier blast are passed over)."""
    seq = random.getrandbits(32).to_bytes(4, "big")
    frame = frame[:38] + seq + frame[42:]
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    try:
        rx.bind((rx_ifname, 0))
        deadline = time.monotonic() + 5
        tx.send(frame)
        while time.monotonic() < deadline:
            rx.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                data, address = rx.recvfrom(2048)
            except TimeoutError:
                break
            if address[2] != socket.PACKET_OUTGOING and data[38:42] == seq:
                destination = socket.inet_ntoa(data[30:34])
                if destination not in allowed:
                    raise SystemExit(f"expected a frame to {' or '.join(allowed)}, got one "
                                     f"to {destination}: {data.hex()}")  # fmt: skip
                return destination
    finally:
        rx.close()
    raise SystemExit(f"no frame to {' or '.join(allowed)} came out of port {OUT_PORT}")


def blast(switch: SwitchProcess, tx: socket.socket, rx_ifname: str, frames: list[bytes],
          seconds: float, rate: float | None = None) -> Blast:  # fmt: skip
    """Send `frames` in turn for `seconds`, as fast as possible or paced to
    `rate` packets/s; count what arrives on `rx_ifname` (the kernel's count)."""
    n = len(frames)
    sent = 0
    rx_before = _rx_packets(rx_ifname)
    cpu_before = switch.cpu_seconds()
    start = time.perf_counter()
    end = start + seconds
    send = tx.send
    while (now := time.perf_counter()) < end:
        if rate is not None and sent >= (now - start) * rate:
            time.sleep(0.0002)
            continue
        for _ in range(16 if rate else 64):
            try:
                send(frames[sent % n])
                sent += 1
            except BlockingIOError:
                break
    elapsed = time.perf_counter() - start
    time.sleep(DRAIN_S)  # what the switch took in still comes out
    cpu = switch.cpu_seconds() - cpu_before
    return Blast(rate, sent, _rx_packets(rx_ifname) - rx_before, elapsed, cpu)


def figure(switch: SwitchProcess, tx: socket.socket, rx_ifname: str, frames: list[bytes],
           seconds: float, steps: int) -> Figure:  # fmt: skip
    """Flat out first, then a search for the highest paced rate forwarded with
    under 1 % loss: start at the flat-out forwarded rate, double or halve the
    gap to the sender's own ceiling `steps` times (RFC 2544 style). A switch
    that cannot keep up spends CPU on frames it then drops, so the flat-out
    figures understate what it forwards when it is not overrun."""
    flat = blast(switch, tx, rx_ifname, frames, seconds)
    low, high = 0.0, flat.offered_pps
    rate = max(flat.forwarded_pps, 500.0)
    best: Blast | None = None
    tried: list[list[float]] = []
    for _ in range(steps):
        paced = blast(switch, tx, rx_ifname, frames, seconds, rate)
        tried.append([round(rate, 1), round(paced.loss, 4)])
        if paced.loss < LOSS_FREE:
            low, best = rate, paced
        else:
            high = rate
        rate = (low + high) / 2 if low else rate / 2
    return Figure(
        loss_free_pps=round(best.forwarded_pps, 1) if best else 0.0,
        per_cpu_second_at_loss_free=round(best.per_cpu_second, 1) if best else 0.0,
        flat_out_offered_pps=round(flat.offered_pps, 1),
        flat_out_forwarded_pps=round(flat.forwarded_pps, 1),
        flat_out_loss=round(flat.loss, 4),
        flat_out_per_cpu_second=round(flat.per_cpu_second, 1),
        steps=tried,
    )


@dataclass
class Rig:
    """One target's switch with its veths, its P4Runtime session, and where it stands."""

    target: str
    switch: SwitchProcess
    client: P4RuntimeClient
    tx: socket.socket
    rx_ifname: str
    loaded: int = 0


@contextmanager
def rig(target: str, pipeline: Pipeline, workdir: Path) -> Iterator[Rig]:
    with (
        switch_namespace(2) as (netns, pairs),
        switch_process(target, netns, [(CLIENT_PORT, pairs[0][0]), (OUT_PORT, pairs[1][0])],
                       workdir) as switch,
    ):  # fmt: skip
        client = P4RuntimeClient(switch.address, election_id=1, timeout=60)
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        try:
            if not client.connect():
                raise SystemExit(f"{target}: not primary: {client.arbitration_status}")
            client.set_pipeline(pipeline.p4info, pipeline.device_config)
            write(client, base_entries(client.entities))
            tx.bind((pairs[0][1], 0))
            yield Rig(target, switch, client, tx, pairs[1][1])
        finally:
            tx.close()
            client.close()


def measure(pipelines: dict[str, Pipeline], sizes: tuple[int, ...], seconds: float, steps: int,
            seed: int) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """Both switches up at once; at each size, each kind of traffic goes to one
    target, then the other, so that both see the same moment of a shared machine."""
    rng = random.Random(seed)
    conns = connections(rng, max(sizes) + POOL)
    installed, strangers = conns[: max(sizes)], conns[max(sizes) :]
    misses = [segment(c, p, i) for i, (c, p) in enumerate(strangers)]
    results: dict[str, list[dict[str, Any]]] = {t: [] for t in pipelines}
    with tempfile.TemporaryDirectory(prefix="fwd-veth-") as tmp, ExitStack() as stack:
        rigs = [stack.enter_context(rig(t, p, Path(tmp))) for t, p in pipelines.items()]
        for entries in sizes:
            points: dict[str, dict[str, Any]] = {}
            for r in rigs:
                todo = encap_entries(r.client.entities, installed[r.loaded : entries], r.loaded)
                load_s = write(r.client, todo)
                r.loaded = entries
                points[r.target] = {"entries": entries, "load_seconds": round(load_s, 3),
                                    "inserts_per_second": round(len(todo) / load_s, 1)
                                    if todo else None}  # fmt: skip
            kinds: list[tuple[str, list[bytes], tuple[str, ...]]] = []
            if entries:
                hits = [segment(c, p, i)
                        for i, (c, p) in enumerate(rng.choices(installed[:entries], k=POOL))]
                kinds.append(("handed_off", hits, (BACKEND,)))
            kinds.append(("not_handed_off", misses, (VIP, *CLASSIFIERS)))
            for traffic, frames, allowed in kinds:
                for r in rigs:
                    check_first(r.tx, r.rx_ifname, frames[0], allowed)
                    found = figure(r.switch, r.tx, r.rx_ifname, frames, seconds, steps)
                    points[r.target][traffic] = asdict(found)
                    per_cpu = found.per_cpu_second_at_loss_free
                    print(f"{r.target:>5} {entries:>7,} entries, {traffic}: loss-free "
                          f"{found.loss_free_pps:,.0f} pps ({per_cpu:,.0f} per CPU s); "
                          f"flat out {found.flat_out_forwarded_pps:,.0f} of "
                          f"{found.flat_out_offered_pps:,.0f} pps", flush=True)  # fmt: skip
            for target, point in points.items():
                results[target].append(point)
    return results


FIGURES = (
    ("loss_free_pps", "loss_free_pps"),
    ("per_cpu_second_at_loss_free", "per_cpu_s"),
    ("flat_out_forwarded_pps", "flat_out_pps"),
)


def ratios(by_target: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """p4sim / bmv2 per table size and traffic, for each figure."""
    rows = []
    bmv2 = {p["entries"]: p for p in by_target["bmv2"]}
    for point in by_target["p4sim"]:
        other = bmv2.get(point["entries"])
        for traffic in ("handed_off", "not_handed_off"):
            if other is None or traffic not in point or traffic not in other:
                continue
            row: dict[str, Any] = {"entries": point["entries"], "traffic": traffic}
            for key, short in FIGURES:
                mine, theirs = point[traffic][key], other[traffic][key]
                row[f"p4sim {short}"] = mine
                row[f"bmv2 {short}"] = theirs
                row[f"{short} p4sim/bmv2"] = round(mine / theirs, 3) if theirs else None
            rows.append(row)
    return rows


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    colours = {"p4sim": "#4c72b0", "bmv2": "#dd8452"}
    titles = {
        "loss_free_pps": "loss-free packets/s (< 1 % loss)",
        "per_cpu_second_at_loss_free": "per CPU second of the switch\n(at the loss-free rate)",
        "flat_out_forwarded_pps": "forwarded packets/s, sender flat out",
    }
    for axis, key in zip(axes, titles, strict=True):
        sizes: list[int] = []
        for target, points in result["targets"].items():
            for traffic, marker, dash in (("handed_off", "s", "-"), ("not_handed_off", "o", "--")):
                have = [p for p in points if traffic in p]
                xs = [max(p["entries"], 1) for p in have]
                sizes = sorted(set(sizes) | set(xs))
                axis.plot(xs, [p[traffic][key] for p in have], marker=marker, linestyle=dash,
                          color=colours[target], label=f"{target}, {traffic.replace('_', ' ')}")
        axis.set_xscale("symlog", linthresh=1)
        axis.set_xticks(sizes, [f"{s:,}" if s > 1 else "0" for s in sizes])
        axis.set_ylim(bottom=0)
        axis.set_xlabel("encap_map entries")
        axis.set_title(titles[key], fontsize=9)
        axis.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"forwarder on veths, {result['seconds_per_step']} s per step; bmv2 built "
                 "--disable-logging-macros --disable-elogger -O2 (fast build); shared 2-core "
                 "machine", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per step (default 1)")
    parser.add_argument("--steps", type=int, default=5, help="paced steps per figure (default 5)")
    parser.add_argument("--sizes", help="encap_map sizes (default 0,10000,100000)")
    parser.add_argument("--quick", action="store_true", help="0 and 10k entries, 3 paced steps")
    parser.add_argument("--target", action="append", choices=("p4sim", "bmv2"),
                        help="only this target (default: both, bmv2 where installed)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(f"{NAME}: cannot run: needs root (network namespaces, veths)", file=sys.stderr)
        return 2
    sizes: tuple[int, ...] = QUICK_SIZES if args.quick else SIZES
    if args.sizes:
        sizes = tuple(sorted({int(x) for x in args.sizes.split(",")}))
    steps = 3 if args.quick else args.steps
    targets = args.target or ["p4sim", "bmv2"]
    skipped: dict[str, str] = {}
    for target in list(targets):
        missing = missing_tools(target)
        if missing:
            skipped[target] = f"{' and '.join(missing)} not on PATH"
            targets.remove(target)
            print(f"{target}: skipped: {skipped[target]}")
    started = time.perf_counter()
    capacity = max(TABLE_SIZE, max(sizes))
    with tempfile.TemporaryDirectory(prefix="fwd-veth-build-") as tmp:
        program = forwarder_copy(Path(tmp), capacity)
        pipelines = {t: build_pipeline(program, t, Path(tmp) / t) for t in targets}
        by_target = measure(pipelines, sizes, args.seconds, steps, seed=11)
    both = {"p4sim", "bmv2"} <= set(by_target)
    result: dict[str, Any] = {
        "benchmark": NAME,
        "quick": args.quick,
        "program": f"p4src/forwarder.p4 (ENCAP_MAP_SIZE raised to {capacity:,})",
        "frame_bytes": len(segment("10.128.0.1", 1024, 0)),
        "seconds_per_step": args.seconds,
        "paced_steps": steps,
        "loss_free_below": LOSS_FREE,
        "bmv2_build": BMV2_BUILD if "bmv2" in by_target else None,
        "skipped": skipped,
        "p4sim_over_bmv2": ratios(by_target) if both else [],
        "targets": by_target,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "note": "the sender and both switches share the machine's 2 cores with other work; "
                "targets alternate figure by figure so both see the same load",
    }  # fmt: skip
    for row in result["p4sim_over_bmv2"]:
        print(f"p4sim/bmv2, {row['entries']:,} entries, {row['traffic']}: loss-free "
              f"{row['loss_free_pps p4sim/bmv2']}, per CPU second "
              f"{row['per_cpu_s p4sim/bmv2']}, flat out {row['flat_out_pps p4sim/bmv2']}")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"{NAME}-quick" if args.quick and args.out == RESULTS else NAME
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    if by_target:
        plot(result, args.out / f"{stem}.png")
    print(f"wrote {args.out / (stem + '.json')} ({result['wall_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
