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

Nearly every packet is one unicast copy or a drop, so `_pass` takes that
case straight from ingress to egress with one context object and no queues,
and skips blocks the program leaves empty; only clones, resubmission,
recirculation and multicast build the queues `_drain` works through.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable
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
        # a varbit value is (length, value)
        self.digests: list[tuple[str, tuple[int | tuple[int, int], ...]]] = []
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


# One copy of a packet on its way to egress: port, hdr, meta, sm, payload,
# length, truncation (a plain tuple: one is made per packet).
_Job = tuple[int, Any, Any, Any, bytes, int, int]
# A packet going back to ingress: data, port, instance type, meta, sm.
_Input = tuple[bytes, int, int, Any, Any]


class _Queues:
    """The work an uncommon packet spawns: egress copies (clones, multicast
    replicas) and passes back to ingress (resubmit, recirculate)."""

    __slots__ = ("inputs", "jobs")

    def __init__(self) -> None:
        self.jobs: deque[_Job] = deque()
        self.inputs: deque[_Input] = deque()


class V1Model:
    """Runs packets through a generated v1model pipeline."""

    def __init__(self, pipeline: Pipeline, namespace: dict[str, Any],
                 pre: PacketReplicationEngine, clock_ns: Callable[[], int],
                 digest_sink: list[tuple[str, tuple[int | tuple[int, int], ...]]]) -> None:
        f = pipeline.functions

        def block(role: str) -> Callable[..., Any] | None:
            return None if role in pipeline.empty_roles else namespace[f[role]]

        self.parser = namespace[f["parser"]]
        self.verify = block("verify_checksum")
        self.ingress = block("ingress")
        self.egress = block("egress")
        self.compute = block("compute_checksum")
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
        # Timestamps cost a clock subtraction per packet: only for programs
        # that read them.
        used = pipeline.fields_used
        self._ingress_ts = "f_ingress_global_timestamp" in used & self.has
        self._egress_ts = "f_egress_global_timestamp" in used & self.has
        self._enq_ts = "f_enq_timestamp" in used & self.has
        # Reused by every packet: the pipeline only reads and writes them
        # while one block runs, and processing is never re-entered.
        self._pkt_in = PacketIn(b"")
        self._pkt_out = PacketOut()

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
        """Every packet one input produces, in order."""
        out: list[tuple[int, bytes]] = []
        queues = self._pass(data, port, NORMAL, None, None, out, None)
        return out if queues is None else self._drain(queues, out)

    def _drain(self, queues: _Queues, out: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """Run what a packet spawned (copies to egress first, then each pass
        back to ingress with the copies it makes) until nothing is left."""
        jobs, inputs = queues.jobs, queues.inputs
        while jobs:
            self._egress(*jobs.popleft(), out, queues, None)
        passes = 1
        while inputs:
            passes += 1
            if passes > MAX_PASSES:
                log.warning("packet dropped after %d resubmit/recirculate passes", MAX_PASSES)
                break
            data, in_port, instance, meta, sm = inputs.popleft()
            self._pass(data, in_port, instance, meta, sm, out, queues)
            while jobs:
                self._egress(*jobs.popleft(), out, queues, None)
        return out

    def _pass(self, data: bytes, port: int, instance: int, meta: Any, sm: Any,
              out: list[tuple[int, bytes]], queues: _Queues | None) -> _Queues | None:
        """One pass through parser, checksum verification and ingress. The
        common outcome (one unicast copy or a drop, with no clone, resubmit or
        multicast) goes on to egress right here, without queues; otherwise
        what the pass spawns goes to `queues` (made if None), returned."""
        length = len(data)
        ctx = PacketCtx(self.clock_ns(), length, self.rng)
        hdr = self.H()
        if meta is None:
            meta, sm = self.M(), self.SM()
        sm.f_ingress_port = port
        sm.f_packet_length = length
        sm.f_instance_type = instance
        if self._ingress_ts:
            sm.f_ingress_global_timestamp = self._timestamp_us(ctx.now_ns)
        try:
            payload = ctx.payload = self._parse(ctx, data, hdr, meta, sm)
            # `exit` ends a control and the packet goes on (P4_16 12.5); a try
            # block costs nothing while nothing is raised.
            try:
                if self.verify is not None:
                    self.verify(ctx, hdr, meta)
            except ExitSignal:
                pass
            if self._checksum_error:
                sm.f_checksum_error = ctx.checksum_error
            try:
                if self.ingress is not None:
                    self.ingress(ctx, hdr, meta, sm)
            except ExitSignal:
                pass
        except AssertFailed as failed:
            log.warning("assertion failed at %s: packet dropped", failed)
            return queues
        if ctx.clone is not None or ctx.resubmit is not None or (self._mcast
                                                                   and sm.f_mcast_grp):
            if queues is None:
                queues = _Queues()
            self._after_ingress(ctx, data, port, hdr, meta, sm, payload, queues)
            return queues
        if ctx.digests:
            self.digests.extend(ctx.digests)
        egress_port = sm.f_egress_spec
        if egress_port == DROP_PORT:
            return queues
        sm.f_instance_type = NORMAL
        return self._egress(egress_port, hdr, meta, sm, payload, length, ctx.truncate, out,
                            queues, ctx)

    # ---------------------------------------------------------------- ingress

    def _parse(self, ctx: PacketCtx, data: bytes, hdr: Any, meta: Any, sm: Any) -> bytes:
        pkt = self._pkt_in
        pkt.data = data
        pkt.off = 0
        err = self.parser(ctx, pkt, hdr, meta, sm)
        if self._parser_error:
            sm.f_parser_error = err
        return data[pkt.off:]

    def _after_ingress(self, ctx: PacketCtx, data: bytes, port: int, hdr: Any, meta: Any,
                       sm: Any, payload: bytes, queues: _Queues) -> None:
        egress_spec = sm.f_egress_spec
        mgid = sm.f_mcast_grp if self._mcast else 0
        if ctx.clone is not None:
            session_id, fl = ctx.clone
            self._clone_ingress(data, port, session_id, fl, meta, sm, queues.jobs)
        self.digests.extend(ctx.digests)
        if ctx.resubmit is not None:
            new_meta, new_sm = self.M(), self.SM()
            self._preserve(ctx.resubmit[0], meta, sm, new_meta, new_sm)
            queues.inputs.append((data, port, RESUBMIT, new_meta, new_sm))
            return
        if mgid:
            sm.f_instance_type = REPLICATION
            self._multicast(mgid, hdr, meta, sm, payload, len(data), queues.jobs, ctx.truncate)
            return
        if egress_spec == DROP_PORT:
            return
        sm.f_instance_type = NORMAL
        queues.jobs.append((egress_spec, hdr, meta, sm, payload, len(data), ctx.truncate))

    def _clone_ingress(self, data: bytes, port: int, session_id: int, fl: int, meta: Any,
                       sm: Any, jobs: deque[_Job]) -> None:
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
            jobs.append((replica_port, hdr, clean_meta, clean_sm, payload, len(data),
                         session.packet_length_bytes))

    def _multicast(self, mgid: int, hdr: Any, meta: Any, sm: Any, payload: bytes,
                   length: int, jobs: deque[_Job], truncate: int = 0) -> None:
        for port, rid in self.pre.replicate(mgid):
            copy_sm = sm.copy()
            if "f_egress_rid" in self.has:
                copy_sm.f_egress_rid = rid
            jobs.append((port, hdr.copy(), meta.copy(), copy_sm, payload, length, truncate))

    # ----------------------------------------------------------------- egress

    def _egress(self, port: int, hdr: Any, meta: Any, sm: Any, payload: bytes, length: int,
                job_truncate: int, out: list[tuple[int, bytes]], queues: _Queues | None,
                ctx: PacketCtx | None) -> _Queues | None:
        """Egress, checksum update and deparser for one copy (the fields of a
        `_Job`); appends what leaves to `out`. Clones and recirculation go
        to `queues` (made if None), which is returned. `ctx`, when given, is
        the ingress context of this copy, reused rather than reallocated."""
        now = self.clock_ns()
        if ctx is None:
            ctx = PacketCtx(now, length, self.rng)
            ctx.payload = payload
        else:
            ctx.now_ns = now
            ctx.clone = ctx.recirculate = None
            ctx.truncate = 0  # digests taken in egress are never learned, as in bmv2
        sm.f_egress_port = port
        # simple_switch sets egress_spec to drop_port + 1 (0 in 9 bits) so that
        # only an explicit drop in egress drops the packet.
        sm.f_egress_spec = (DROP_PORT + 1) & 0x1FF
        sm.f_packet_length = length
        if self._egress_ts or self._enq_ts:
            us = self._timestamp_us(now)
            if self._egress_ts:
                sm.f_egress_global_timestamp = us
            if self._enq_ts:
                sm.f_enq_timestamp = us & 0xFFFFFFFF
        try:
            try:
                if self.egress is not None:
                    self.egress(ctx, hdr, meta, sm)
            except ExitSignal:
                pass
        except AssertFailed as failed:
            log.warning("assertion failed at %s: packet dropped", failed)
            return queues
        if ctx.clone is not None:
            if queues is None:
                queues = _Queues()
            self._clone_egress(ctx.clone, hdr, meta, sm, payload, length, queues.jobs)
        if sm.f_egress_spec == DROP_PORT:
            return queues
        try:
            try:
                if self.compute is not None:
                    self.compute(ctx, hdr, meta)
            except ExitSignal:
                pass
        except AssertFailed as failed:
            log.warning("assertion failed at %s: packet dropped", failed)
            return queues
        pkt_out = self._pkt_out
        parts = pkt_out.parts
        parts.clear()
        self.deparser(ctx, pkt_out, hdr)
        packet = b"".join(parts) + payload
        if ctx.recirculate is not None:
            new_meta, new_sm = self.M(), self.SM()
            self._preserve(ctx.recirculate[0], meta, sm, new_meta, new_sm)
            if queues is None:
                queues = _Queues()
            queues.inputs.append((packet, 0, RECIRC, new_meta, new_sm))
            return queues
        for limit in (job_truncate, ctx.truncate):
            if limit and len(packet) > limit:
                packet = packet[:limit]
        out.append((port, packet))
        return queues

    def _clone_egress(self, clone: tuple[int, int], hdr: Any, meta: Any, sm: Any,
                      payload: bytes, length: int, jobs: deque[_Job]) -> None:
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
            jobs.append((port, hdr.copy(), new_meta, new_sm, payload, length,
                         session.packet_length_bytes))
