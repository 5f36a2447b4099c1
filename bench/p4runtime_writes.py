"""Table inserts per second over P4Runtime: one entry per Write, and batched.

Starts the switch as its own process (so client and server do not share a
GIL), pushes bench/p4/writes.p4 as primary, then times blocking Write calls
of prebuilt requests: `--single` requests of one INSERT each, then
`--batches` requests of `--batch-size` INSERTs. The same run measures bmv2's
simple_switch_grpc when it and p4c are on PATH (bmv2 1.15.5 built
--disable-logging-macros --disable-elogger -O2 where this project measured
it) and gives p4sim/bmv2. Prints the figures and the batched/single ratio;
`--json FILE` also writes them.

    .venv/bin/python bench/p4runtime_writes.py [--single 2000] [--batches 50] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from finsy.proto import p4i, p4r, p4r_grpc
from google.protobuf import text_format

from p4sim.compiler import compile_file
from p4sim.server.codec import encode

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "bench" / "p4" / "writes.p4"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(address: str, timeout: float = 30.0) -> None:
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    finally:
        channel.close()


@contextmanager
def p4sim_switch() -> Iterator[tuple[str, p4i.P4Info, bytes]]:
    program = compile_file(PROGRAM)
    address = f"127.0.0.1:{_free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "p4sim.server.main", "--no-p4", "--grpc-server-addr", address],
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(address)
        yield address, program.p4info, program.device_config
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def bmv2_switch() -> Iterator[tuple[str, p4i.P4Info, bytes]]:
    with tempfile.TemporaryDirectory(prefix="bench-bmv2-") as tmp:
        out = Path(tmp)
        subprocess.run(
            [
                "p4c",
                "--target",
                "bmv2",
                "--arch",
                "v1model",
                "-o",
                str(out),
                "--p4runtime-files",
                str(out / "writes.p4info.txtpb"),
                str(PROGRAM),
            ],
            check=True,
            capture_output=True,
        )
        info = text_format.Parse((out / "writes.p4info.txtpb").read_text(), p4i.P4Info())
        address = f"127.0.0.1:{_free_port()}"
        proc = subprocess.Popen(
            ["simple_switch_grpc", "--no-p4", "--", "--grpc-server-addr", address],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_listening(address)
            yield address, info, (out / "writes.json").read_bytes()
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _requests(info: p4i.P4Info, first: int, count: int, per_request: int) -> list[p4r.WriteRequest]:
    table = info.tables[0]
    action = next(a for a in info.actions if a.preamble.name.endswith("set_port"))
    field_id, param_id = table.match_fields[0].id, action.params[0].id
    requests = []
    for start in range(first, first + count * per_request, per_request):
        request = p4r.WriteRequest(device_id=0, election_id=p4r.Uint128(low=1))
        for key in range(start, start + per_request):
            te = request.updates.add(type=p4r.Update.INSERT).entity.table_entry
            te.table_id = table.preamble.id
            te.match.add(field_id=field_id).exact.value = encode(key)
            te.action.action.action_id = action.preamble.id
            te.action.action.params.add(param_id=param_id, value=encode(key % 64))
        requests.append(request)
    return requests


def measure(
    address: str, info: p4i.P4Info, device_config: bytes, single: int, batches: int, size: int
) -> dict[str, float]:
    channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 256 << 20)])
    stub = p4r_grpc.P4RuntimeStub(channel)
    outbox: queue.Queue[p4r.StreamMessageRequest | None] = queue.Queue()
    outbox.put(
        p4r.StreamMessageRequest(
            arbitration=p4r.MasterArbitrationUpdate(device_id=0, election_id=p4r.Uint128(low=1))
        )
    )
    stream = stub.StreamChannel(iter(outbox.get, None))
    try:
        next(stream)
        config = p4r.ForwardingPipelineConfig(p4_device_config=device_config)
        config.p4info.CopyFrom(info)
        stub.SetForwardingPipelineConfig(
            p4r.SetForwardingPipelineConfigRequest(
                device_id=0,
                election_id=p4r.Uint128(low=1),
                config=config,
                action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
            )
        )
        ones = _requests(info, 1, single, 1)
        many = _requests(info, 1 + single, batches, size)
        start = time.perf_counter()
        for request in ones:
            stub.Write(request)
        single_s = time.perf_counter() - start
        start = time.perf_counter()
        for request in many:
            stub.Write(request)
        batched_s = time.perf_counter() - start
    finally:
        outbox.put(None)
        channel.close()
    single_rate = single / single_s
    batched_rate = batches * size / batched_s
    return {
        "single_per_s": single_rate,
        "batched_per_s": batched_rate,
        "ratio": batched_rate / single_rate,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--single", type=int, default=2000, help="one-entry requests (default 2000)"
    )
    parser.add_argument("--batches", type=int, default=50, help="batched requests (default 50)")
    parser.add_argument(
        "--batch-size", type=int, default=1000, help="entries per batch (default 1000)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results: dict[str, dict[str, float] | str] = {}
    targets = [("p4sim", p4sim_switch)]
    if shutil.which("simple_switch_grpc") and shutil.which("p4c"):
        targets.append(("bmv2", bmv2_switch))
    else:
        print("bmv2: simple_switch_grpc or p4c not on PATH; measuring p4sim only")
    for name, start in targets:
        with start() as (address, info, device_config):
            figures = measure(
                address, info, device_config, args.single, args.batches, args.batch_size
            )
        results[name] = figures
        print(
            f"{name}: {figures['single_per_s']:,.0f} inserts/s one per request, "
            f"{figures['batched_per_s']:,.0f} inserts/s in batches of {args.batch_size} "
            f"(ratio {figures['ratio']:.1f})"
        )
    p4sim, bmv2 = results.get("p4sim"), results.get("bmv2")
    if isinstance(p4sim, dict) and isinstance(bmv2, dict):
        ratios = {
            key: round(p4sim[key] / bmv2[key], 4) for key in ("single_per_s", "batched_per_s")
        }
        results["p4sim_over_bmv2"] = ratios
        results["bmv2_build"] = (
            "behavioral-model 1.15.5 --disable-logging-macros --disable-elogger -O2 (fast build)"
        )
        print(
            f"p4sim/bmv2: {ratios['single_per_s']:.2f} one per request, "
            f"{ratios['batched_per_s']:.2f} batched"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
