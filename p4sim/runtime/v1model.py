"""The v1model architecture: how one input packet moves through parser,
checksum verification, ingress, the traffic manager, egress, checksum update
and deparser, with bmv2 simple_switch's observable behaviour.

The end-of-pipeline order follows simple_switch.cpp (`ingress_thread`,
`egress_thread`): after ingress, an ingress clone is made first (re-parsing
the original bytes, keeping only the preserved field list), then digests are
learned, then resubmit wins over everything else, then multicast replaces the
original, then `egress_spec == 511` drops, else the packet is unicast. After
egress, an egress clone (a copy of the packet's headers with metadata reset
except the field list) is made before the drop check; a recirculated packet
is deparsed and goes back to ingress instead of out.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from p4sim.passes.codegen import Pipeline
from p4sim.runtime.pre import PacketReplicationEngine
from p4sim.runtime.support import AssertFailed, ExitSignal, PacketIn, PacketOut

log = logging.getLogger("p4sim.v1model")

DROP_PORT = 511
# standard_metadata.instance_type values, as simple_switch defines them.
NORMAL, INGRESS_CLONE, EGRESS_CLONE, COALESCED, RECIRC, REPLICATION, RESUBMIT = range(7)
MAX_PASSES = 1024  # resubmit/recirculate loop guard per input packet (bmv2 has none)


class PacketCtx:
    """Per-packet state the generated code reads and sets besides the PHV."""

    __slots__ = ("checksum_error", "clone", "digests", "length", "now_ns", "payload",
                 "recirculate", "resubmit", "rng", "truncate")

    def __init__(self, now_ns: int, length: int, rng: random.Random) -> None:
        self.now_ns = now_ns
        self.length = length
        self.digests: list[tuple[str, tuple[int, ...]]] = []
        self.clone: tuple[int, int] | None = None
        self.resubmit: tuple[int] | None = None
        self.recirculate: tuple[int] | None = None
        self.truncate = 0
        self.checksum_error = 0
        self.payload = b""
        self.rng = rng

    def random(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi) if lo <= hi else lo

    @staticmethod
    def log_msg(message: str, values: tuple[Any, ...]) -> None:
        if log.isEnabledFor(logging.DEBUG):
            text = message
            for v in values:
                text = text.replace("{}", str(v), 1)
            log.debug("log_msg: %s", text)


@dataclass(slots=True)
class _EgressJob:
    port: int
    hdr: Any
    meta: Any
    sm: Any
    payload: bytes
    length: int
    truncate: int = 0


def _run(block: Callable[..., Any], *args: Any) -> None:
    """Run a control; `exit` ends it and the packet goes on (P4_16 12.5)."""
    try:  # noqa: SIM105 - try/except costs nothing when nothing is raised
        block(*args)
    except ExitSignal:
        pass


def _get(obj: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        obj = getattr(obj, "f_" + name)
    return obj


def _set(obj: Any, path: tuple[str, ...], value: Any) -> None:
    for name in path[:-1]:
        obj = getattr(obj, "f_" + name)
    current = getattr(obj, "f_" + path[-1])
    if hasattr(current, "assign"):
        current.assign(value)
    else:
        setattr(obj, "f_" + path[-1], value)


class V1Model:
    """Runs packets through a generated v1model pipeline."""

    def __init__(self, pipeline: Pipeline, namespace: dict[str, Any],
                 pre: PacketReplicationEngine, clock_ns: Callable[[], int],
                 digest_sink: list[tuple[str, tuple[int, ...]]]) -> None:
        f = pipeline.functions
        self.parser = namespace[f["parser"]]
        self.verify = namespace[f["verify_checksum"]]
        self.ingress = namespace[f["ingress"]]
        self.egress = namespace[f["egress"]]
        self.compute = namespace[f["compute_checksum"]]
        self.deparser = namespace[f["deparser"]]
        self.H = namespace[pipeline.headers_class]
        self.M = namespace[pipeline.metadata_class]
        self.SM = namespace[pipeline.standard_metadata_class]
        self.field_lists = pipeline.field_lists
        self.pre = pre
        self.clock_ns = clock_ns
        self.start_ns = clock_ns()
        self.digests = digest_sink
        self.rng = random.Random(0)
        self.has = set(self.SM.__slots__)
        self._parser_error = "f_parser_error" in self.has
        self._checksum_error = "f_checksum_error" in self.has
        self._mcast = "f_mcast_grp" in self.has
        self._ingress_ts = "f_ingress_global_timestamp" in self.has
        self._egress_ts = "f_egress_global_timestamp" in self.has
        self._enq_ts = "f_enq_timestamp" in self.has

    def _timestamp_us(self, now_ns: int) -> int:
        # bmv2 timestamps are microseconds since the switch started.
        return ((now_ns - self.start_ns) // 1000) & 0xFFFFFFFFFFFF

    def _preserve(self, index: int, meta: Any, sm: Any, new_meta: Any, new_sm: Any) -> None:
        for root, path in self.field_lists.get(index, ()):
            src, dst = (meta, new_meta) if root == 0 else (sm, new_sm)
            if not path:  # the whole struct, e.g. `resubmit(meta)`
                dst.assign(src)
                continue
            value = _get(src, path)
            _set(dst, path, value.copy() if hasattr(value, "copy") else value)

    def process(self, port: int, data: bytes) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        inputs: deque[tuple[bytes, int, int, Any, Any]] = deque()
        egress_jobs: deque[_EgressJob] = deque()
        self._ingress(data, port, NORMAL, None, None, inputs, egress_jobs)
        while egress_jobs:
            self._egress(egress_jobs.popleft(), egress_jobs, inputs, out)
        passes = 1
        while inputs:
            passes += 1
            if passes > MAX_PASSES:
                log.warning("packet dropped after %d resubmit/recirculate passes", MAX_PASSES)
                break
            data, in_port, instance, meta, sm = inputs.popleft()
            self._ingress(data, in_port, instance, meta, sm, inputs, egress_jobs)
            while egress_jobs:
                self._egress(egress_jobs.popleft(), egress_jobs, inputs, out)
        return out

    # ---------------------------------------------------------------- ingress

    def _parse(self, ctx: PacketCtx, data: bytes, hdr: Any, meta: Any, sm: Any) -> bytes:
        pkt = PacketIn(data)
        err = self.parser(ctx, pkt, hdr, meta, sm)
        if self._parser_error:
            sm.f_parser_error = err
        return data[pkt.off:]

    def _ingress(self, data: bytes, port: int, instance: int, meta: Any, sm: Any,
                 inputs: deque[tuple[bytes, int, int, Any, Any]],
                 egress_jobs: deque[_EgressJob]) -> None:
        now = self.clock_ns()
        ctx = PacketCtx(now, len(data), self.rng)
        hdr = self.H()
        if meta is None:
            meta = self.M()
        if sm is None:
            sm = self.SM()
        sm.f_ingress_port = port
        sm.f_packet_length = len(data)
        sm.f_instance_type = instance
        if self._ingress_ts:
            sm.f_ingress_global_timestamp = ((now - self.start_ns) // 1000) & 0xFFFFFFFFFFFF
        try:
            payload = self._parse(ctx, data, hdr, meta, sm)
            ctx.payload = payload
            _run(self.verify, ctx, hdr, meta)
            if self._checksum_error:
                sm.f_checksum_error = ctx.checksum_error
            _run(self.ingress, ctx, hdr, meta, sm)
        except AssertFailed as failed:
            log.warning("assertion failed at %s: packet dropped", failed)
            return
        egress_spec = sm.f_egress_spec
        mgid = sm.f_mcast_grp if self._mcast else 0
        if ctx.clone is not None:
            session_id, fl = ctx.clone
            self._clone_ingress(data, port, session_id, fl, meta, sm, egress_jobs)
        self.digests.extend(ctx.digests)
        if ctx.resubmit is not None:
            new_meta, new_sm = self.M(), self.SM()
            self._preserve(ctx.resubmit[0], meta, sm, new_meta, new_sm)
            inputs.append((data, port, RESUBMIT, new_meta, new_sm))
            return
        if mgid:
            sm.f_instance_type = REPLICATION
            self._multicast(mgid, hdr, meta, sm, payload, len(data), egress_jobs, ctx.truncate)
            return
        if egress_spec == DROP_PORT:
            return
        sm.f_instance_type = NORMAL
        egress_jobs.append(_EgressJob(egress_spec, hdr, meta, sm, payload, len(data),
                                      ctx.truncate))

    def _clone_ingress(self, data: bytes, port: int, session_id: int, fl: int, meta: Any,
                       sm: Any, egress_jobs: deque[_EgressJob]) -> None:
        session = self.pre.session(session_id)
        if session is None:
            return
        for replica_port, rid in session.replicas:
            # bmv2 parses the original packet again for an ingress clone, keeping
            # the ingress port and the preserved fields only.
            ctx = PacketCtx(self.clock_ns(), len(data), self.rng)
            hdr, new_meta, new_sm = self.H(), self.M(), self.SM()
            new_sm.f_ingress_port = port
            try:
                payload = self._parse(ctx, data, hdr, new_meta, new_sm)
            except AssertFailed:
                return
            clean_meta, clean_sm = self.M(), self.SM()
            self._preserve(fl, meta, sm, clean_meta, clean_sm)
            clean_sm.f_instance_type = INGRESS_CLONE
            clean_sm.f_ingress_port = port
            clean_sm.f_packet_length = len(data)
            if "f_egress_rid" in self.has:
                clean_sm.f_egress_rid = rid
            egress_jobs.append(_EgressJob(replica_port, hdr, clean_meta, clean_sm, payload,
                                          len(data), session.packet_length_bytes))

    def _multicast(self, mgid: int, hdr: Any, meta: Any, sm: Any, payload: bytes,
                   length: int, egress_jobs: deque[_EgressJob], truncate: int = 0) -> None:
        for port, rid in self.pre.replicate(mgid):
            copy_sm = sm.copy()
            if "f_egress_rid" in self.has:
                copy_sm.f_egress_rid = rid
            egress_jobs.append(_EgressJob(port, hdr.copy(), meta.copy(), copy_sm, payload,
                                          length, truncate))

    # ----------------------------------------------------------------- egress

    def _egress(self, job: _EgressJob, egress_jobs: deque[_EgressJob],
                inputs: deque[tuple[bytes, int, int, Any, Any]],
                out: list[tuple[int, bytes]]) -> None:
        now = self.clock_ns()
        ctx = PacketCtx(now, job.length, self.rng)
        ctx.payload = job.payload
        hdr, meta, sm = job.hdr, job.meta, job.sm
        sm.f_egress_port = job.port
        # simple_switch sets egress_spec to drop_port + 1 (0 in 9 bits) so that
        # only an explicit drop in egress drops the packet.
        sm.f_egress_spec = (DROP_PORT + 1) & 0x1FF
        sm.f_packet_length = job.length
        if self._egress_ts or self._enq_ts:
            us = self._timestamp_us(now)
            if self._egress_ts:
                sm.f_egress_global_timestamp = us
            if self._enq_ts:
                sm.f_enq_timestamp = us & 0xFFFFFFFF
        try:
            _run(self.egress, ctx, hdr, meta, sm)
        except AssertFailed as failed:
            log.warning("assertion failed at %s: packet dropped", failed)
            return
        if ctx.clone is not None:
            self._clone_egress(ctx.clone, hdr, meta, sm, job, egress_jobs)
        if sm.f_egress_spec == DROP_PORT:
            return
        try:
            _run(self.compute, ctx, hdr, meta)
        except AssertFailed as failed:
            log.warning("assertion failed at %s: packet dropped", failed)
            return
        pkt_out = PacketOut()
        self.deparser(ctx, pkt_out, hdr)
        packet = b"".join(pkt_out.parts) + job.payload
        if ctx.recirculate is not None:
            new_meta, new_sm = self.M(), self.SM()
            self._preserve(ctx.recirculate[0], meta, sm, new_meta, new_sm)
            inputs.append((packet, 0, RECIRC, new_meta, new_sm))
            return
        for limit in (job.truncate, ctx.truncate):
            if limit and len(packet) > limit:
                packet = packet[:limit]
        out.append((job.port, packet))

    def _clone_egress(self, clone: tuple[int, int], hdr: Any, meta: Any, sm: Any,
                      job: _EgressJob, egress_jobs: deque[_EgressJob]) -> None:
        session_id, fl = clone
        session = self.pre.session(session_id)
        if session is None:
            return
        for port, rid in session.replicas:
            new_meta, new_sm = self.M(), self.SM()
            self._preserve(fl, meta, sm, new_meta, new_sm)
            new_sm.f_instance_type = EGRESS_CLONE
            if "f_egress_rid" in self.has:
                new_sm.f_egress_rid = rid
            egress_jobs.append(_EgressJob(port, hdr.copy(), new_meta, new_sm, job.payload,
                                          job.length, session.packet_length_bytes))
