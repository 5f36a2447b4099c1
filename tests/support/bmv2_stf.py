"""An STF case on bmv2 and on p4sim, side by side.

`run_on_p4sim` runs the case with p4sim's own STF runner (p4sim/stf/runner.py,
virtual clock) and records, per port, every packet it emits, every digest and
the value each `check_counter`/`check_register` line read. `run_on_bmv2`
drives the same script on simple_switch_grpc (tests/support/bmv2.py): p4c
compiles the program, entries, defaults, multicast groups, clone sessions,
meters and value sets go in by P4Runtime through controller/p4rt (raw
P4Runtime messages for the entities the client library does not model),
packets travel on bmv2's nanomsg packet socket, digests come on the stream.
`compare` lists every way the two differ and every STF expectation bmv2 misses.

bmv2 runs on its own clock and threads, so the driver waits for what p4sim
says a packet produces: after each `packet` it waits (up to PACKET_DEADLINE)
for as many frames as p4sim emitted for that line. A packet p4sim drops gives
no event to wait for; the driver then lets QUIET_AFTER_DROP pass before the
next command, so a later table write cannot overtake it. At the end of a case
it listens QUIET_AT_END for extra frames. `wait` sleeps one second, which is
what it means to a meter (p4sim advances its virtual clock by one second).

What bmv2's P4Runtime server cannot do is listed, not skipped silently:
register reads and writes are UNIMPLEMENTED in PI's bmv2 server, so
`register_write`, `register_reset`, `register_read` and `check_register`
lines appear in `Bmv2Run.not_compared`.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from bmv2 import Bmv2, compile_p4c, running_bmv2
from finsy.proto import U128, p4r

from controller.p4rt import (
    CounterEntry,
    P4RuntimeClient,
    RpcError,
)
from controller.p4rt import entities as ents
from controller.p4rt.p4info import P4InfoIndex
from p4sim.compiler import compile_file
from p4sim.errors import STFError
from p4sim.runtime import tables as rt
from p4sim.runtime.switch import Switch
from p4sim.stf import runner as stf_runner
from p4sim.stf.parser import (
    Add,
    CheckCounter,
    CheckRegister,
    Command,
    Expect,
    ExpectDigest,
    McGroupCreate,
    McNodeAssociate,
    McNodeCreate,
    MeterRates,
    MirroringAdd,
    RegisterRead,
    RegisterReset,
    RegisterWrite,
    Script,
    SendPacket,
    SetDefault,
    ValueSetAdd,
    Wait,
    parse_stf_file,
)

PACKET_DEADLINE = 5.0
QUIET_AFTER_DROP = 0.05
QUIET_AT_END = 0.2
DIGEST_DEADLINE = 3.0


@dataclass
class Run:
    """What one target did with one STF script."""

    outputs: dict[int, list[bytes]] = field(default_factory=dict)  # port -> frames in order
    digests: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    checks: dict[tuple[int, str], int] = field(default_factory=dict)  # (line, what) -> value
    not_compared: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # commands the target refused

    @property
    def packet_count(self) -> int:
        return sum(len(frames) for frames in self.outputs.values())


# ---------------------------------------------------------------- p4sim


class _RecordingSession(stf_runner._Session):
    """p4sim's STF session, also keeping the values its checks read."""

    recorded: dict[tuple[int, str], int]

    def _compare(self, line: int, what: str, got: int, op: str, want: int) -> None:
        self.recorded[(line, what)] = got
        super()._compare(line, what, got, op, want)


def run_on_p4sim(program: Path, stf: Path) -> tuple[Run, dict[int, int], str]:
    """p4sim's run, how many frames each `packet` line emitted, and the
    runner's own report."""
    script = parse_stf_file(stf)
    compiled = compile_file(str(program))
    clock = stf_runner._VirtualClock()
    out = io.StringIO()
    session = _RecordingSession(script, Switch(compiled, clock_ns=clock.read), clock, out)
    session.recorded = {}
    session.run()
    run = Run()
    per_line: dict[int, int] = {}
    for port, received in sorted(session.received.items()):
        run.outputs[port] = [r.data for r in received]
        for r in received:
            per_line[r.line] = per_line.get(r.line, 0) + 1
    run.digests = [(name, tuple(values)) for name, values, _ in session.digests_received]
    run.checks = dict(session.recorded)
    return run, per_line, out.getvalue()


