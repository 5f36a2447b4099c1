"""`Switch`: one running instance of a compiled program with its
control-plane state (tables, externs, replication engine, digests).

The generated pipeline module is executed once per switch with the runtime
objects it names as globals, so a table lookup in the hot path is a global
load and a method call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from p4sim.compiler import CompiledProgram
from p4sim.errors import ControlPlaneError
from p4sim.runtime import support
from p4sim.runtime.action_profiles import ActionProfile, IndirectTable
from p4sim.runtime.algorithms import HASH_ALGORITHMS, csum16_int, pack_fields
from p4sim.runtime.externs import CounterArray, MeterArray, RegisterArray
from p4sim.runtime.meters import TwoRateThreeColor
from p4sim.runtime.pre import PacketReplicationEngine
from p4sim.runtime.schema import ProgramSchema
from p4sim.runtime.tables import MatchTable, TableEntry
from p4sim.runtime.v1model import V1Model


class Switch:
    def __init__(self, program: CompiledProgram, *, cpu_port: int | None = None,
                 clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.program = program
        self.schema: ProgramSchema = program.schema
        self.cpu_port = cpu_port
        self.clock_ns = clock_ns
        self.tables: dict[str, MatchTable] = {}
        self.counters: dict[str, CounterArray] = {}
        self.registers: dict[str, RegisterArray] = {}
        self.meters: dict[str, MeterArray] = {}
        self.value_sets: dict[str, support.ValueSet] = {}
        self.action_profiles: dict[str, ActionProfile] = {}
        self.pre = PacketReplicationEngine()
        self._digests: list[tuple[str, tuple[int | tuple[int, int], ...]]] = []
        self._direct_meter_units: dict[str, str] = {}
        namespace = self._namespace()
        code = program.lowered.pipeline.code
        assert code is not None  # compiled with the program (p4sim.compiler)
        exec(code, namespace)
        self._arch = V1Model(program.lowered.pipeline, namespace, self.pre, clock_ns,
                             self._digests)

    def _namespace(self) -> dict[str, Any]:
        lowered = self.program.lowered
        ns: dict[str, Any] = {
            "__name__": f"p4sim_pipeline_{self.program.name}",
            "HASH": HASH_ALGORITHMS,
            "csum16_int": csum16_int,
            "pack_fields": pack_fields,
        }
        for name in ("ONCE", "ExitSignal", "ParserReject", "AssertFailed", "Stack", "shl",
                     "div", "mod", "sat_signed", "lookahead", "equal"):
            ns[name] = getattr(support, name)
        for p in lowered.action_profiles:
            self.action_profiles[p.name] = ActionProfile(
                p.name, p.size, actions=p.actions, algorithm=p.algorithm,
                max_group_size=p.max_group_size)
        for t in lowered.tables:
            table: MatchTable
            if t.profile is not None:
                table = IndirectTable(t.name, t.keys, t.size, t.default, t.default_is_const,
                                      actions=t.actions, profile=self.action_profiles[t.profile])
            else:
                table = MatchTable(t.name, t.keys, t.size, t.default, t.default_is_const,
                                   actions=t.actions, is_const_table=t.is_const_table)
            for matches, action, priority in t.entries:
                table.insert(TableEntry(matches, action, priority, is_const=t.is_const_table))
            if t.direct_meter_unit is not None:
                self._direct_meter_units[t.name] = t.direct_meter_unit
            self.tables[t.name] = table
            ns[t.py] = table
        origin = self.clock_ns()
        for e in lowered.externs:
            obj: Any
            if e.kind == "register":
                obj = self.registers[e.name] = RegisterArray(e.name, e.size, e.width)
            elif e.kind == "counter":
                obj = self.counters[e.name] = CounterArray(e.name, e.size, e.unit)
            else:
                obj = self.meters[e.name] = MeterArray(e.name, e.size, e.unit,
                                                       origin_ns=origin)
            ns[e.py] = obj
        for v in lowered.value_sets:
            vs = self.value_sets[v.name] = support.ValueSet(v.name, v.size, v.widths)
            ns[v.py] = vs
        return ns

    # ------------------------------------------------------------ data plane

    def process(self, port: int, data: bytes) -> list[tuple[int, bytes]]:
        """Every packet the pipeline emits for one input, in order."""
        if type(data) is not bytes:
            data = bytes(data)
        return self._arch.process(port, data)

    def drain_digests(self) -> list[tuple[str, tuple[int | tuple[int, int], ...]]]:
        out = list(self._digests)
        self._digests.clear()
        return out

    # --------------------------------------------------------- control plane

    def configure_direct_meter(self, entry: TableEntry, cir: int, cburst: int, pir: int,
                               pburst: int) -> None:
        """Give a table entry its own two-rate three-colour meter state."""
        unit = "BYTES"
        for name, table in self.tables.items():
            if any(e is entry for e in table.entries()):
                unit = self._direct_meter_units.get(name, unit)
                break
        entry.meter = TwoRateThreeColor(cir, cburst, pir, pburst, unit,
                                        origin_ns=self._arch.start_ns)

    def resolve_table(self, name: str) -> MatchTable:
        return self.tables[self._resolve(name, list(self.tables), "table")]

    def resolve_action(self, name: str) -> str:
        return self._resolve(name, [a.name for a in self.schema.actions], "action")

    @staticmethod
    def _resolve(name: str, names: list[str], what: str) -> str:
        if name in names:
            return name
        matches = [n for n in names if n.endswith("." + name)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise ControlPlaneError("NOT_FOUND", f"no {what} named '{name}'")
        raise ControlPlaneError("INVALID_ARGUMENT", f"{what} name '{name}' is ambiguous: "
                                f"{', '.join(sorted(matches))}")
