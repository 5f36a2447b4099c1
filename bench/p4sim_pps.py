"""Packets per second of p4sim's in-memory path (`Switch.process`, what the
STF runner drives) for a small router, with a per-stage cost breakdown and
the memory one exact-match entry costs.

The router parses Ethernet and IPv4, checks the source against an exact
table of 100,000 hosts, routes the destination through an lpm table of
10,000 prefixes, decrements the TTL, updates the IPv4 checksum and deparses.
Every measured packet hits both tables (random known source, random address
inside a random prefix).

    .venv/bin/python bench/p4sim_pps.py           # full run, well under 2 minutes
    .venv/bin/python bench/p4sim_pps.py --quick   # smoke run, a few seconds
    .venv/bin/python bench/p4sim_pps.py --veth    # through two veth ports (root)

Writes bench/results/p4sim_pps.json and bench/results/p4sim_pps.png
(`--veth`: bench/results/p4sim_pps_veth.json).

`--veth` runs the same router as a p4sim process on two veth ports in a
namespace of its own (bench/p4sim_veth_pps.py's `measure`), installs the same
entries over P4Runtime with every route pointing at the second port, and
sends the same kind of frames into the first port.

The stage breakdown comes from a separate cProfile run: each stage is the
cumulative time of the generated function for that block (table lookups are
split out of ingress), `framework` is the rest of `Switch.process` (v1model's
packet handling, traffic manager, copies); the shares are then applied to the
unprofiled time per packet, since profiling itself inflates every call.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import random
import struct
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from p4sim.compiler import CompiledProgram, compile_source
from p4sim.runtime.switch import Switch
from p4sim.runtime.tables import ActionCall, Exact, Lpm, TableEntry

RESULTS = Path(__file__).resolve().parent / "results"
EXACT_ENTRIES = 100_000
LPM_ENTRIES = 10_000
POOL = 16_384  # distinct packets cycled through during the measurement
INGRESS_PORT = 0

ROUTER_P4 = """
#include <core.p4>
#include <v1model.p4>

header ethernet_t {
    bit<48> dstAddr;
    bit<48> srcAddr;
    bit<16> etherType;
}

header ipv4_t {
    bit<4>  version;
    bit<4>  ihl;
    bit<8>  diffserv;
    bit<16> totalLen;
    bit<16> identification;
    bit<3>  flags;
    bit<13> fragOffset;
    bit<8>  ttl;
    bit<8>  protocol;
    bit<16> hdrChecksum;
    bit<32> srcAddr;
    bit<32> dstAddr;
}

struct headers_t {
    ethernet_t ethernet;
    ipv4_t     ipv4;
}

struct meta_t { }

parser RouterParser(packet_in pkt, out headers_t hdr, inout meta_t meta,
                    inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.etherType) {
            0x0800: parse_ipv4;
            default: accept;
        }
    }
    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        transition accept;
    }
}

control RouterVerify(inout headers_t hdr, inout meta_t meta) { apply { } }

control RouterIngress(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    action drop() {
        mark_to_drop(sm);
    }
    action allow(bit<8> dscp) {
        hdr.ipv4.diffserv = dscp;
    }
    action forward(bit<48> dmac, bit<9> port) {
        hdr.ethernet.srcAddr = hdr.ethernet.dstAddr;
        hdr.ethernet.dstAddr = dmac;
        sm.egress_spec = port;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }
    // One entry per known source host: its traffic class.
    table src_guard {
        key = { hdr.ipv4.srcAddr : exact; }
        actions = { allow; drop; }
        default_action = drop();
        size = 131072;
    }
    // One entry per routed prefix: next-hop MAC and port.
    table ipv4_lpm {
        key = { hdr.ipv4.dstAddr : lpm; }
        actions = { forward; drop; }
        default_action = drop();
        size = 16384;
    }
    apply {
        if (hdr.ipv4.isValid() && hdr.ipv4.ttl > 1) {
            src_guard.apply();
            ipv4_lpm.apply();
        } else {
            drop();
        }
    }
}

control RouterEgress(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply { }
}

control RouterCompute(inout headers_t hdr, inout meta_t meta) {
    apply {
        update_checksum(hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.totalLen,
              hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.fragOffset, hdr.ipv4.ttl,
              hdr.ipv4.protocol, hdr.ipv4.srcAddr, hdr.ipv4.dstAddr },
            hdr.ipv4.hdrChecksum, HashAlgorithm.csum16);
    }
}

control RouterDeparser(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.ethernet);
        pkt.emit(hdr.ipv4);
    }
}

