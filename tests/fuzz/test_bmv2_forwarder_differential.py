"""The forwarder on bmv2 and on p4sim under the same random packets, with the
same entries: every frame must leave on the same port with the same bytes,
every frame for the controller must reach it with the same packet_in header,
and the digests and encap_map counters must agree.

Inputs (over 10,000 per run, FUZZ_SCALE multiplies them): every truncation
of the valid frames of tests/fuzz/test_fuzz_packets.py (encap hits, FIN/RST,
steering, routes, punt and drop routes, ARP, TTL 2, IPv4 options,
fragments, packet_out), bit flips and cuts of them, and random frames built
field by field, on every port the program knows, the CPU port included.
FUZZ_SEED picks another seed; the seed is in every failure message.

bmv2 is simple_switch_grpc with p4c's build of p4src/forwarder.p4, entries
written through controller/p4rt, packets on bmv2's nanomsg socket (no root),
frames to the CPU port as P4Runtime PacketIn. p4sim is the in-memory Switch.
Packets go to bmv2 in batches: bmv2 keeps each port's frames in order, so
each port's frames of a batch are compared in order once as many as p4sim
emitted have arrived, and QUIET s with nothing more ends the batch.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from needs import skip_reason
from paths import FORWARDER_P4

NEEDS_BMV2 = skip_reason(target="bmv2", root=False)
pytestmark = pytest.mark.skipif(NEEDS_BMV2 is not None, reason=NEEDS_BMV2 or "")

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
SEED = int(os.environ.get("FUZZ_SEED", "20261206"))
MUTATIONS = 4_000 * SCALE
RANDOM_FRAMES = 5_000 * SCALE
BATCH = 50  # below bmv2's egress queue depth (64 frames per port), which drops beyond it
QUIET = 0.05
DEADLINE = 10.0


def _inputs(rng: random.Random) -> list[tuple[int, bytes]]:
    from test_fuzz_packets import CPU_PORT, PORTS, _mutate, _random_frame, valid_frames

    inputs: list[tuple[int, bytes]] = []
    corpus = valid_frames()
    for name, frame, _ in corpus:
        port = CPU_PORT if name.startswith("packet_out") else 1
        inputs += [(port, frame[:cut]) for cut in range(len(frame) + 1)]
    for _ in range(MUTATIONS):
        name, frame, _ = rng.choice(corpus)
        on_cpu = name.startswith("packet_out") or rng.random() < 0.03
        port = CPU_PORT if on_cpu else rng.choice(PORTS[:-2])
        inputs.append((port, _mutate(rng, frame)))
    for i in range(RANDOM_FRAMES):
        frame = _random_frame(rng)
        port = PORTS[i % len(PORTS)]
        if port == CPU_PORT and rng.random() < 0.5:
            frame = (rng.choice(PORTS) << 7 | rng.getrandbits(7)).to_bytes(2, "big") + frame
        inputs.append((port, frame))
    return inputs


def _install_on_bmv2(client, tables) -> None:  # type: ignore[no-untyped-def]
    """test_fuzz_packets' lab tables, through the P4Runtime client by name."""
    from forwarder_model import NextHop

    from controller.p4rt import Exact, Lpm

    make = client.entities
    entries = []

    def keyed(table: str, values: list[object]) -> dict[str, object]:
        fields = client.index.table(table).match_fields
        return {f.name: v for f, v in zip(fields, values, strict=True)}

    for (prefix, length), action in tables.routes.items():
        match = keyed("routes", [Lpm(prefix, length)])
        if isinstance(action, NextHop):
            params = {"port": action.port, "src_mac": action.src_mac, "dst_mac": action.dst_mac}
            entries.append(make.table_entry("routes", match, "set_next_hop", params))
        else:
            entries.append(make.table_entry("routes", match, action))
    for address, mac in tables.gateways.items():
        match = keyed("gateway_arp", [Exact(address)])
        entries.append(make.table_entry("gateway_arp", match, "answer_arp", {"gateway_mac": mac}))
    for (vip, bucket), host in tables.steering.items():
        match = keyed("vip_steering", [Exact(vip), Exact(bucket)])
        params = {"classifier": host}
        entries.append(make.table_entry("vip_steering", match, "steer_to_classifier", params))
    for key, encap in tables.encap.items():
        match = keyed("encap_map", [Exact(v) for v in key])
        params = {
            "flow_id": encap.flow_id,
            "tunnel_src": encap.tunnel_src,
            "backend": encap.backend,
        }
        entries.append(make.table_entry("encap_map", match, "encap_to_backend", params))
    for vip, vip_port in tables.vip_close:
        match = keyed("vip_close", [Exact(vip), Exact(vip_port)])
        entries.append(make.table_entry("vip_close", match, "note_vip_close", {}))
    client.insert(*entries)