# ---------------------------------------------------------------- bmv2


class _Bmv2Session:
    def __init__(
        self, script: Script, bmv2: Bmv2, client: P4RuntimeClient, expect_per_line: dict[int, int]
    ):
        self.script = script
        self.bmv2 = bmv2
        self.client = client
        self.index: P4InfoIndex = client.index
        self.info = self.index.p4info
        self.expect_per_line = expect_per_line
        self.run = Run()
        self.handles: dict[str, ents.TableEntry] = {}
        self.mc_nodes: list[tuple[int, tuple[int, ...]]] = []
        self.mc_groups: dict[int, list[tuple[int, int]]] = {}
        self.mc_written: set[int] = set()
        self.clone_sessions: set[int] = set()
        self.value_sets: dict[str, list[p4r.ValueSetMember]] = {}
        self.last_was_drop = False

    # ------------------------------------------------------------ names

    def _names(self, kind: str) -> dict[str, object]:
        return {o.preamble.name: o for o in getattr(self.info, kind)}

    def _resolve(self, line: int, kind: str, name: str) -> object:
        objects = self._names(kind)
        try:
            return objects[stf_runner.resolve_name(name, list(objects))]
        except LookupError as exc:
            raise STFError(f"{self.script.path}:{line}: {kind} {exc}") from None

    def _malformed(self, line: int, message: str) -> STFError:
        return STFError(f"{self.script.path}:{line}: error: {message}")

    # ------------------------------------------------------------ commands

    def execute(self) -> Run:
        for command in self.script.commands:
            if not isinstance(command, SendPacket | Expect | ExpectDigest):
                self._settle()
            try:
                self._dispatch(command)
            except (RpcError, grpc.RpcError) as exc:
                self.run.errors.append(f"line {command.line}: {type(command).__name__}: {exc}")
        for port, frame in self.bmv2.ports.collect(0, 0, quiet=QUIET_AT_END):
            self.run.outputs.setdefault(port, []).append(frame)
        return self.run

    def _settle(self) -> None:
        if self.last_was_drop:
            for port, frame in self.bmv2.ports.collect(0, 0, quiet=QUIET_AFTER_DROP):
                self.run.outputs.setdefault(port, []).append(frame)
            self.last_was_drop = False

    def _dispatch(self, command: Command) -> None:
        match command:
            case Add():
                self._add(command)
            case SetDefault():
                table = self._resolve(command.line, "tables", command.table)
                action = self._action(command.line, table, command.action)
                entry = ents.TableEntry(table.preamble.name, (), action, is_default=True)  # type: ignore[attr-defined]
                self.client.modify(entry)
            case SendPacket():
                self._packet(command)
            case Wait():
                time.sleep(1.0)
            case CheckCounter():
                self._check_counter(command)
            case CheckRegister() | RegisterRead() | RegisterWrite() | RegisterReset():
                self.run.not_compared.append(
                    f"line {command.line}: {type(command).__name__} "
                    "(bmv2's P4Runtime register access is UNIMPLEMENTED)"
                )
            case McGroupCreate():
                self.mc_groups[command.group] = []
            case McNodeCreate():
                self.mc_nodes.append((command.rid, command.ports))
            case McNodeAssociate():
                rid, ports = self.mc_nodes[command.node]
                self.mc_groups[command.group] += [(port, rid) for port in sorted(ports)]
                self._write_group(command.group)
            case MirroringAdd():
                self._mirroring(command)
            case MeterRates():
                self._meter(command)
            case ValueSetAdd():
                self._value_set(command)
            case Expect() | ExpectDigest():
                pass

    def _add(self, cmd: Add) -> None:
        table = self._resolve(cmd.line, "tables", cmd.table)
        fields = list(table.match_fields)  # type: ignore[attr-defined]
        names = [f.name for f in fields]
        resolved: dict[str, object] = {}
        for key in cmd.keys:
            for spelling in stf_runner._key_spellings(key.name):
                try:
                    resolved[stf_runner.resolve_name(spelling, names)] = key.value
                    break
                except LookupError:
                    continue
            else:
                raise self._malformed(cmd.line, f"no key {key.name} in {table.preamble.name}")  # type: ignore[attr-defined]
        match: list[tuple[str, ents.FieldMatch]] = []
        for f in fields:
            kind = _MATCH_KIND[f.match_type]
            value = resolved.get(f.name)
            if value is None:
                if kind == "exact":
                    match.append((f.name, ents.Exact(0)))
                continue
            m = stf_runner._field_match(kind, f.bitwidth, value, f"key {f.name}", cmd.line, self)  # type: ignore[arg-type]
            converted = _to_client_match(m, f.bitwidth)
            if converted is not None:
                match.append((f.name, converted))
        needs_priority = any(
            _MATCH_KIND[f.match_type] in ("ternary", "range", "optional") for f in fields
        )
        priority = 0
        if needs_priority:
            if cmd.priority is None:
                raise self._malformed(cmd.line, "table needs a priority")
            priority = cmd.priority + 1
        entry = ents.TableEntry(
            table.preamble.name,  # type: ignore[attr-defined]
            tuple(match),
            self._action(cmd.line, table, cmd.action),
            priority,
        )
        self.client.insert(entry)
        if cmd.handle is not None:
            self.handles[cmd.handle] = entry

    def _action(self, line: int, table: object, call: object) -> ents.Action:
        actions = {a.preamble.id: a for a in self.info.actions}
        candidates = {actions[r.id].preamble.name: actions[r.id] for r in table.action_refs}  # type: ignore[attr-defined]
        try:
            action = candidates[stf_runner.resolve_name(call.name, list(candidates))]  # type: ignore[attr-defined]
        except LookupError as exc:
            raise self._malformed(line, f"action {exc}") from None
        given = dict(call.args)  # type: ignore[attr-defined]
        params = tuple((p.name, given[p.name].value) for p in action.params)
        return ents.Action(action.preamble.name, params)

    def _packet(self, cmd: SendPacket) -> None:
        self.bmv2.ports.send(cmd.port, cmd.data)
        wanted = self.expect_per_line.get(cmd.line, 0)
        got = self.bmv2.ports.collect(wanted, PACKET_DEADLINE)
        for port, frame in got:
            self.run.outputs.setdefault(port, []).append(frame)
        self.last_was_drop = wanted == 0

    def _check_counter(self, cmd: CheckCounter) -> None:
        counters = {c.preamble.name: c for c in self.info.counters}
        directs = {c.preamble.name: c for c in self.info.direct_counters}
        try:
            name = stf_runner.resolve_name(cmd.counter, [*counters, *directs])
        except LookupError as exc:
            raise self._malformed(cmd.line, f"counter {exc}") from None
        if name in directs:
            assert isinstance(cmd.index, str)
            data = self.client.read_direct_counter(self.handles[cmd.index])
        else:
            assert isinstance(cmd.index, int)
            found = self.client.read(CounterEntry(name, cmd.index))
            data = next(e.data for e in found if isinstance(e, CounterEntry))
            assert data is not None
        index = f"${cmd.index}" if isinstance(cmd.index, str) else str(cmd.index)
        kinds = [cmd.kind] if cmd.kind is not None else ["packets", "bytes"]
        for kind in kinds:
            value = data.packets if kind == "packets" else data.bytes
            self.run.checks[(cmd.line, f"counter {name}({index}) {kind}")] = value

    # ------------------------------------------------------------ raw P4Runtime

    def _raw_write(self, kind: int, entity: p4r.Entity) -> None:
        request = p4r.WriteRequest(
            device_id=self.client.device_id, election_id=U128.encode(self.client.election_id)
        )
        request.updates.append(p4r.Update(type=kind, entity=entity))
        self.client._require_stub().Write(request, timeout=10)

    def _write_group(self, group: int) -> None:
        entry = p4r.MulticastGroupEntry(multicast_group_id=group)
        for port, rid in self.mc_groups[group]:
            entry.replicas.append(p4r.Replica(egress_port=port, instance=rid))
        kind = p4r.Update.MODIFY if group in self.mc_written else p4r.Update.INSERT
        self._raw_write(
            kind,
            p4r.Entity(
                packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                    multicast_group_entry=entry
                )
            ),
        )
        self.mc_written.add(group)

    def _mirroring(self, cmd: MirroringAdd) -> None:
        entry = p4r.CloneSessionEntry(session_id=cmd.session)
        if cmd.group is not None:
            for port, rid in self.mc_groups[cmd.group]:
                entry.replicas.append(p4r.Replica(egress_port=port, instance=rid))
        else:
            assert cmd.port is not None
            entry.replicas.append(p4r.Replica(egress_port=cmd.port, instance=0))
        kind = p4r.Update.MODIFY if cmd.session in self.clone_sessions else p4r.Update.INSERT
        self._raw_write(
            kind,
            p4r.Entity(
                packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                    clone_session_entry=entry
                )
            ),
        )
        self.clone_sessions.add(cmd.session)

    def _meter(self, cmd: MeterRates) -> None:
        (cir, cburst), (pir, pburst) = cmd.rates
        config = p4r.MeterConfig(
            cir=round(cir * 1e6), cburst=cburst, pir=round(pir * 1e6), pburst=pburst
        )
        meters = {m.preamble.name: m for m in self.info.meters}
        directs = {m.preamble.name: m for m in self.info.direct_meters}
        try:
            name = stf_runner.resolve_name(cmd.meter, [*meters, *directs])
        except LookupError as exc:
            raise self._malformed(cmd.line, f"meter {exc}") from None
        if name in directs:
            assert isinstance(cmd.index, str)
            table_entry = self.client._require_codec().encode_table_entry(self.handles[cmd.index])
            entity = p4r.Entity(
                direct_meter_entry=p4r.DirectMeterEntry(table_entry=table_entry, config=config)
            )
            self._raw_write(p4r.Update.MODIFY, entity)
            return
        meter = meters[name]
        indices = range(meter.size) if cmd.index is None else [cmd.index]
        for i in indices:
            entry = p4r.MeterEntry(meter_id=meter.preamble.id, config=config)
            entry.index.index = int(i)
            self._raw_write(p4r.Update.MODIFY, p4r.Entity(meter_entry=entry))

    def _value_set(self, cmd: ValueSetAdd) -> None:
        sets = {v.preamble.name: v for v in self.info.value_sets}
        try:
            name = stf_runner.resolve_name(cmd.value_set, list(sets))
        except LookupError as exc:
            raise self._malformed(cmd.line, f"value_set {exc}") from None
        vs = sets[name]
        member = p4r.ValueSetMember()
        for f, value in zip(vs.match, cmd.values, strict=True):
            m = stf_runner._field_match("ternary", f.bitwidth, value, "value", cmd.line, self)  # type: ignore[arg-type]
            assert isinstance(m, rt.Ternary)
            nbytes = (f.bitwidth + 7) // 8
            fm = p4r.FieldMatch(field_id=f.id)
            if m.mask == (1 << f.bitwidth) - 1 and f.match_type == 2:  # EXACT
                fm.exact.value = m.value.to_bytes(nbytes, "big")
            else:
                fm.ternary.value = m.value.to_bytes(nbytes, "big")
                fm.ternary.mask = m.mask.to_bytes(nbytes, "big")
            member.match.append(fm)
        self.value_sets.setdefault(name, []).append(member)
        entry = p4r.ValueSetEntry(value_set_id=vs.preamble.id, members=self.value_sets[name])
        self._raw_write(p4r.Update.MODIFY, p4r.Entity(value_set_entry=entry))

    def collect_digests(self, count: int) -> None:
        deadline = time.monotonic() + DIGEST_DEADLINE
        while len(self.run.digests) < count:
            got = self.client.receive_digest(timeout=max(0.0, deadline - time.monotonic()))
            if got is None:
                break
            for values in got.as_dicts():
                self.run.digests.append((got.digest, tuple(values.values())))
        # anything beyond what p4sim produced
        while (extra := self.client.receive_digest(timeout=0.1)) is not None:
            for values in extra.as_dicts():
                self.run.digests.append((extra.digest, tuple(values.values())))


