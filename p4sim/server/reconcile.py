"""RECONCILE_AND_COMMIT: move the forwarding state into a new pipeline.

State carries over by name: action profile members and groups (before the
entries pointing at them); table entries and changed default actions of
tables whose key is unchanged, where the new program still has the action
with the same parameters; multicast groups and clone sessions; counter,
register and meter cells of objects with the same name and size; value set
members where the field widths are unchanged. Anything that cannot be
carried (an installed entry whose table changed its key or lost the entry's
action) makes the whole reconcile fail with INVALID_ARGUMENT, as the spec
asks, and leaves the old pipeline running.
"""

from __future__ import annotations

import dataclasses

from p4sim.errors import ControlPlaneError
from p4sim.server.action_profiles import carry_profiles
from p4sim.server.pipeline import Pipeline


def _fail(message: str) -> ControlPlaneError:
    return ControlPlaneError("INVALID_ARGUMENT", f"cannot reconcile: {message}")


def carry_state(old: Pipeline, new: Pipeline) -> None:
    carry_profiles(old.switch, new.switch)  # before the entries that point at them
    old_schema = {t.name: t for t in old.switch.schema.tables}
    new_schema = {t.name: t for t in new.switch.schema.tables}
    for name, table in old.switch.tables.items():
        entries = [e for e in table.entries() if not e.is_const]
        default_changed = table.default.action != old.initial_defaults.get(name)
        if not entries and not default_changed:
            continue
        target = new.switch.tables.get(name)
        if target is None:
            raise _fail(f"table {name} holds entries but is not in the new program")
        if old_schema[name].match_fields != new_schema[name].match_fields:
            raise _fail(f"table {name} changed its key")
        for entry in entries:
            try:
                target.insert(dataclasses.replace(entry))
            except ControlPlaneError as error:
                raise _fail(f"table {name}: {error.message}") from error
        if default_changed:
            try:
                target.set_default(table.default.action)
            except ControlPlaneError as error:
                raise _fail(f"table {name}: default action: {error.message}") from error
    for gid, replicas in old.switch.pre.groups():
        new.switch.pre.create_group(gid, replicas)
    for session in old.switch.pre.sessions():
        new.switch.pre.create_session(
            session.session_id,
            session.replicas,
            session.class_of_service,
            session.packet_length_bytes,
        )
    for name, counters in old.switch.counters.items():
        target_counters = new.switch.counters.get(name)
        if target_counters is not None and len(target_counters) == len(counters):
            for i in range(len(counters)):
                target_counters.write(i, *counters.read(i))
    for name, registers in old.switch.registers.items():
        target_registers = new.switch.registers.get(name)
        if target_registers is not None and len(target_registers) == len(registers):
            for i in range(len(registers)):
                target_registers.write(i, registers.read(i))
    for name, value_set in old.switch.value_sets.items():
        target_set = new.switch.value_sets.get(name)
        if target_set is not None and target_set.widths == value_set.widths:
            for member in value_set.members:
                target_set.add(member)
    for name, meters in old.switch.meters.items():
        target_meters = new.switch.meters.get(name)
        if target_meters is not None and len(target_meters) == len(meters):
            for i in range(len(meters)):
                config = meters.config(i)
                if config is not None:
                    target_meters.configure(i, *config)
