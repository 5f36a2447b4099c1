"""Write RPC: apply a batch of updates with the atomicity the client asked for.

Each update is translated (ids -> names, byte strings -> ints, validated) and
applied to the switch. Every applied change pushes its inverse on an undo
log when the batch must be all-or-nothing (ROLLBACK_ON_ERROR,
DATAPLANE_ATOMIC): on the first error the log runs backwards and the rest of
the batch is not attempted. The server handles a batch in one event-loop
callback, so no packet is processed between two updates of a batch; that is
what makes the undo log enough for DATAPLANE_ATOMIC as well. With
CONTINUE_ON_ERROR every update is attempted and no log is kept, so large
batches stay cheap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from functools import partial

from finsy.proto import p4r

from p4sim.errors import ControlPlaneError
from p4sim.runtime.action_profiles import IndirectTable
from p4sim.runtime.externs import MeterArray
from p4sim.runtime.meters import TwoRateThreeColor
from p4sim.runtime.tables import MatchTable, TableEntry
from p4sim.server.action_profiles import (
    collect_oneshots,
    indirect_action,
    write_group,
    write_member,
)
from p4sim.server.codec import decode
from p4sim.server.digests import DigestEngine
from p4sim.server.idle import IdleTimers
from p4sim.server.p4info_index import TableRef
from p4sim.server.pipeline import Pipeline
from p4sim.server.pre import apply_pre_update
from p4sim.server.translate import (
    check_priority,
    decode_entry,
    decode_matches,
    decode_table_action,
)
from p4sim.server.valuesets import write_value_set

Undo = Callable[[], None]
INSERT = p4r.Update.INSERT
MODIFY = p4r.Update.MODIFY
DELETE = p4r.Update.DELETE
_ATOMIC = (p4r.WriteRequest.ROLLBACK_ON_ERROR, p4r.WriteRequest.DATAPLANE_ATOMIC)


def _bad(message: str) -> ControlPlaneError:
    return ControlPlaneError("INVALID_ARGUMENT", message)


class Writer:
    def __init__(self, pipeline: Pipeline, idle: IdleTimers, digests: DigestEngine) -> None:
        self.pipeline = pipeline
        self.idle = idle
        self.digests = digests
        self._undo: list[Undo] | None = None

    def apply(
        self, updates: Sequence[p4r.Update], atomicity: int
    ) -> list[ControlPlaneError | None]:
        """Per-update outcomes, in order (None: applied)."""
        if atomicity not in _ATOMIC:
            if atomicity != p4r.WriteRequest.CONTINUE_ON_ERROR:
                raise _bad(f"unknown atomicity {atomicity}")
            try:
                return [self._one(u) for u in updates]
            finally:
                collect_oneshots(self.pipeline.switch)
        self._undo = []
        results: list[ControlPlaneError | None] = []
        try:
            for position, update in enumerate(updates):
                error = self._one(update)
                if error is not None:
                    for undo in reversed(self._undo):
                        undo()
                    aborted = ControlPlaneError(
                        "ABORTED", f"batch rolled back: update {position} failed"
                    )
                    skipped = ControlPlaneError(
                        "ABORTED", "not attempted: an earlier update failed"
                    )
                    outcome: list[ControlPlaneError | None] = [aborted] * position
                    return outcome + [error] + [skipped] * (len(updates) - position - 1)
                results.append(None)
            return results
        finally:
            self._undo = None
            collect_oneshots(self.pipeline.switch)

    def _one(self, update: p4r.Update) -> ControlPlaneError | None:
        try:
            self._dispatch(update)
        except ControlPlaneError as error:
            return error
        return None

    def _dispatch(self, update: p4r.Update) -> None:
        kind = update.type
        if kind not in (INSERT, MODIFY, DELETE):
            raise _bad(f"update type {kind} is not INSERT, MODIFY or DELETE")
        entity = update.entity
        which = entity.WhichOneof("entity")
        if which == "table_entry":
            self._table_entry(kind, entity.table_entry)
        elif which == "counter_entry":
            self._modify_only(kind, "counter_entry")
            self._counter_entry(entity.counter_entry)
        elif which == "direct_counter_entry":
            self._modify_only(kind, "direct_counter_entry")
            self._direct_counter_entry(entity.direct_counter_entry)
        elif which == "meter_entry":
            self._modify_only(kind, "meter_entry")
            self._meter_entry(entity.meter_entry)
        elif which == "direct_meter_entry":
            self._modify_only(kind, "direct_meter_entry")
            self._direct_meter_entry(entity.direct_meter_entry)
        elif which == "register_entry":
            self._modify_only(kind, "register_entry")
            self._register_entry(entity.register_entry)
        elif which == "packet_replication_engine_entry":
            undo = apply_pre_update(
                self.pipeline.switch.pre, kind, entity.packet_replication_engine_entry
            )
            self._log(undo)
        elif which == "digest_entry":
            self._digest_entry(kind, entity.digest_entry)
        elif which == "value_set_entry":
            self._modify_only(kind, "value_set_entry")
            self._value_set_entry(entity.value_set_entry)
        elif which == "action_profile_member":
            self._log(write_member(self.pipeline, kind, entity.action_profile_member))
        elif which == "action_profile_group":
            self._log(write_group(self.pipeline, kind, entity.action_profile_group))
        elif which is None:
            raise _bad("update without an entity")
        else:
            raise ControlPlaneError("UNIMPLEMENTED", f"{which} is not supported by p4sim")

    @staticmethod
    def _modify_only(kind: int, what: str) -> None:
        if kind != MODIFY:
            raise _bad(f"{what}: only MODIFY is allowed")

    def _log(self, undo: Undo) -> None:
        if self._undo is not None:
            self._undo.append(undo)

    # -- table entries ---------------------------------------------------

    def _table(self, ref: TableRef) -> MatchTable:
        return self.pipeline.switch.tables[ref.name]

    def _table_entry(self, kind: int, msg: p4r.TableEntry) -> None:
        ref = self.pipeline.index.table(msg.table_id)
        if msg.is_default_action:
            self._default_entry(kind, msg, ref)
            return
        if ref.is_const:
            raise ControlPlaneError("PERMISSION_DENIED", f"table {ref.name} has const entries")
        table = self._table(ref)
        indirect = partial(indirect_action, self.pipeline, ref)
        if kind == INSERT:
            entry = decode_entry(msg, ref, self.pipeline.index, indirect)
            self._set_direct_resources(msg, ref, entry)
            table.insert(entry)
            if entry.idle_timeout_ns:
                self.idle.arm(table, ref.name, entry)
            if self._undo is not None:
                self._undo.append(lambda: self._remove(table, entry))
        elif kind == MODIFY:
            entry = decode_entry(msg, ref, self.pipeline.index, indirect)
            old = table.get(entry.matches, entry.priority)
            if old is None:
                raise ControlPlaneError("NOT_FOUND", f"table {ref.name}: no entry with this key")
            saved = dataclasses.replace(old) if self._undo is not None else None
            stored = table.modify(entry)
            self._set_direct_resources(msg, ref, stored)
            self.idle.arm(table, ref.name, stored)
            if saved is not None and self._undo is not None:
                self._undo.append(lambda: self._restore(table, ref, stored, saved))
        else:
            matches = decode_matches(msg, ref)
            priority = check_priority(msg, ref)
            old = table.get(matches, priority)
            if old is None:
                raise ControlPlaneError("NOT_FOUND", f"table {ref.name}: no entry with this key")
            self._remove(table, old)
            if self._undo is not None:
                self._undo.append(lambda: self._reinsert(table, ref, old))

    def _remove(self, table: MatchTable, entry: TableEntry) -> None:
        self.idle.disarm(entry)
        table.delete(entry.matches, entry.priority)

    def _reinsert(self, table: MatchTable, ref: TableRef, entry: TableEntry) -> None:
        table.insert(entry)
        self.idle.arm(table, ref.name, entry)

    def _restore(
        self, table: MatchTable, ref: TableRef, stored: TableEntry, saved: TableEntry
    ) -> None:
        """Undo a MODIFY: the stored object stays (the pipeline holds it)."""
        if isinstance(table, IndirectTable):
            table.rebind(stored, saved.action)  # keeps the profile's reference counts
        else:
            stored.action = saved.action
        stored.idle_timeout_ns = saved.idle_timeout_ns
        stored.metadata = saved.metadata
        stored.meter = saved.meter
        stored.packets, stored.bytes = saved.packets, saved.bytes
        self.idle.arm(table, ref.name, stored)
        stored.last_hit_ns = saved.last_hit_ns

    def _set_direct_resources(self, msg: p4r.TableEntry, ref: TableRef, entry: TableEntry) -> None:
        """Counter and meter values given with an entry. On MODIFY (`entry`
        is then the stored one) counters not given stay, and a meter not
        given goes back to its default (all green), as the spec says."""
        if msg.HasField("counter_data"):
            entry.packets = _non_negative(msg.counter_data.packet_count, ref.name, "packet_count")
            entry.bytes = _non_negative(msg.counter_data.byte_count, ref.name, "byte_count")
        if ref.direct_meter_id:
            entry.meter = (
                self._make_meter(ref.direct_meter_id, msg.meter_config, ref.name)
                if msg.HasField("meter_config")
                else None
            )

    def _make_meter(self, meter_id: int, config: p4r.MeterConfig, where: str) -> TwoRateThreeColor:
        _check_meter_config(config, where)
        unit = self._meter_unit(meter_id)
        return TwoRateThreeColor(config.cir, config.cburst, config.pir, config.pburst, unit)

    def _meter_unit(self, meter_id: int) -> str:
        ref = self.pipeline.index.direct_meters.get(meter_id) or self.pipeline.index.meters.get(
            meter_id
        )
        if ref is None:
            raise ControlPlaneError("NOT_FOUND", f"meter id {meter_id} is not in the P4Info")
        for info in self.pipeline.switch.schema.meters:
            if info.name == ref.name:
                return info.unit
        return "PACKETS"

    def _default_entry(self, kind: int, msg: p4r.TableEntry, ref: TableRef) -> None:
        if kind != MODIFY:
            raise _bad(f"table {ref.name}: the default entry can only be modified")
        if msg.match:
            raise _bad(f"table {ref.name}: a default entry has no match fields")
        if msg.priority:
            raise _bad(f"table {ref.name}: a default entry has no priority")
        if ref.const_default:
            raise ControlPlaneError(
                "PERMISSION_DENIED", f"table {ref.name}: the default action is const"
            )
        if ref.implementation_id:
            # P4Runtime keeps an indirect table's default entry the program's.
            raise _bad(f"table {ref.name} has an action profile: its default entry cannot change")
        table = self._table(ref)
        if msg.HasField("action"):
            action = decode_table_action(msg, ref, self.pipeline.index)
        else:
            action = self.pipeline.initial_defaults[ref.name]
        previous = table.default.action
        table.set_default(action)
        self._log(lambda: table.set_default(previous))

    # -- counters, meters, registers ---------------------------------------

    def _cells(self, index_msg: p4r.Index | None, size: int, what: str) -> range:
        if index_msg is None:
            return range(size)
        i = index_msg.index
        if not 0 <= i < size:
            raise ControlPlaneError("OUT_OF_RANGE", f"{what}: index {i} outside 0..{size - 1}")
        return range(i, i + 1)

    def _counter_entry(self, msg: p4r.CounterEntry) -> None:
        ref = self.pipeline.index.counters.get(msg.counter_id)
        if ref is None:
            raise ControlPlaneError(
                "NOT_FOUND", f"counter id {msg.counter_id} is not in the P4Info"
            )
        array = self.pipeline.switch.counters[ref.name]
        packets = _non_negative(msg.data.packet_count, ref.name, "packet_count")
        nbytes = _non_negative(msg.data.byte_count, ref.name, "byte_count")
        index = msg.index if msg.HasField("index") else None
        for i in self._cells(index, ref.size, f"counter {ref.name}"):
            before = array.read(i)
            array.write(i, packets, nbytes)
            self._log(lambda i=i, before=before: array.write(i, *before))  # type: ignore[misc]

    def _direct_target(self, msg: p4r.TableEntry, what: str) -> tuple[TableRef, TableEntry]:
        ref = self.pipeline.index.table(msg.table_id)
        table = self._table(ref)
        if msg.is_default_action:
            return ref, table.default
        matches = decode_matches(msg, ref)
        priority = check_priority(msg, ref)
        entry = table.get(matches, priority)
        if entry is None:
            raise ControlPlaneError(
                "NOT_FOUND", f"{what}: table {ref.name}: no entry with this key"
            )
        return ref, entry

    def _direct_counter_entry(self, msg: p4r.DirectCounterEntry) -> None:
        ref, entry = self._direct_target(msg.table_entry, "direct_counter_entry")
        if not ref.direct_counter_id:
            raise _bad(f"table {ref.name} has no direct counter")
        before = (entry.packets, entry.bytes)
        entry.packets = _non_negative(msg.data.packet_count, ref.name, "packet_count")
        entry.bytes = _non_negative(msg.data.byte_count, ref.name, "byte_count")
        self._log(lambda: _set_counts(entry, before))

    def _direct_meter_entry(self, msg: p4r.DirectMeterEntry) -> None:
        ref, entry = self._direct_target(msg.table_entry, "direct_meter_entry")
        if not ref.direct_meter_id:
            raise _bad(f"table {ref.name} has no direct meter")
        _no_color_counters(msg, ref.name)
        before = entry.meter
        if msg.HasField("config"):
            entry.meter = self._make_meter(ref.direct_meter_id, msg.config, ref.name)
        else:
            entry.meter = None
        self._log(lambda: setattr(entry, "meter", before))

    def _meter_entry(self, msg: p4r.MeterEntry) -> None:
        ref = self.pipeline.index.meters.get(msg.meter_id)
        if ref is None:
            raise ControlPlaneError("NOT_FOUND", f"meter id {msg.meter_id} is not in the P4Info")
        _no_color_counters(msg, ref.name)
        array = self.pipeline.switch.meters[ref.name]
        index = msg.index if msg.HasField("index") else None
        cells = self._cells(index, ref.size, f"meter {ref.name}")
        config = msg.config if msg.HasField("config") else None
        if config is not None:
            _check_meter_config(config, f"meter {ref.name}")
        for i in cells:
            before = array.config(i)
            if config is None:
                array.unconfigure(i)
            else:
                array.configure(i, config.cir, config.cburst, config.pir, config.pburst)
            self._log(lambda i=i, before=before: _restore_meter_cell(array, i, before))  # type: ignore[misc]

    def _register_entry(self, msg: p4r.RegisterEntry) -> None:
        ref = self.pipeline.index.registers.get(msg.register_id)
        if ref is None:
            raise ControlPlaneError(
                "NOT_FOUND", f"register id {msg.register_id} is not in the P4Info"
            )
        if msg.data.WhichOneof("data") != "bitstring":
            raise _bad(f"register {ref.name}: data must be a bitstring")
        value = decode(msg.data.bitstring, ref.bitwidth, f"register {ref.name}")
        array = self.pipeline.switch.registers[ref.name]
        index = msg.index if msg.HasField("index") else None
        for i in self._cells(index, ref.size, f"register {ref.name}"):
            before = array.read(i)
            array.write(i, value)
            self._log(lambda i=i, before=before: array.write(i, before))  # type: ignore[misc]

    def _value_set_entry(self, msg: p4r.ValueSetEntry) -> None:
        info = self.pipeline.index.value_sets.get(msg.value_set_id)
        if info is None:
            raise ControlPlaneError(
                "NOT_FOUND", f"value set id {msg.value_set_id} is not in the P4Info"
            )
        value_set = self.pipeline.switch.value_sets[info.preamble.name]
        self._log(write_value_set(value_set, info, msg))

    # -- digests -------------------------------------------------------------

    def _digest_entry(self, kind: int, msg: p4r.DigestEntry) -> None:
        ref = self.pipeline.index.digests.get(msg.digest_id)
        if ref is None:
            raise ControlPlaneError("NOT_FOUND", f"digest id {msg.digest_id} is not in the P4Info")
        previous = self.digests.config(ref.id)
        if kind == INSERT and previous is not None:
            raise ControlPlaneError("ALREADY_EXISTS", f"digest {ref.name} is already configured")
        if kind in (MODIFY, DELETE) and previous is None:
            raise ControlPlaneError("NOT_FOUND", f"digest {ref.name} is not configured")
        if kind == DELETE:
            self.digests.remove(ref.id)
        else:
            if not msg.HasField("config"):
                raise _bad(f"digest {ref.name}: config missing")
            self.digests.configure(ref, msg.config)
        if previous is None:
            self._log(lambda: self.digests.remove(ref.id))
        else:
            self._log(lambda: self.digests.configure(ref, previous))


def _non_negative(value: int, where: str, what: str) -> int:
    if value < 0:
        raise ControlPlaneError("INVALID_ARGUMENT", f"{where}: negative {what}")
    return value


def _no_color_counters(msg: p4r.MeterEntry | p4r.DirectMeterEntry, where: str) -> None:
    if msg.HasField("counter_data"):
        raise ControlPlaneError(
            "UNIMPLEMENTED", f"{where}: per-color meter counters are not supported"
        )


def _set_counts(entry: TableEntry, counts: tuple[int, int]) -> None:
    entry.packets, entry.bytes = counts


def _check_meter_config(config: p4r.MeterConfig, where: str) -> None:
    if min(config.cir, config.cburst, config.pir, config.pburst) < 0:
        raise ControlPlaneError("INVALID_ARGUMENT", f"{where}: negative meter rate or burst")
    if config.pir < config.cir:
        raise ControlPlaneError(
            "INVALID_ARGUMENT", f"{where}: pir {config.pir} below cir {config.cir}"
        )


def _restore_meter_cell(
    array: MeterArray, index: int, before: tuple[int, int, int, int] | None
) -> None:
    if before is None:
        array.unconfigure(index)
    else:
        array.configure(index, *before)