_MATCH_KIND = {2: "exact", 3: "lpm", 4: "ternary", 5: "range", 6: "optional"}


def _to_client_match(m: rt.FieldMatch, width: int) -> ents.FieldMatch | None:
    """p4sim's match as the client's; None for a wildcard (P4Runtime omits it)."""
    full = (1 << width) - 1
    if isinstance(m, rt.Exact):
        return ents.Exact(m.value)
    if isinstance(m, rt.Lpm):
        return None if m.prefix_len == 0 else ents.Lpm(m.value, m.prefix_len)
    if isinstance(m, rt.Ternary):
        return None if m.mask == 0 else ents.Ternary(m.value, m.mask)
    if isinstance(m, rt.RangeMatch):
        return None if (m.low, m.high) == (0, full) else ents.Range(m.low, m.high)
    if isinstance(m, rt.OptionalMatch):
        return ents.OptionalMatch(m.value)
    raise TypeError(m)


def run_on_bmv2(
    program: Path, stf: Path, build: Path, expect_per_line: dict[int, int], digest_count: int
) -> Run:
    script = parse_stf_file(stf)
    compiled = compile_p4c(program, build)
    with running_bmv2() as bmv2, bmv2.client() as client:
        client.set_pipeline(compiled.p4info(), compiled.device_config)
        for digest in client.index.p4info.digests:
            client.enable_digest(digest.preamble.name, max_list_size=1, max_timeout_ns=0)
        session = _Bmv2Session(script, bmv2, client, expect_per_line)
        try:
            run = session.execute()
            session.collect_digests(digest_count)
        except EOFError:
            raise RuntimeError(f"bmv2 died running {stf.name}:\n{bmv2.log_tail()}") from None
    return run


