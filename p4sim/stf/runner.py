"""Runs an STF script against a program on an in-memory p4sim switch.

The checks follow p4c's bmv2 driver: every packet the switch emits is
collected per port, and at the end the packets of each port must match that
port's `expect` lines one for one, in order (ports with a bare `expect PORT`
are not checked). Counter and register checks, in contrast, look at the state
at their line. Every mismatch is printed as `file:line: ...` and the run
returns 1; it returns 0 only when every expectation held.

Time is virtual so that runs are reproducible: the clock the switch reads
starts at 0, advances 1 microsecond before each input packet and 1 second at
each `wait` (which lets a meter test refill its buckets deterministically).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from p4sim.compiler import CompiledProgram, compile_file
from p4sim.errors import ControlPlaneError, STFError
from p4sim.runtime.schema import ActionInfo, ProgramSchema, TableInfo
from p4sim.runtime.switch import Switch
from p4sim.runtime.tables import (
    ActionCall,
    Exact,
    FieldMatch,
    Lpm,
    MatchTable,
    OptionalMatch,
    RangeMatch,
    TableEntry,
    Ternary,
)
from p4sim.stf.parser import (
    Add,
    Call,
    CheckCounter,
    CheckRegister,
    Command,
    Expect,
    ExpectDigest,
    KeyValue,
    Masked,
    McGroupCreate,
    McNodeAssociate,
    McNodeCreate,
    MeterRates,
    MirroringAdd,
    Number,
    Prefix,
    RegisterRead,
    RegisterReset,
    RegisterWrite,
    Script,
    SendPacket,
    SetDefault,
    Span,
    ValueSetAdd,
    Wait,
    parse_stf_file,
)

PACKET_TICK_NS = 1_000
WAIT_TICK_NS = 1_000_000_000
MAX_LISTED_BYTES = 8


def run_stf(
    program_path: str | Path,
    stf_path: str | Path,
    include_dirs: Sequence[str | Path] = (),
    out: TextIO | None = None,
    program: CompiledProgram | None = None,
) -> int:
    """Compile `program_path` (unless `program` is it, compiled already),
    run `stf_path` against it and report.

    Raises `STFError` for a malformed script (or one naming objects the
    program lacks) and the compiler's `P4SourceError`s for a bad program.
    """
    script = parse_stf_file(stf_path)
    if program is None:
        program = compile_file(str(program_path), tuple(str(d) for d in include_dirs))
    clock = _VirtualClock()
    switch = Switch(program, clock_ns=clock.read)
    session = _Session(script, switch, clock, out if out is not None else sys.stdout)
    return session.run()


@dataclass
class _VirtualClock:
    now_ns: int = 0

    def read(self) -> int:
        return self.now_ns


@dataclass(frozen=True)
class _Received:
    data: bytes
    line: int  # the `packet` line whose processing emitted it


@dataclass(frozen=True)
class _Handle:
    table: MatchTable
    entry: TableEntry


@dataclass
class _Session:
    script: Script
    sw: Switch
    clock: _VirtualClock
    out: TextIO
    failures: int = 0
    checks: int = 0
    expected: dict[int, list[Expect]] = field(default_factory=dict)
    unchecked_ports: set[int] = field(default_factory=set)
    received: dict[int, list[_Received]] = field(default_factory=dict)
    digests_expected: list[ExpectDigest] = field(default_factory=list)
    digests_received: list[tuple[str, tuple[int, ...], int]] = field(default_factory=list)
    handles: dict[str, _Handle] = field(default_factory=dict)
    mc_nodes: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)

    @property
    def schema(self) -> ProgramSchema:
        return self.sw.schema

    def run(self) -> int:
        for command in self.script.commands:
            self._apply(command)
        self._check_packets()
        self._check_digests()
        verdict = "FAILED" if self.failures else "passed"
        self.out.write(
            f"{self.script.path}: {verdict}: {self.checks} checks, {self.failures} failed\n"
        )
        return 1 if self.failures else 0

    # ------------------------------------------------------------ reporting

    def _where(self, line: int) -> str:
        return f"{self.script.path}:{line}"

    def _fail(self, line: int, message: str) -> None:
        self.failures += 1
        self.out.write(f"{self._where(line)}: {message}\n")

    def _malformed(self, line: int, message: str) -> STFError:
        return STFError(f"{self._where(line)}: error: {message}")

    # ------------------------------------------------------------ commands

    def _apply(self, command: Command) -> None:
        try:
            self._dispatch(command)
        except ControlPlaneError as exc:
            self._fail(command.line, f"error: {_verb(command)} rejected: {exc}")

    def _dispatch(self, command: Command) -> None:
        match command:
            case Add():
                self._add(command)
            case SetDefault():
                self._setdefault(command)
            case SendPacket():
                self._packet(command)
            case Expect():
                self._expect(command)
            case Wait():
                self.clock.now_ns += WAIT_TICK_NS
            case CheckCounter():
                self._check_counter(command)
            case CheckRegister():
                self._check_register(command)
            case RegisterRead():
                self._register_read(command)
            case RegisterWrite():
                self._register_write(command)
            case RegisterReset():
                self._register_reset(command)
            case McGroupCreate():
                self.sw.pre.create_group(command.group)
            case McNodeCreate():
                # bmv2 hands out node handles 0, 1, ... in creation order.
                self.mc_nodes.append((command.rid, command.ports))
            case McNodeAssociate():
                self._mc_node_associate(command)
            case MirroringAdd():
                self._mirroring_add(command)
            case MeterRates():
                self._meter_rates(command)
            case ExpectDigest():
                self.digests_expected.append(command)
            case ValueSetAdd():
                self._value_set_add(command)

    def _add(self, cmd: Add) -> None:
        info = self._table(cmd.line, cmd.table)
        table = self.sw.tables[info.name]
        given = {k.name: k for k in cmd.keys}
        resolved = {self._key(cmd.line, info, k.name): k.value for k in cmd.keys}
        if len(resolved) != len(given):
            raise self._malformed(cmd.line, f"two keys name the same field of {info.name}")
        matches: list[FieldMatch | None] = []
        for key in info.match_fields:
            if key.match_type == "selector":  # feeds an action selector, not the match
                continue
            value = resolved.get(key.name)
            if value is None:
                # p4c's driver fills an omitted exact key with 0 and leaves
                # every other kind as a wildcard.
                matches.append(Exact(0) if key.match_type == "exact" else None)
                continue
            matches.append(
                _field_match(key.match_type, key.bitwidth, value, f"key {key.name}", cmd.line, self)
            )
        priority = 0
        if table.needs_priority:
            if cmd.priority is None:
                raise self._malformed(cmd.line, f"table {info.name} needs a priority")
            # P4Runtime reserves priority 0; shifting keeps STF's order.
            priority = cmd.priority + 1
        entry = TableEntry(
            matches=tuple(matches),
            action=self._action_call(cmd.line, info, cmd.action),
            priority=priority,
        )
        table.insert(entry)
        if cmd.handle is not None:
            self.handles[cmd.handle] = _Handle(table, entry)

    def _setdefault(self, cmd: SetDefault) -> None:
        info = self._table(cmd.line, cmd.table)
        self.sw.tables[info.name].set_default(self._action_call(cmd.line, info, cmd.action))

    def _packet(self, cmd: SendPacket) -> None:
        self.clock.now_ns += PACKET_TICK_NS
        for port, data in self.sw.process(cmd.port, cmd.data):
            self.received.setdefault(port, []).append(_Received(data, cmd.line))
        for name, values in self.sw.drain_digests():
            # STF compares numbers: a varbit (length, value) counts as its value.
            numbers = tuple(v[1] if isinstance(v, tuple) else v for v in values)
            self.digests_received.append((name, numbers, cmd.line))

    def _expect(self, cmd: Expect) -> None:
        if cmd.pattern is None:
            self.unchecked_ports.add(cmd.port)
        else:
            self.expected.setdefault(cmd.port, []).append(cmd)

    def _value_set_add(self, cmd: ValueSetAdd) -> None:
        infos = {v.name: v for v in self.schema.value_sets}
        name = self._resolve(cmd.line, "value_set", cmd.value_set, list(infos))
        widths = [f.bitwidth for f in infos[name].match_fields]
        if len(cmd.values) != len(widths):
            raise self._malformed(
                cmd.line, f"value_set {name} takes {len(widths)} value(s) per member"
            )
        member = []
        for i, (value, width) in enumerate(zip(cmd.values, widths, strict=True)):
            match = _field_match("ternary", width, value, f"value {i + 1}", cmd.line, self)
            assert isinstance(match, Ternary)
            member.append((match.value, match.mask))
        self.sw.value_sets[name].add(tuple(member))

    def _check_counter(self, cmd: CheckCounter) -> None:
        names = [c.name for c in self.schema.counters]
        name = self._resolve(cmd.line, "counter", cmd.counter, names)
        info = next(c for c in self.schema.counters if c.name == name)
        if info.direct_table is not None:
            if not isinstance(cmd.index, str):
                raise self._malformed(
                    cmd.line, f"{name} is a direct counter: index it with an entry $HANDLE"
                )
            entry = self._entry(cmd.line, cmd.index)
            packets, nbytes = entry.packets, entry.bytes
        else:
            if isinstance(cmd.index, str):
                raise self._malformed(cmd.line, f"{name} is indexed by number, not by $HANDLE")
            packets, nbytes = self.sw.counters[name].read(cmd.index)
        index = f"${cmd.index}" if isinstance(cmd.index, str) else str(cmd.index)
        kinds = [cmd.kind] if cmd.kind is not None else ["packets", "bytes"]
        for kind in kinds:
            got = packets if kind == "packets" else nbytes
            self._compare(cmd.line, f"counter {name}({index}) {kind}", got, cmd.op, cmd.value)

    def _check_register(self, cmd: CheckRegister) -> None:
        name = self._register(cmd.line, cmd.register)
        got = self.sw.registers[name].read(cmd.index)
        self._compare(cmd.line, f"register {name}[{cmd.index}]", got, cmd.op, cmd.value)

    def _register_read(self, cmd: RegisterRead) -> None:
        name = self._register(cmd.line, cmd.register)
        value = self.sw.registers[name].read(cmd.index)
        self.out.write(f"{self._where(cmd.line)}: {name}[{cmd.index}] = {value}\n")

    def _register_write(self, cmd: RegisterWrite) -> None:
        name = self._register(cmd.line, cmd.register)
        self.sw.registers[name].write(cmd.index, cmd.value)

    def _register_reset(self, cmd: RegisterReset) -> None:
        name = self._register(cmd.line, cmd.register)
        size = next(r.size for r in self.schema.registers if r.name == name)
        for index in range(size):
            self.sw.registers[name].write(index, 0)

    def _mc_node_associate(self, cmd: McNodeAssociate) -> None:
        if not 0 <= cmd.node < len(self.mc_nodes):
            raise self._malformed(cmd.line, f"no multicast node with handle {cmd.node}")
        rid, ports = self.mc_nodes[cmd.node]
        current = self.sw.pre.group(cmd.group)
        if current is None:
            raise ControlPlaneError("NOT_FOUND", f"multicast group {cmd.group} does not exist")
        # bmv2 replicates node by node in association order, and within a
        # node in increasing port order.
        added = tuple((port, rid) for port in sorted(ports))
        self.sw.pre.modify_group(cmd.group, current + added)

    def _mirroring_add(self, cmd: MirroringAdd) -> None:
        if cmd.group is not None:
            # bmv2 replicates to the group at clone time; p4sim's sessions
            # hold replicas, so the group's members are copied now.
            replicas = self.sw.pre.group(cmd.group)
            if replicas is None:
                raise ControlPlaneError("NOT_FOUND", f"multicast group {cmd.group} does not exist")
        else:
            assert cmd.port is not None
            replicas = ((cmd.port, 0),)
        if self.sw.pre.session(cmd.session) is None:
            self.sw.pre.create_session(cmd.session, replicas)
        else:
            self.sw.pre.modify_session(cmd.session, replicas)

    def _meter_rates(self, cmd: MeterRates) -> None:
        infos = {m.name: m for m in self.schema.meters}
        name = self._resolve(cmd.line, "meter", cmd.meter, list(infos))
        (cir, cburst), (pir, pburst) = cmd.rates
        # The bmv2 CLI gives rates per microsecond; p4sim meters take them
        # per second like P4Runtime's MeterConfig.
        rates = (round(cir * 1e6), cburst, round(pir * 1e6), pburst)
        if infos[name].direct_table is not None:
            if not isinstance(cmd.index, str):
                raise self._malformed(
                    cmd.line, f"{name} is a direct meter: give the entry as $HANDLE"
                )
            self.sw.configure_direct_meter(self._entry(cmd.line, cmd.index), *rates)
            return
        if isinstance(cmd.index, str):
            raise self._malformed(cmd.line, f"{name} is indexed by number, not by $HANDLE")
        indices = range(infos[name].size) if cmd.index is None else [cmd.index]
        for index in indices:
            self.sw.meters[name].configure(index, *rates)

    # ------------------------------------------------------------ final checks

    def _check_packets(self) -> None:
        for port in sorted(set(self.expected) | set(self.received)):
            if port in self.unchecked_ports:
                continue
            wanted = self.expected.get(port, [])
            got = self.received.get(port, [])
            for exp, rec in zip(wanted, got, strict=False):
                self.checks += 1
                assert exp.pattern is not None
                problem = describe_mismatch(exp.pattern, exp.exact_length, rec.data)
                if problem is not None:
                    self._fail(
                        exp.line,
                        f"expected {port} {_show(exp)}, got {port} {rec.data.hex().upper()}"
                        f" ({problem}; from the packet at line {rec.line})",
                    )
            for exp in wanted[len(got) :]:
                self.checks += 1
                self._fail(
                    exp.line,
                    f"expected {port} {_show(exp)}, got nothing"
                    f" (port {port} emitted {len(got)} packet(s))",
                )
            for rec in got[len(wanted) :]:
                self.checks += 1
                self._fail(
                    rec.line,
                    f"unexpected packet on port {port}: {rec.data.hex().upper()}"
                    f" ({len(wanted)} expected on that port)",
                )

    def _check_digests(self) -> None:
        infos = {d.name: d for d in self.schema.digests}
        for index, exp in enumerate(self.digests_expected):
            self.checks += 1
            name = self._resolve(exp.line, "digest", exp.digest.name, list(infos))
            members = [m.name for m in infos[name].members]
            unknown = [a for a, _ in exp.digest.args if a not in members]
            if unknown:
                raise self._malformed(exp.line, f"digest {name} has no member '{unknown[0]}'")
            if index >= len(self.digests_received):
                self._fail(exp.line, f"expected digest {_show_call(exp.digest)}, got nothing")
                continue
            got_name, values, line = self.digests_received[index]
            shown = ", ".join(f"{m}:{v:#x}" for m, v in zip(members, values, strict=False))
            wrong = [a for a, n in exp.digest.args if values[members.index(a)] != n.value]
            if got_name != name or wrong:
                self._fail(
                    exp.line,
                    f"expected digest {_show_call(exp.digest)}, got {got_name}({shown})"
                    f" (from the packet at line {line})",
                )
        if not self.digests_expected:
            return  # a script that never mentions digests does not check them
        for got_name, values, line in self.digests_received[len(self.digests_expected) :]:
            self.checks += 1
            self._fail(line, f"unexpected digest {got_name}{tuple(values)}")

    # ------------------------------------------------------------ helpers

    def _compare(self, line: int, what: str, got: int, op: str, want: int) -> None:
        self.checks += 1
        if not _OPS[op](got, want):
            self._fail(line, f"expected {what} {op} {want}, got {got}")

    def _resolve(self, line: int, kind: str, name: str, names: Sequence[str]) -> str:
        try:
            return resolve_name(name, names)
        except LookupError as exc:
            raise self._malformed(line, f"{kind} {exc}") from None

    def _table(self, line: int, name: str) -> TableInfo:
        infos = {t.name: t for t in self.schema.tables}
        return infos[self._resolve(line, "table", name, list(infos))]

    def _register(self, line: int, name: str) -> str:
        return self._resolve(line, "register", name, [r.name for r in self.schema.registers])

    def _key(self, line: int, table: TableInfo, name: str) -> str:
        names = [k.name for k in table.match_fields]
        for candidate in _key_spellings(name):
            try:
                return resolve_name(candidate, names)
            except LookupError:
                continue
        raise self._malformed(
            line, f"table {table.name} has no key '{name}' (keys: {', '.join(names)})"
        )

    def _action_call(self, line: int, table: TableInfo, call: Call) -> ActionCall:
        names = [a.action for a in table.action_refs]
        name = self._resolve(line, f"action of table {table.name}", call.name, names)
        info: ActionInfo = next(a for a in self.schema.actions if a.name == name)
        given = dict(call.args)
        params = [p.name for p in info.params]
        extra = [a for a in given if a not in params]
        if extra:
            raise self._malformed(line, f"action {name} has no parameter '{extra[0]}'")
        missing = [p for p in params if p not in given]
        if missing:
            raise self._malformed(line, f"action {name} needs parameter '{missing[0]}'")
        args = tuple(
            _plain(given[p.name], p.bitwidth, f"parameter {p.name}", line, self)
            for p in info.params
        )
        return ActionCall(name, args)

    def _entry(self, line: int, handle: str) -> TableEntry:
        found = self.handles.get(handle)
        if found is None:
            raise self._malformed(line, f"no entry was added with '= {handle}'")
        entry = found.table.get(found.entry.matches, found.entry.priority)
        if entry is None:
            raise self._malformed(line, f"entry ${handle} is no longer in its table")
        return entry


_OPS: dict[str, Callable[[int, int], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


_WORDS: dict[type, str] = {
    Add: "add",
    SetDefault: "setdefault",
    CheckCounter: "check_counter",
    CheckRegister: "check_register",
    RegisterRead: "register_read",
    RegisterWrite: "register_write",
    RegisterReset: "register_reset",
    McGroupCreate: "mc_mgrp_create",
    McNodeAssociate: "mc_node_associate",
    MirroringAdd: "mirroring_add",
    MeterRates: "meter_set_rates",
    ValueSetAdd: "value_set_add",
}


def _verb(command: Command) -> str:
    """The STF word for a command, for messages."""
    return _WORDS.get(type(command), type(command).__name__)


# ---------------------------------------------------------------- pure helpers


def resolve_name(name: str, names: Sequence[str]) -> str:
    """p4c's STF rule: the exact name, else the one name that ends with it
    (preferring a match at a `.` boundary). LookupError names the problem."""
    if name in names:
        return name
    for matches in (
        [n for n in names if n.endswith("." + name)],
        [n for n in names if n.endswith(name)],
    ):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise LookupError(f"'{name}' is ambiguous: {', '.join(sorted(matches))}")
    known = ", ".join(sorted(names)) or "none"
    raise LookupError(f"'{name}' not found (known: {known})")


def _key_spellings(name: str) -> list[str]:
    """The ways a key may be named: p4c's driver writes `stack$0` for
    `stack[0]`, and a validity key `hdr.isValid()` also goes by `hdr.valid`
    and `hdr.$valid$` (its name in bmv2 JSON and p4c's P4Info)."""
    plain = _stack_dollar(name)
    spellings = [plain]
    for suffix in (".isValid()", ".valid", ".$valid$"):
        if plain.endswith(suffix):
            base = plain[: -len(suffix)]
            spellings += [base + ".isValid()", base + ".$valid$"]
    return spellings


def _stack_dollar(name: str) -> str:
    out: list[str] = []
    parts = name.split("$")
    out.append(parts[0])
    for part in parts[1:]:
        digits = len(part) - len(part.lstrip("0123456789"))
        if digits:
            out.append(f"[{part[:digits]}]{part[digits:]}")
        else:
            out.append("$" + part)
    return "".join(out)


def _plain(number: Number, width: int, what: str, line: int, session: _Session) -> int:
    if number.has_wildcards:
        raise session._malformed(line, f"{what}: '{number.text}' cannot contain '*'")
    if number.value >> width:
        raise session._malformed(line, f"{what}: {number.text} does not fit in {width} bits")
    return number.value


def _field_match(
    kind: str, width: int, value: KeyValue, what: str, line: int, session: _Session
) -> FieldMatch:
    full = (1 << width) - 1

    def bad(reason: str) -> STFError:
        return session._malformed(line, f"{what} ({kind}, {width} bits): {reason}")

    if kind == "exact":
        if not isinstance(value, Number):
            raise bad("needs a plain value")
        return Exact(_plain(value, width, what, line, session))
    if kind == "ternary":
        if isinstance(value, Number):
            # p4c's driver masks only the digits written: 0x0A on a 32-bit
            # key matches any value whose low byte is 0x0A.
            mask = full if value.care is None else value.care & full
            v = value.value
        elif isinstance(value, Masked):
            v, mask = value.value.value, value.mask.value
        elif isinstance(value, Prefix):
            if value.length > width:
                raise bad(f"prefix /{value.length} is longer than the key")
            v, mask = value.value.value, full ^ (full >> value.length)
        else:
            raise bad("a range is not a ternary value")
        if v >> width or mask >> width:
            raise bad(f"{_text(value)} does not fit")
        return Ternary(v & mask, mask)
    if kind == "lpm":
        if isinstance(value, Prefix):
            v, length = value.value.value, value.length
        elif isinstance(value, Number):
            v = value.value
            prefix = width if value.care is None else _care_prefix(value.care, width)
            if prefix is None:
                raise bad(f"'{value.text}': don't-care digits must be trailing")
            length = prefix
        else:
            raise bad("needs VALUE/LENGTH or a value with trailing '*' digits")
        if length > width or v >> width:
            raise bad(f"{_text(value)} does not fit")
        return Lpm(v & (full ^ (full >> length)), length)
    if kind == "range":
        if isinstance(value, Span):
            low, high = value.low.value, value.high.value
        elif isinstance(value, Number) and not value.has_wildcards:
            low = high = value.value
        else:
            raise bad("needs LOW->HIGH")
        if low >> width or high >> width:
            raise bad(f"{_text(value)} does not fit")
        if low > high:
            raise bad(f"empty range {_text(value)}")
        return RangeMatch(low, high)
    if kind == "optional":
        if not isinstance(value, Number):
            raise bad("needs a plain value (omit the key for a wildcard)")
        return OptionalMatch(_plain(value, width, what, line, session))
    raise bad("match kind not supported by STF")


def _care_prefix(care: int, width: int) -> int | None:
    """Length of the prefix a care mask describes when read as a `width`-bit
    value, or None when the care bits are not one leading run."""
    care &= (1 << width) - 1
    length = care.bit_count()
    if care != ((1 << width) - 1) ^ ((1 << (width - length)) - 1):
        return None
    return length


def _text(value: KeyValue) -> str:
    if isinstance(value, Number):
        return value.text
    if isinstance(value, Masked):
        return f"{value.value.text}&&&{value.mask.text}"
    if isinstance(value, Prefix):
        return f"{value.value.text}/{value.length}"
    return f"{value.low.text}->{value.high.text}"


def _show(exp: Expect) -> str:
    return (exp.pattern or "") + ("$" if exp.exact_length else "")


def _show_call(call: Call) -> str:
    return f"{call.name}({', '.join(f'{a}:{n.text}' for a, n in call.args)})"


def describe_mismatch(pattern: str, exact_length: bool, data: bytes) -> str | None:
    """None when `data` matches the `expect` pattern, else a short account
    naming the differing bytes (byte offsets from 0)."""
    got = data.hex().upper()
    problems: list[str] = []
    differing: list[str] = []
    for start in range(0, len(pattern), 2):
        want = pattern[start : start + 2]
        have = got[start : start + 2]
        if len(have) < len(want):
            break
        if any(w not in ("*", h) for w, h in zip(want, have, strict=False)):
            differing.append(f"byte {start // 2}: expected {want}, got {have}")
    if differing:
        shown = "; ".join(differing[:MAX_LISTED_BYTES])
        more = len(differing) - MAX_LISTED_BYTES
        problems.append(shown + (f"; and {more} more differing bytes" if more > 0 else ""))
    want_bytes = (len(pattern) + 1) // 2
    if len(got) < len(pattern):
        problems.append(f"{len(data)} bytes, expected at least {want_bytes}")
    elif exact_length and len(got) > len(pattern):
        problems.append(f"{len(data)} bytes, expected exactly {want_bytes}")
    return "; ".join(problems) if problems else None