V1Switch(RouterParser(), RouterVerify(), RouterIngress(), RouterEgress(), RouterCompute(),
         RouterDeparser()) main;
"""

STAGES = ("parser", "ingress", "tables", "egress", "checksum", "deparser", "framework")


@dataclass
class Route:
    prefix: int
    length: int
    port: int


@dataclass
class Result:
    packets: int
    seconds: float
    packets_per_second: float
    us_per_packet: float
    stage_us: dict[str, float]
    stage_share: dict[str, float]
    exact_entries: int
    lpm_entries: int
    bytes_per_exact_entry: float
    table_load_seconds: float
    compile_seconds: float
    python: str
    machine: str


def make_routes(rng: random.Random) -> list[Route]:
    """10k distinct prefixes of several lengths (so the lpm lookup probes
    more than one length), plus a default route."""
    routes: dict[tuple[int, int], Route] = {}
    lengths = [24] * 80 + [20] * 10 + [16] * 8 + [12] * 2
    routes[(0, 0)] = Route(0, 0, 1)
    while len(routes) < LPM_ENTRIES:
        length = rng.choice(lengths)
        prefix = rng.getrandbits(32) & ((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF)
        routes.setdefault((prefix, length), Route(prefix, length, 1 + len(routes) % 64))
    return list(routes.values())


def make_sources(rng: random.Random) -> list[int]:
    sources: set[int] = set()
    while len(sources) < EXACT_ENTRIES:
        sources.add(rng.getrandbits(32))
    return sorted(sources)


def ipv4_checksum(header: bytes) -> int:
    words: tuple[int, ...] = struct.unpack(f"!{len(header) // 2}H", header)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def make_packet(src: int, dst: int, ident: int) -> bytes:
    """A 64-byte Ethernet/IPv4/UDP-sized frame with a valid checksum."""
    header = struct.pack("!BBHHHBBHII", 0x45, 0, 50, ident, 0, 64, 17, 0, src, dst)
    header = header[:10] + struct.pack("!H", ipv4_checksum(header)) + header[12:]
    eth = bytes.fromhex("0000000000020000000000010800")
    return eth + header + bytes(64 - 14 - 20)


def make_pool(rng: random.Random, sources: list[int], routes: list[Route]) -> list[bytes]:
    pool = []
    for i in range(POOL):
        route = rng.choice(routes[1:])
        host_bits = 32 - route.length
        dst = route.prefix | (rng.getrandbits(host_bits) if host_bits else 0)
        pool.append(make_packet(rng.choice(sources), dst, i & 0xFFFF))
    return pool


def load_tables(switch: Switch, sources: list[int], routes: list[Route]) -> None:
    guard = switch.tables["RouterIngress.src_guard"]
    for i, src in enumerate(sources):
        guard.insert(TableEntry((Exact(src),), ActionCall("RouterIngress.allow", (i & 0x3F,))))
    lpm = switch.tables["RouterIngress.ipv4_lpm"]
    for r in routes:
        dmac = 0x020000000000 | r.port
        lpm.insert(
            TableEntry(
                (Lpm(r.prefix, r.length),), ActionCall("RouterIngress.forward", (dmac, r.port))
            )
        )


def bytes_per_exact_entry(program: CompiledProgram, sources: list[int]) -> float:
    """Memory the exact table grows by per entry, measured with tracemalloc
    on a fresh switch, for entries built as P4Runtime builds them: each with
    its own key int (decoded from bytes) and its own action call and argument
    tuple. Everything the table keeps counts: entries, keys, index slots."""
    switch = Switch(program)
    guard = switch.tables["RouterIngress.src_guard"]
    raw_keys = [src.to_bytes(4, "big") for src in sources]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i, raw in enumerate(raw_keys):
        key = Exact(int.from_bytes(raw, "big"))
        guard.insert(TableEntry((key,), ActionCall("RouterIngress.allow", (i & 0x3F,))))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / len(sources)


def measure(process: Callable[[int, bytes], Any], pool: list[bytes], packets: int) -> float:
    """CPU seconds (of this process) to run `packets` packets: other work
    on a shared machine does not count against p4sim."""
    n = len(pool)
    start = time.process_time()
    for i in range(packets):
        process(INGRESS_PORT, pool[i % n])
    return time.process_time() - start


def stage_shares(switch: Switch, pool: list[bytes], packets: int) -> dict[str, float]:
    functions = switch.program.lowered.pipeline.functions
    profiler = cProfile.Profile()
    profiler.enable()
    measure(switch.process, pool, packets)
    profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def cumulative(name: str) -> float:
        return float(
            sum(v[3] for (f, _, fn), v in stats.items() if fn == name and f.startswith("<p4sim"))
        )

    def is_tables(key: tuple[str, int, str]) -> bool:
        return key[0].endswith("runtime/tables.py")

    tables = 0.0
    for key, (_, _, _, _, callers) in stats.items():
        if is_tables(key):
            tables += sum(c[3] for caller, c in callers.items() if not is_tables(caller))
    total = sum(v[3] for (f, _, fn), v in stats.items() if fn == "process" and "switch.py" in f)
    times = {
        "parser": cumulative(functions["parser"]),
        "ingress": cumulative(functions["ingress"]) - tables,
        "tables": tables,
        "egress": cumulative(functions["egress"]),
        "checksum": cumulative(functions["verify_checksum"])
        + cumulative(functions["compute_checksum"]),
        "deparser": cumulative(functions["deparser"]),
    }
    times["framework"] = max(total - sum(times.values()), 0.0)
    return {k: v / total for k, v in times.items()}


VETH_MARKER = b"p4sim-veth-pps--"  # how the veth receiver recognises our frames
VETH_IN, VETH_OUT = 1, 2
WRITE_BATCH = 1000


def install_router(sources: list[int], routes: list[Route]) -> Any:
    """A bench/p4sim_veth_pps.py `Install` writing the router's entries over
    P4Runtime, in batches, every route forwarding to the veth egress port."""
    from finsy.proto import p4r

    from p4sim.server.codec import encode

    def install(stub: Any, info: Any) -> None:
        def table(name: str) -> Any:
            return next(t for t in info.tables if t.preamble.name == name)

        def action(name: str) -> Any:
            return next(a for a in info.actions if a.preamble.name == name)

        guard, lpm = table("RouterIngress.src_guard"), table("RouterIngress.ipv4_lpm")
        allow, forward = action("RouterIngress.allow"), action("RouterIngress.forward")
        updates: list[Any] = []

        def flush() -> None:
            request = p4r.WriteRequest(device_id=0, election_id=p4r.Uint128(low=1))
            request.updates.extend(updates)
            stub.Write(request)
            updates.clear()

        def add(table_id: int, action_id: int) -> Any:
            if len(updates) == WRITE_BATCH:
                flush()
            update = p4r.Update(type=p4r.Update.INSERT)
            te = update.entity.table_entry
            te.table_id = table_id
            te.action.action.action_id = action_id
            updates.append(update)
            return te

        for i, src in enumerate(sources):
            te = add(guard.preamble.id, allow.preamble.id)
            te.match.add(field_id=guard.match_fields[0].id).exact.value = encode(src)
            te.action.action.params.add(param_id=allow.params[0].id, value=encode(i & 0x3F))
        for r in routes:
            te = add(lpm.preamble.id, forward.preamble.id)
            if r.length:  # a /0 route is the entry with the key left out
                m = te.match.add(field_id=lpm.match_fields[0].id)
                m.lpm.value = encode(r.prefix)
                m.lpm.prefix_len = r.length
            dmac = 0x020000000000 | VETH_OUT
            te.action.action.params.add(param_id=forward.params[0].id, value=encode(dmac))
            te.action.action.params.add(param_id=forward.params[1].id, value=encode(VETH_OUT))
        if updates:
            flush()

    return install


def run_veth(seconds: float, rate: float | None, out_dir: Path) -> Any:
    import p4sim_veth_pps

    rng = random.Random(20240501)
    routes = make_routes(rng)
    sources = make_sources(rng)
    frames = [f[: -len(VETH_MARKER)] + VETH_MARKER for f in make_pool(rng, sources, routes)]
    with tempfile.TemporaryDirectory(prefix="p4sim-pps-") as workdir:
        program = Path(workdir) / "bench_router.p4"
        program.write_text(ROUTER_P4)
        result = p4sim_veth_pps.measure(program, install_router(sources, routes), frames,
                                        seconds, rate, VETH_IN, VETH_OUT)
    out_dir.mkdir(parents=True, exist_ok=True)
    body = {**asdict(result), "exact_entries": EXACT_ENTRIES, "lpm_entries": LPM_ENTRIES,
            "python": platform.python_version(), "machine": platform.machine()}
    (out_dir / "p4sim_pps_veth.json").write_text(json.dumps(body, indent=2) + "\n")
    return result


def plot(result: Result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    values = [result.stage_us[s] for s in STAGES]
    bars = ax.barh(list(STAGES)[::-1], values[::-1], color="#4c72b0")
    ax.bar_label(bars, fmt="%.2f us", padding=3, fontsize=8)
    ax.set_xlabel("microseconds per packet")
    ax.set_title(
        f"p4sim Switch.process: {result.packets_per_second:,.0f} packets/s "
        f"({result.us_per_packet:.2f} us/packet)\n"
        f"{result.exact_entries:,} exact + {result.lpm_entries:,} lpm entries, "
        f"{result.bytes_per_exact_entry:.0f} B per exact entry",
        fontsize=9,
    )
    ax.set_xlim(0, max(values) * 1.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(packets: int, profile_packets: int, out_dir: Path) -> Result:
    rng = random.Random(20240501)
    t0 = time.perf_counter()
    program = compile_source(ROUTER_P4, "bench_router.p4")
    compile_s = time.perf_counter() - t0
    routes = make_routes(rng)
    sources = make_sources(rng)
    pool = make_pool(rng, sources, routes)

    switch = Switch(program)
    t0 = time.perf_counter()
    load_tables(switch, sources, routes)
    load_s = time.perf_counter() - t0

    first = switch.process(INGRESS_PORT, pool[0])
    if len(first) != 1 or first[0][1][22] != 63:
        raise SystemExit(f"router did not forward the first packet as expected: {first!r}")
    measure(switch.process, pool, min(2_000, packets))  # warm-up
    gc.collect()
    seconds = measure(switch.process, pool, packets)
    us = seconds / packets * 1e6
    shares = stage_shares(switch, pool, profile_packets)
    entry_bytes = bytes_per_exact_entry(program, sources)

    result = Result(
        packets=packets,
        seconds=round(seconds, 4),
        packets_per_second=round(packets / seconds, 1),
        us_per_packet=round(us, 3),
        stage_us={s: round(shares[s] * us, 3) for s in STAGES},
        stage_share={s: round(shares[s], 4) for s in STAGES},
        exact_entries=EXACT_ENTRIES,
        lpm_entries=LPM_ENTRIES,
        bytes_per_exact_entry=round(entry_bytes, 1),
        table_load_seconds=round(load_s, 3),
        compile_seconds=round(compile_s, 3),
        python=platform.python_version(),
        machine=platform.machine(),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "p4sim_pps.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    plot(result, out_dir / "p4sim_pps.png")
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (20k packets)")
    parser.add_argument("--packets", type=int, default=None, help="packets to time")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument("--veth", action="store_true",
                        help="through two veth ports instead of in memory (needs root)")
    parser.add_argument("--seconds", type=float, default=3.0, help="--veth: sending time")
    parser.add_argument("--rate", type=float, default=None,
                        help="--veth: offered packets/s (default: as fast as possible)")
    args = parser.parse_args(argv)
    if args.veth:
        return main_veth(args.seconds, args.rate, args.out)
    packets = args.packets or (20_000 if args.quick else 300_000)
    result = run(packets, min(packets, 20_000 if args.quick else 50_000), args.out)
    print(
        f"p4sim Switch.process: {result.packets_per_second:,.0f} packets/s "
        f"({result.us_per_packet:.2f} us/packet over {result.packets:,} packets, "
        "CPU time of 1 core)"
    )
    print("per-packet cost by stage:")
    for stage in STAGES:
        print(f"  {stage:<10} {result.stage_us[stage]:7.2f} us  {result.stage_share[stage]:6.1%}")
    print(
        f"memory: {result.bytes_per_exact_entry:.0f} bytes per exact entry "
        f"at {result.exact_entries:,} entries (tables loaded in {result.table_load_seconds:.2f} s)"
    )
    print(f"wrote {args.out / 'p4sim_pps.json'} and {args.out / 'p4sim_pps.png'}")
    return 0


def main_veth(seconds: float, rate: float | None, out_dir: Path) -> int:
    if os.geteuid() != 0:
        print("p4sim_pps --veth: skipped: needs root to create a namespace and veth pairs")
        return 0
    result = run_veth(seconds, rate, out_dir)
    print(
        f"p4sim veth: {result.forwarded_pps:,.0f} packets/s forwarded through two veth ports "
        f"(offered {result.offered_pps:,.0f}/s, loss {result.loss:.1%}, "
        f"{result.received:,} of {result.sent:,}); "
        f"{result.forwarded_per_cpu_second:,.0f} packets per CPU second of the switch"
    )
    print(f"wrote {out_dir / 'p4sim_pps_veth.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