# ---------------------------------------------------------------- comparison


def compare(script: Script, p4sim: Run, bmv2: Run) -> list[str]:
    """Every difference between the runs, and every STF expectation bmv2 missed."""
    problems: list[str] = [f"bmv2 refused {e}" for e in bmv2.errors]
    for port in sorted(set(p4sim.outputs) | set(bmv2.outputs)):
        a = p4sim.outputs.get(port, [])
        b = bmv2.outputs.get(port, [])
        if a != b:
            problems.append(
                f"port {port}: p4sim emitted {[f.hex() for f in a]}, bmv2 {[f.hex() for f in b]}"
            )
    if p4sim.digests != bmv2.digests:
        problems.append(f"digests: p4sim {p4sim.digests}, bmv2 {bmv2.digests}")
    for key, value in sorted(p4sim.checks.items()):
        if key in bmv2.checks and bmv2.checks[key] != value:
            problems.append(f"line {key[0]}: {key[1]}: p4sim {value}, bmv2 {bmv2.checks[key]}")
    # bmv2 against the script itself, as p4c's driver checks it.
    expected: dict[int, list[Expect]] = {}
    unchecked: set[int] = set()
    for command in script.commands:
        if isinstance(command, Expect):
            if command.pattern is None:
                unchecked.add(command.port)
            else:
                expected.setdefault(command.port, []).append(command)
        if isinstance(command, CheckCounter):
            kinds = [command.kind] if command.kind is not None else ["packets", "bytes"]
            for (line, what), value in bmv2.checks.items():
                if line != command.line or what.rsplit(" ", 1)[1] not in kinds:
                    continue
                if not stf_runner._OPS[command.op](value, command.value):
                    wants = f"{command.op} {command.value}"
                    problems.append(f"line {line}: bmv2 {what} = {value}, STF wants {wants}")
    for port in sorted(set(expected) | set(bmv2.outputs)):
        if port in unchecked:
            continue
        wanted = expected.get(port, [])
        got = bmv2.outputs.get(port, [])
        if len(wanted) != len(got):
            problems.append(
                f"port {port}: STF expects {len(wanted)} packet(s), bmv2 emitted {len(got)}"
            )
        for exp, frame in zip(wanted, got, strict=False):
            assert exp.pattern is not None
            problem = stf_runner.describe_mismatch(exp.pattern, exp.exact_length, frame)
            if problem is not None:
                problems.append(f"line {exp.line}: bmv2 on port {port}: {problem}")
    return problems


@dataclass
class CaseResult:
    name: str
    p4sim: Run
    bmv2: Run
    problems: list[str]
    p4sim_report: str


def compare_case(program: Path, stf: Path, build: Path) -> CaseResult:
    p4sim, per_line, report = run_on_p4sim(program, stf)
    bmv2 = run_on_bmv2(program, stf, build, per_line, len(p4sim.digests))
    problems = compare(parse_stf_file(stf), p4sim, bmv2)
    return CaseResult(stf.stem, p4sim, bmv2, problems, report)