def _packet_in_bytes(client, packet) -> bytes:  # type: ignore[no-untyped-def]
    """A PacketIn as p4sim emits it on the CPU port: the packet_in header
    (its fields in P4Info order, packed MSB first) before the payload."""
    spec = client.index.controller_header("packet_in")
    value, width = 0, 0
    for field in spec.fields:
        value = value << field.bitwidth | packet.get(field.name)
        width += field.bitwidth
    return value.to_bytes((width + 7) // 8, "big") + packet.payload


def _assert_same_digests(sim: list[object], bmv2: list[object]) -> None:
    """bmv2's digest stream is p4sim's data-plane digests in order, less
    repeats of data it already reported and the controller had not yet
    acknowledged: P4Runtime (DigestEntry.Config, ack_timeout_ns) has the
    server suppress those, as p4sim's server does too (p4sim/server/digests.py);
    the in-memory Switch hands out every digest."""
    assert bmv2, "no digest to compare"
    at = 0
    seen: set[object] = set()
    for item in bmv2:
        start = at
        while at < len(sim) and sim[at] != item:
            assert sim[at] in seen, (
                f"seed {SEED}: bmv2 skipped digest {sim[at]} (p4sim #{at}), not reported before;"
                f" bmv2 went on with {item} (p4sim's list from #{start}: {sim[start : at + 3]})"
            )
            at += 1
        assert at < len(sim), f"seed {SEED}: bmv2 digest {item} is not in p4sim's stream"
        seen.add(item)
        at += 1
    missing = [d for d in sim[at:] if d not in seen]
    assert not missing, f"seed {SEED}: bmv2 never reported {missing[:3]}"


@pytest.mark.timeout(300)
def test_forwarder_gives_the_same_frames_digests_and_counters_on_bmv2(tmp_path: Path) -> None:
    from bmv2 import compile_p4c, running_bmv2
    from test_fuzz_packets import CPU_PORT, install, lab_tables

    from p4sim.runtime.tables import Exact

    rng = random.Random(SEED)
    inputs = _inputs(rng)
    assert len(inputs) >= 10_000
    tables = lab_tables()
    fwd = install(tables)
    compiled = compile_p4c(FORWARDER_P4, tmp_path / "build")
    started = time.monotonic()
    compared = 0
    sim_digests: list[tuple[str, tuple[int, ...]]] = []
    bmv2_digests: list[tuple[str, tuple[int, ...]]] = []
    with running_bmv2(cpu_port=CPU_PORT) as bmv2, bmv2.client() as client:
        client.set_pipeline(compiled.p4info(), compiled.device_config)
        _install_on_bmv2(client, tables)
        for digest in client.index.p4info.digests:
            client.enable_digest(digest.preamble.name, max_list_size=1, max_timeout_ns=0)
        for start in range(0, len(inputs), BATCH):
            batch = inputs[start : start + BATCH]
            want: dict[int, list[tuple[bytes, int]]] = {}  # port -> (frame, input index)
            for i, (port, frame) in enumerate(batch, start):
                for out_port, out in fwd.switch.process(port, frame):
                    want.setdefault(out_port, []).append((out, i))
                sim_digests += [(n, tuple(v)) for n, v in fwd.switch.drain_digests()]
            for port, frame in batch:
                bmv2.ports.send(port, frame)
            data_count = sum(len(v) for p, v in want.items() if p != CPU_PORT)
            got: dict[int, list[bytes]] = {}
            for port, frame in bmv2.ports.collect(data_count, DEADLINE, quiet=QUIET):
                got.setdefault(port, []).append(frame)
            cpu_count = len(want.get(CPU_PORT, []))
            deadline = time.monotonic() + DEADLINE
            while len(got.get(CPU_PORT, [])) < cpu_count:
                packet = client.receive_packet(timeout=max(0.0, deadline - time.monotonic()))
                if packet is None:
                    break
                got.setdefault(CPU_PORT, []).append(_packet_in_bytes(client, packet))
            while (extra := client.receive_packet(timeout=0)) is not None:
                got.setdefault(CPU_PORT, []).append(_packet_in_bytes(client, extra))
            for port in sorted(set(want) | set(got)):
                expected = [frame for frame, _ in want.get(port, [])]
                actual = got.get(port, [])
                if expected == actual:
                    continue
                first = next(
                    (k for k, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
                    min(len(expected), len(actual)),
                )
                culprit = want[port][first][1] if first < len(expected) else None
                shown = (
                    f"input {culprit}: port {inputs[culprit][0]}, frame {inputs[culprit][1].hex()}"
                    if culprit is not None
                    else "an input p4sim dropped"
                )
                pytest.fail(
                    f"seed {SEED}, batch at input {start}: port {port} differs at its frame "
                    f"{first} ({shown}):\n  p4sim {[f.hex() for f in expected[first : first + 2]]}"
                    f"\n  bmv2  {[f.hex() for f in actual[first : first + 2]]}"
                    f"\n  ({len(expected)} vs {len(actual)} frames in the batch)"
                )
            compared += len(batch)
        deadline = time.monotonic() + DEADLINE
        while len(bmv2_digests) < len(sim_digests):
            digest = client.receive_digest(timeout=max(0.0, deadline - time.monotonic()))
            if digest is None:
                break
            bmv2_digests += [(digest.digest, tuple(r.values())) for r in digest.as_dicts()]
        while (extra := client.receive_digest(timeout=0.2)) is not None:
            bmv2_digests += [(extra.digest, tuple(r.values())) for r in extra.as_dicts()]
        bmv2_counters = {
            tuple(m.value for _, m in e.match): (e.counter.packets, e.counter.bytes)
            for e in client.read_table("encap_map", counters=True)
            if e.counter is not None
        }
    elapsed = time.monotonic() - started
    table = fwd.switch.resolve_table("encap_map")
    sim_counters = {}
    for key in tables.encap:
        entry = table.get(tuple(Exact(v) for v in key))
        assert entry is not None
        sim_counters[key] = (entry.packets, entry.bytes)
    assert bmv2_counters == sim_counters, f"seed {SEED}: encap_map counters differ"
    assert sum(p for p, _ in sim_counters.values()) > 100, "too few encap hits to compare"
    _assert_same_digests(sim_digests, bmv2_digests)
    print(
        f"seed {SEED}: {compared} packets compared in {elapsed:.1f} s, {len(sim_digests)} digests"
    )
