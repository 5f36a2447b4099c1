"""Read RPC: the entities a request's wildcards and filters select.

An id of 0 selects every object of the kind, a missing index every cell, an
empty match every entry of the table (optionally filtered by priority), and
`is_default_action` the default entries. Direct counters, meters and
time-since-last-hit come back only when the request asks for them, as the
spec describes. All requested entities are checked before the first one is
produced, so a bad id fails the call instead of truncating its answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from finsy.proto import p4r

from p4sim.errors import ControlPlaneError
from p4sim.runtime.tables import TableEntry
from p4sim.server.action_profiles import encode_table_action, plan_group_read, plan_member_read
from p4sim.server.codec import encode
from p4sim.server.digests import DigestEngine
from p4sim.server.p4info_index import TableRef
from p4sim.server.pipeline import Pipeline
from p4sim.server.pre import read_pre
from p4sim.server.translate import check_priority, decode_matches, encode_matches
from p4sim.server.valuesets import read_value_set

Producer = Callable[[], Iterator[p4r.Entity]]


class Reader:
    def __init__(
        self,
        pipeline: Pipeline,
        digests: DigestEngine,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.pipeline = pipeline
        self.index = pipeline.index
        self.digests = digests
        self.clock = clock_ns

    def plan(self, entities: Iterable[p4r.Entity]) -> list[Producer]:
        """Validate every requested entity; the producers yield the answer."""
        return [self._plan_one(e) for e in entities]

    def _plan_one(self, entity: p4r.Entity) -> Producer:
        which = entity.WhichOneof("entity")
        if which == "table_entry":
            return self._table_entries(entity.table_entry)
        if which == "counter_entry":
            return self._counter_entries(entity.counter_entry)
        if which == "direct_counter_entry":
            return self._direct_entries(entity.direct_counter_entry.table_entry, "counter")
        if which == "meter_entry":
            return self._meter_entries(entity.meter_entry)
        if which == "direct_meter_entry":
            return self._direct_entries(entity.direct_meter_entry.table_entry, "meter")
        if which == "register_entry":
            return self._register_entries(entity.register_entry)
        if which == "packet_replication_engine_entry":
            pre = self.pipeline.switch.pre
            request = entity.packet_replication_engine_entry
            if request.WhichOneof("type") is None:
                raise ControlPlaneError(
                    "INVALID_ARGUMENT", "packet_replication_engine_entry is empty"
                )
            return lambda: read_pre(pre, request)
        if which == "digest_entry":
            return self._digest_entries(entity.digest_entry)
        if which == "value_set_entry":
            return self._value_set_entries(entity.value_set_entry)
        if which == "action_profile_member":
            return plan_member_read(self.pipeline, entity.action_profile_member)
        if which == "action_profile_group":
            return plan_group_read(self.pipeline, entity.action_profile_group)
        if which is None:
            raise ControlPlaneError("INVALID_ARGUMENT", "read request entity is empty")
        raise ControlPlaneError("UNIMPLEMENTED", f"reading {which} is not supported by p4sim")

    # -- tables ----------------------------------------------------------------

    def _table_refs(self, table_id: int) -> list[TableRef]:
        if table_id:
            return [self.index.table(table_id)]
        return list(self.index.tables.values())

    def _selected(
        self, msg: p4r.TableEntry
    ) -> Callable[[], Iterator[tuple[TableRef, TableEntry, bool]]]:
        """(table, entry, is_default) triples the filter of `msg` selects."""
        refs = self._table_refs(msg.table_id)
        tables = self.pipeline.switch.tables
        if msg.is_default_action:
            return lambda: ((r, tables[r.name].default, True) for r in refs)
        if msg.match:
            if not msg.table_id:
                raise ControlPlaneError("INVALID_ARGUMENT", "a match filter needs a table_id")
            ref = refs[0]
            matches = decode_matches(msg, ref)
            priority = check_priority(msg, ref)

            def one() -> Iterator[tuple[TableRef, TableEntry, bool]]:
                entry = tables[ref.name].get(matches, priority)
                if entry is not None:
                    yield ref, entry, False

            return one
        priority = msg.priority

        def scan() -> Iterator[tuple[TableRef, TableEntry, bool]]:
            for ref in refs:
                for entry in tables[ref.name].entries():
                    if not priority or entry.priority == priority:
                        yield ref, entry, False

        return scan

    def _table_entries(self, msg: p4r.TableEntry) -> Producer:
        selected = self._selected(msg)
        counters = msg.HasField("counter_data")
        meters = msg.HasField("meter_config")
        ttl = msg.HasField("time_since_last_hit")

        def produce() -> Iterator[p4r.Entity]:
            now = self.clock()
            for ref, entry, is_default in selected():
                out = p4r.Entity()
                te = out.table_entry
                self._key(ref, entry, is_default, te)
                encode_table_action(self.pipeline, ref, entry.action, te.action)
                te.is_const = ref.const_default if is_default else ref.is_const or entry.is_const
                if entry.metadata:
                    te.metadata = entry.metadata
                if entry.idle_timeout_ns:
                    te.idle_timeout_ns = entry.idle_timeout_ns
                if counters and ref.direct_counter_id:
                    te.counter_data.packet_count = entry.packets
                    te.counter_data.byte_count = entry.bytes
                if meters and ref.direct_meter_id and entry.meter is not None:
                    te.meter_config.CopyFrom(meter_config(entry.meter))
                if ttl and ref.supports_timeout and not is_default:
                    te.time_since_last_hit.elapsed_ns = max(0, now - entry.last_hit_ns)
                yield out

        return produce

    def _key(self, ref: TableRef, entry: TableEntry, is_default: bool, te: p4r.TableEntry) -> None:
        te.table_id = ref.id
        if is_default:
            te.is_default_action = True
            return
        encode_matches(entry.matches, ref, te)
        te.priority = entry.priority

    def _direct_entries(self, msg: p4r.TableEntry, kind: str) -> Producer:
        selected = self._selected(msg)

        def produce() -> Iterator[p4r.Entity]:
            for ref, entry, is_default in selected():
                out = p4r.Entity()
                if kind == "counter":
                    if not ref.direct_counter_id:
                        continue
                    dc = out.direct_counter_entry
                    self._key(ref, entry, is_default, dc.table_entry)
                    dc.data.packet_count = entry.packets
                    dc.data.byte_count = entry.bytes
                else:
                    if not ref.direct_meter_id:
                        continue
                    dm = out.direct_meter_entry
                    self._key(ref, entry, is_default, dm.table_entry)
                    if entry.meter is not None:
                        dm.config.CopyFrom(meter_config(entry.meter))
                yield out

        if msg.table_id:
            ref = self.index.table(msg.table_id)
            has = ref.direct_counter_id if kind == "counter" else ref.direct_meter_id
            if not has:
                raise ControlPlaneError(
                    "INVALID_ARGUMENT", f"table {ref.name} has no direct {kind}"
                )
        return produce

    # -- externs -----------------------------------------------------------------

    @staticmethod
    def _cells(msg: Any, size: int, what: str) -> range:
        if not msg.HasField("index"):
            return range(size)
        i = msg.index.index
        if not 0 <= i < size:
            raise ControlPlaneError("OUT_OF_RANGE", f"{what}: index {i} outside 0..{size - 1}")
        return range(i, i + 1)

    def _counter_entries(self, msg: p4r.CounterEntry) -> Producer:
        if msg.counter_id:
            refs = [self.index.counters.get(msg.counter_id)]
            if refs[0] is None:
                raise ControlPlaneError(
                    "NOT_FOUND", f"counter id {msg.counter_id} is not in the P4Info"
                )
        else:
            refs = list(self.index.counters.values())
        plans = [(r, self._cells(msg, r.size, f"counter {r.name}")) for r in refs if r is not None]
        counters = self.pipeline.switch.counters

        def produce() -> Iterator[p4r.Entity]:
            for ref, cells in plans:
                array = counters[ref.name]
                for i in cells:
                    packets, nbytes = array.read(i)
                    out = p4r.Entity()
                    ce = out.counter_entry
                    ce.counter_id = ref.id
                    ce.index.index = i
                    ce.data.packet_count = packets
                    ce.data.byte_count = nbytes
                    yield out

        return produce

    def _meter_entries(self, msg: p4r.MeterEntry) -> Producer:
        if msg.meter_id:
            refs = [self.index.meters.get(msg.meter_id)]
            if refs[0] is None:
                raise ControlPlaneError(
                    "NOT_FOUND", f"meter id {msg.meter_id} is not in the P4Info"
                )
        else:
            refs = list(self.index.meters.values())
        plans = [(r, self._cells(msg, r.size, f"meter {r.name}")) for r in refs if r is not None]
        meters = self.pipeline.switch.meters

        def produce() -> Iterator[p4r.Entity]:
            for ref, cells in plans:
                array = meters[ref.name]
                for i in cells:
                    out = p4r.Entity()
                    me = out.meter_entry
                    me.meter_id = ref.id
                    me.index.index = i
                    config = array.config(i)
                    if config is not None:
                        cir, cburst, pir, pburst = config
                        me.config.CopyFrom(
                            p4r.MeterConfig(cir=cir, cburst=cburst, pir=pir, pburst=pburst)
                        )
                    yield out

        return produce

    def _register_entries(self, msg: p4r.RegisterEntry) -> Producer:
        if msg.register_id:
            refs = [self.index.registers.get(msg.register_id)]
            if refs[0] is None:
                raise ControlPlaneError(
                    "NOT_FOUND", f"register id {msg.register_id} is not in the P4Info"
                )
        else:
            refs = list(self.index.registers.values())
        plans = [(r, self._cells(msg, r.size, f"register {r.name}")) for r in refs if r is not None]
        registers = self.pipeline.switch.registers

        def produce() -> Iterator[p4r.Entity]:
            for ref, cells in plans:
                array = registers[ref.name]
                for i in cells:
                    out = p4r.Entity()
                    re = out.register_entry
                    re.register_id = ref.id
                    re.index.index = i
                    re.data.bitstring = encode(array.read(i))
                    yield out

        return produce

    def _value_set_entries(self, msg: p4r.ValueSetEntry) -> Producer:
        if msg.members:
            raise ControlPlaneError("INVALID_ARGUMENT", "a value set read takes no members")
        if msg.value_set_id:
            info = self.index.value_sets.get(msg.value_set_id)
            if info is None:
                raise ControlPlaneError(
                    "NOT_FOUND", f"value set id {msg.value_set_id} is not in the P4Info"
                )
            infos = [info]
        else:
            infos = list(self.index.value_sets.values())
        value_sets = self.pipeline.switch.value_sets

        def produce() -> Iterator[p4r.Entity]:
            for info in infos:
                yield from read_value_set(value_sets[info.preamble.name], info)

        return produce

    def _digest_entries(self, msg: p4r.DigestEntry) -> Producer:
        if msg.digest_id and msg.digest_id not in self.index.digests:
            raise ControlPlaneError("NOT_FOUND", f"digest id {msg.digest_id} is not in the P4Info")
        ids = [msg.digest_id] if msg.digest_id else self.digests.configured()

        def produce() -> Iterator[p4r.Entity]:
            for digest_id in ids:
                config = self.digests.config(digest_id)
                if config is None:
                    continue
                out = p4r.Entity()
                out.digest_entry.digest_id = digest_id
                out.digest_entry.config.CopyFrom(config)
                yield out

        return produce


def meter_config(meter: Any) -> p4r.MeterConfig:
    """The configuration a direct meter was written with."""
    return p4r.MeterConfig(cir=meter.cir, cburst=meter.cburst, pir=meter.pir, pburst=meter.pburst)
