"""Reader for p4c's Simple Test Framework (STF) files.

STF is the line-oriented script p4c's bmv2 test driver (`bmv2stf.py`) feeds to
simple_switch: control-plane commands, input packets and expected output
packets. This module only turns text into typed commands; it knows nothing
about a program, because key widths, full table names and action parameters
are only known once the program is compiled (the runner resolves them).

The dialect follows p4c's driver, including its quirks, so public corpora run
unchanged:

* `add TABLE [PRIORITY] KEY:VALUE ... ACTION(PARAM:VALUE, ...) [= HANDLE]`;
  a larger PRIORITY wins (p4c hands bmv2 `10000 - PRIORITY`, and bmv2 prefers
  smaller numbers).
* values are decimal, `0x` hex or `0b` binary; a `*` hex/binary digit is a
  don't-care digit (ternary), `V&&&M` an explicit mask, `V/LEN` an lpm prefix
  and `LOW->HIGH` (bmv2 CLI) or `LOW..HIGH` a range.
* `setdefault TABLE ACTION(...)`, `packet PORT HEX`, `expect PORT HEX` where
  `*` is a don't-care nibble and a final `$` demands the exact length,
  `expect PORT` alone (any packets on that port are accepted), `wait`.
* `check_counter NAME(INDEX|$HANDLE) [packets|bytes] OP N`.
* simple_switch_CLI commands p4c passes through: `register_read`,
  `register_write`, `register_reset`, `mc_mgrp_create`, `mc_node_create`,
  `mc_node_associate`, `mirroring_add`, `mirroring_add_mc`, `meter_set_rates`,
  `meter_array_set_rates`.
* p4sim additions for what p4c's STF cannot express:
  `check_register NAME(INDEX) OP N`, `expect_digest NAME(MEMBER:VALUE, ...)`
  and `value_set_add NAME VALUE[&&&MASK] ...` (one value per select key).

Anything else is an `STFError` naming the file and line: a test that silently
skips a line it did not understand would pass for the wrong reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from p4sim.errors import STFError

COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")


@dataclass(frozen=True)
class Number:
    """A value as written. `care` masks the bits written as real digits (a `*`
    digit contributes zero bits to both `value` and `care`); it is None for a
    decimal number, whose every bit counts. `bits` is how many bits the
    written digits span (None for decimal), which p4c uses to size masks and
    prefixes."""

    value: int
    care: int | None
    bits: int | None
    text: str

    @property
    def has_wildcards(self) -> bool:
        return self.care is not None and self.bits is not None and self.care != (1 << self.bits) - 1


@dataclass(frozen=True)
class Masked:
    """`VALUE&&&MASK`."""

    value: Number
    mask: Number


@dataclass(frozen=True)
class Prefix:
    """`VALUE/LENGTH`."""

    value: Number
    length: int


@dataclass(frozen=True)
class Span:
    """`LOW->HIGH` or `LOW..HIGH`, both ends included."""

    low: Number
    high: Number


KeyValue = Number | Masked | Prefix | Span


@dataclass(frozen=True)
class KeyMatch:
    name: str
    value: KeyValue


@dataclass(frozen=True)
class Call:
    """`NAME(ARG:VALUE, ...)`: an action with its data, or a digest with the
    member values it must carry."""

    name: str
    args: tuple[tuple[str, Number], ...]


@dataclass(frozen=True)
class Add:
    line: int
    table: str
    priority: int | None
    keys: tuple[KeyMatch, ...]
    action: Call
    handle: str | None


@dataclass(frozen=True)
class SetDefault:
    line: int
    table: str
    action: Call


@dataclass(frozen=True)
class SendPacket:
    line: int
    port: int
    data: bytes


@dataclass(frozen=True)
class Expect:
    """`pattern` is upper-case hex with `*` for don't-care nibbles; None when
    the line gave no data (the port may then carry anything)."""

    line: int
    port: int
    pattern: str | None
    exact_length: bool


@dataclass(frozen=True)
class Wait:
    line: int


@dataclass(frozen=True)
class CheckCounter:
    """`index` is an int or, for a direct counter, the `= HANDLE` name of the
    entry. `kind` is "packets", "bytes" or None (then both must compare)."""

    line: int
    counter: str
    index: int | str
    kind: str | None
    op: str
    value: int


@dataclass(frozen=True)
class CheckRegister:
    line: int
    register: str
    index: int
    op: str
    value: int


@dataclass(frozen=True)
class RegisterRead:
    line: int
    register: str
    index: int


@dataclass(frozen=True)
class RegisterWrite:
    line: int
    register: str
    index: int
    value: int


@dataclass(frozen=True)
class RegisterReset:
    line: int
    register: str


@dataclass(frozen=True)
class McGroupCreate:
    line: int
    group: int


@dataclass(frozen=True)
class McNodeCreate:
    """Node handles are numbered 0, 1, ... in creation order, as bmv2 does."""

    line: int
    rid: int
    ports: tuple[int, ...]


@dataclass(frozen=True)
class McNodeAssociate:
    line: int
    group: int
    node: int


@dataclass(frozen=True)
class MirroringAdd:
    """A clone session to one port, or (`group` set) to a multicast group."""

    line: int
    session: int
    port: int | None
    group: int | None


@dataclass(frozen=True)
class MeterRates:
    """bmv2 CLI rates: (rate per microsecond, burst) for the committed then the
    peak bucket. `index` None means every cell of the array; a str is the
    handle of a table entry (direct meter)."""

    line: int
    meter: str
    index: int | str | None
    rates: tuple[tuple[float, int], tuple[float, int]]


@dataclass(frozen=True)
class ValueSetAdd:
    """One member of a parser value_set: a plain value or VALUE&&&MASK per
    element of the select key."""

    line: int
    value_set: str
    values: tuple[Number | Masked, ...]


@dataclass(frozen=True)
class ExpectDigest:
    line: int
    digest: Call


Command = (
    Add
    | SetDefault
    | SendPacket
    | Expect
    | Wait
    | CheckCounter
    | CheckRegister
    | RegisterRead
    | RegisterWrite
    | RegisterReset
    | McGroupCreate
    | McNodeCreate
    | McNodeAssociate
    | MirroringAdd
    | MeterRates
    | ExpectDigest
    | ValueSetAdd
)


@dataclass(frozen=True)
class Script:
    path: str
    commands: tuple[Command, ...]


def parse_stf_file(path: str | Path) -> Script:
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise STFError(f"{p}: error: cannot read STF file: {exc}") from exc
    return parse_stf(text, str(p))


def parse_stf(text: str, filename: str = "<stf>") -> Script:
    commands: list[Command] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        handler = _HANDLERS.get(word.lower())
        if handler is None:
            raise STFError(f"{filename}:{number}: error: unknown STF command '{word}'")
        try:
            commands.append(handler(number, rest.strip()))
        except _Malformed as exc:
            raise STFError(f"{filename}:{number}: error: {exc}") from None
    return Script(filename, tuple(commands))


class _Malformed(Exception):
    """A problem in one line; parse_stf adds the file and line."""


# ---------------------------------------------------------------- numbers

_DIGITS = {"0x": (16, 4), "0b": (2, 1), "0o": (8, 3)}


def parse_number(text: str) -> Number:
    """Read one STF number (see `Number`)."""
    lower = text.lower()
    base_bits = _DIGITS.get(lower[:2])
    if base_bits is None:
        if not text.isdigit():
            raise _Malformed(f"bad number '{text}'")
        return Number(int(text), None, None, text)
    base, bits_per_digit = base_bits
    digits = lower[2:]
    if not digits:
        raise _Malformed(f"bad number '{text}'")
    value = care = 0
    full = (1 << bits_per_digit) - 1
    for digit in digits:
        value <<= bits_per_digit
        care <<= bits_per_digit
        if digit == "*":
            continue
        try:
            d = int(digit, base)
        except ValueError:
            raise _Malformed(f"bad number '{text}'") from None
        value |= d
        care |= full
    return Number(value, care, len(digits) * bits_per_digit, text)


def _parse_int(text: str, what: str) -> int:
    try:
        number = parse_number(text)
    except _Malformed:
        raise _Malformed(f"bad {what} '{text}'") from None
    if number.has_wildcards:
        raise _Malformed(f"{what} '{text}' cannot contain '*'")
    return number.value


# ---------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<name>\$?[A-Za-z_][A-Za-z0-9_$]*(?:\[[0-9]+\])?(?:\.[A-Za-z_$][A-Za-z0-9_$]*(?:\[[0-9]+\])?)*)
    | (?P<number>[0-9][0-9A-Za-z*]*)
    | (?P<punct>&&&|->|\.\.|==|!=|<=|>=|[<>():,=/])
    )""",
    re.VERBOSE,
)


@dataclass
class _Tokens:
    items: list[tuple[str, str]]
    pos: int = 0

    @classmethod
    def of(cls, text: str) -> _Tokens:
        items: list[tuple[str, str]] = []
        at = 0
        while at < len(text):
            if text[at:].strip() == "":
                break
            m = _TOKEN.match(text, at)
            if m is None or m.end() == at:
                raise _Malformed(f"unexpected character '{text[at:].strip()[0]}'")
            kind = m.lastgroup or ""
            items.append((kind, m.group(kind)))
            at = m.end()
        return cls(items)

    def peek(self, offset: int = 0) -> tuple[str, str]:
        i = self.pos + offset
        return self.items[i] if i < len(self.items) else ("end", "end of line")

    def take(self, kind: str, value: str | None = None) -> str:
        k, v = self.peek()
        if k != kind or (value is not None and v != value):
            wanted = f"'{value}'" if value is not None else kind
            raise _Malformed(f"expected {wanted}, found '{v}'")
        self.pos += 1
        return v

    def accept(self, value: str) -> bool:
        if self.peek() == ("punct", value):
            self.pos += 1
            return True
        return False

    def at_end(self) -> bool:
        return self.pos >= len(self.items)

    def end(self) -> None:
        if not self.at_end():
            raise _Malformed(f"unexpected '{self.peek()[1]}' at end of line")


def _key_value(tokens: _Tokens) -> KeyValue:
    first = parse_number(tokens.take("number"))
    if tokens.accept("&&&"):
        return Masked(first, parse_number(tokens.take("number")))
    if tokens.accept("/"):
        length = parse_number(tokens.take("number"))
        if length.care is not None:
            raise _Malformed(f"prefix length '{length.text}' must be decimal")
        return Prefix(first, length.value)
    if tokens.accept("->") or tokens.accept(".."):
        return Span(first, parse_number(tokens.take("number")))
    return first


def _call(tokens: _Tokens) -> Call:
    name = tokens.take("name")
    tokens.take("punct", "(")
    args: list[tuple[str, Number]] = []
    if not tokens.accept(")"):
        while True:
            arg = tokens.take("name")
            tokens.take("punct", ":")
            args.append((arg, parse_number(tokens.take("number"))))
            if tokens.accept(")"):
                break
            tokens.take("punct", ",")
    seen = [a for a, _ in args]
    duplicates = sorted({a for a in seen if seen.count(a) > 1})
    if duplicates:
        raise _Malformed(f"argument '{duplicates[0]}' given twice")
    return Call(name, tuple(args))


def _is_key_start(tokens: _Tokens) -> bool:
    """`name:` or `name():` (a validity key written as p4c names it)."""
    if tokens.peek()[0] != "name":
        return False
    if tokens.peek(1) == ("punct", ":"):
        return True
    return (
        tokens.peek(1) == ("punct", "(")
        and tokens.peek(2) == ("punct", ")")
        and (tokens.peek(3) == ("punct", ":"))
    )


# ---------------------------------------------------------------- commands


def _add(line: int, rest: str) -> Add:
    tokens = _Tokens.of(rest)
    table = tokens.take("name")
    priority = None
    kind, value = tokens.peek()
    if kind == "number":
        if not value.isdigit():
            raise _Malformed(f"priority '{value}' must be a decimal number")
        priority = int(value)
        tokens.pos += 1
    keys: list[KeyMatch] = []
    while _is_key_start(tokens):
        name = tokens.take("name")
        if tokens.accept("("):
            tokens.take("punct", ")")
            name += "()"
        tokens.take("punct", ":")
        keys.append(KeyMatch(name, _key_value(tokens)))
    if tokens.peek()[0] != "name":
        raise _Malformed(f"expected KEY:VALUE or ACTION(...), found '{tokens.peek()[1]}'")
    action = _call(tokens)
    handle = None
    if tokens.accept("="):
        handle = tokens.take("name")
    tokens.end()
    names = [k.name for k in keys]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _Malformed(f"key '{duplicates[0]}' given twice")
    return Add(line, table, priority, tuple(keys), action, handle)


def _setdefault(line: int, rest: str) -> SetDefault:
    tokens = _Tokens.of(rest)
    table = tokens.take("name")
    action = _call(tokens)
    tokens.end()
    return SetDefault(line, table, action)


def _port_and_data(rest: str) -> tuple[int, str]:
    port_text, _, data = rest.partition(" ")
    if not port_text:
        raise _Malformed("missing port")
    if not port_text.isdigit():
        raise _Malformed(f"bad port '{port_text}'")
    return int(port_text), "".join(data.split())


def _packet(line: int, rest: str) -> SendPacket:
    port, data = _port_and_data(rest)
    if not data:
        raise _Malformed("packet without data")
    if re.fullmatch(r"[0-9A-Fa-f]*", data) is None:
        raise _Malformed(f"packet data must be hex digits, found '{data}'")
    if len(data) % 2:
        raise _Malformed(f"packet data has an odd number of hex digits ({len(data)})")
    return SendPacket(line, port, bytes.fromhex(data))


def _expect(line: int, rest: str) -> Expect:
    port, data = _port_and_data(rest)
    if not data:
        return Expect(line, port, None, False)
    exact = data.endswith("$")
    pattern = data[:-1] if exact else data
    if re.fullmatch(r"[0-9A-Fa-f*]+", pattern) is None:
        raise _Malformed(f"expected data must be hex digits or '*', found '{data}'")
    return Expect(line, port, pattern.upper(), exact)


def _wait(line: int, rest: str) -> Wait:
    if rest:
        raise _Malformed(f"wait takes no arguments, found '{rest}'")
    return Wait(line)


def _comparison(tokens: _Tokens) -> tuple[str, int]:
    kind, op = tokens.peek()
    if kind != "punct" or op not in COMPARISONS:
        raise _Malformed(f"expected a comparison ({' '.join(COMPARISONS)}), found '{op}'")
    tokens.pos += 1
    value = parse_number(tokens.take("number"))
    if value.has_wildcards:
        raise _Malformed(f"value '{value.text}' cannot contain '*'")
    return op, value.value


def _indexed(tokens: _Tokens) -> tuple[str, int | str]:
    name = tokens.take("name")
    tokens.take("punct", "(")
    kind, text = tokens.peek()
    tokens.pos += 1
    index: int | str
    if kind == "name" and text.startswith("$"):
        index = text[1:]
    elif kind == "number":
        index = _parse_int(text, "index")
    else:
        raise _Malformed(f"expected an index or $HANDLE, found '{text}'")
    tokens.take("punct", ")")
    return name, index


def _check_counter(line: int, rest: str) -> CheckCounter:
    tokens = _Tokens.of(rest)
    name, index = _indexed(tokens)
    kind: str | None = None
    if tokens.at_end():
        tokens.end()
        return CheckCounter(line, name, index, None, "==", 0)
    if tokens.peek()[0] == "name":
        kind = tokens.take("name").lower()
        if kind not in ("packets", "bytes"):
            raise _Malformed(f"expected 'packets' or 'bytes', found '{kind}'")
    op, value = _comparison(tokens)
    tokens.end()
    return CheckCounter(line, name, index, kind, op, value)


def _check_register(line: int, rest: str) -> CheckRegister:
    tokens = _Tokens.of(rest)
    name, index = _indexed(tokens)
    if isinstance(index, str):
        raise _Malformed("registers are indexed by number, not by entry handle")
    op, value = _comparison(tokens)
    tokens.end()
    return CheckRegister(line, name, index, op, value)


def _words(rest: str, count: int | None, usage: str) -> list[str]:
    words = rest.split()
    if count is not None and len(words) != count:
        raise _Malformed(f"usage: {usage}")
    return words


def _register_read(line: int, rest: str) -> RegisterRead:
    name, index = _words(rest, 2, "register_read REGISTER INDEX")
    return RegisterRead(line, name, _parse_int(index, "index"))


def _register_write(line: int, rest: str) -> RegisterWrite:
    name, index, value = _words(rest, 3, "register_write REGISTER INDEX VALUE")
    return RegisterWrite(line, name, _parse_int(index, "index"), _parse_int(value, "value"))


def _register_reset(line: int, rest: str) -> RegisterReset:
    (name,) = _words(rest, 1, "register_reset REGISTER")
    return RegisterReset(line, name)


def _mc_mgrp_create(line: int, rest: str) -> McGroupCreate:
    (group,) = _words(rest, 1, "mc_mgrp_create GROUP")
    return McGroupCreate(line, _parse_int(group, "group"))


def _mc_node_create(line: int, rest: str) -> McNodeCreate:
    words = _words(rest, None, "mc_node_create RID PORT...")
    if "|" in words:
        raise _Malformed("LAG members ('| LAG...') are not supported")
    if not words:
        raise _Malformed("usage: mc_node_create RID PORT...")
    rid, *ports = words
    return McNodeCreate(line, _parse_int(rid, "rid"), tuple(_parse_int(p, "port") for p in ports))


def _mc_node_associate(line: int, rest: str) -> McNodeAssociate:
    group, node = _words(rest, 2, "mc_node_associate GROUP NODE_HANDLE")
    return McNodeAssociate(line, _parse_int(group, "group"), _parse_int(node, "node handle"))


def _mirroring_add(line: int, rest: str) -> MirroringAdd:
    session, port = _words(rest, 2, "mirroring_add SESSION PORT")
    return MirroringAdd(line, _parse_int(session, "session"), _parse_int(port, "port"), None)


def _mirroring_add_mc(line: int, rest: str) -> MirroringAdd:
    session, group = _words(rest, 2, "mirroring_add_mc SESSION GROUP")
    return MirroringAdd(line, _parse_int(session, "session"), None, _parse_int(group, "group"))


def _rate(text: str) -> tuple[float, int]:
    rate, sep, burst = text.partition(":")
    try:
        if not sep:
            raise ValueError
        value = (float(rate), int(burst, 0))
    except ValueError:
        raise _Malformed(f"bad rate '{text}' (expected RATE:BURST)") from None
    if value[0] < 0 or value[1] < 0:
        raise _Malformed(f"bad rate '{text}' (negative)")
    return value


def _meter_set_rates(line: int, rest: str) -> MeterRates:
    name, index, committed, peak = _words(
        rest, 4, "meter_set_rates METER INDEX|$HANDLE CIR:CBURST PIR:PBURST"
    )
    where: int | str = index[1:] if index.startswith("$") else _parse_int(index, "index")
    return MeterRates(line, name, where, (_rate(committed), _rate(peak)))


def _meter_array_set_rates(line: int, rest: str) -> MeterRates:
    name, committed, peak = _words(rest, 3, "meter_array_set_rates METER CIR:CBURST PIR:PBURST")
    return MeterRates(line, name, None, (_rate(committed), _rate(peak)))


def _expect_digest(line: int, rest: str) -> ExpectDigest:
    tokens = _Tokens.of(rest)
    digest = _call(tokens)
    tokens.end()
    return ExpectDigest(line, digest)


def _value_set_add(line: int, rest: str) -> ValueSetAdd:
    tokens = _Tokens.of(rest)
    name = tokens.take("name")
    values: list[Number | Masked] = []
    while not tokens.at_end():
        value = _key_value(tokens)
        if not isinstance(value, Number | Masked):
            raise _Malformed("value_set members are VALUE or VALUE&&&MASK")
        values.append(value)
    if not values:
        raise _Malformed("usage: value_set_add VALUE_SET VALUE[&&&MASK]...")
    return ValueSetAdd(line, name, tuple(values))


_HANDLERS: dict[str, Callable[[int, str], Command]] = {
    "add": _add,
    "setdefault": _setdefault,
    "packet": _packet,
    "expect": _expect,
    "wait": _wait,
    "check_counter": _check_counter,
    "check_register": _check_register,
    "register_read": _register_read,
    "register_write": _register_write,
    "register_reset": _register_reset,
    "mc_mgrp_create": _mc_mgrp_create,
    "mc_node_create": _mc_node_create,
    "mc_node_associate": _mc_node_associate,
    "mirroring_add": _mirroring_add,
    "mirroring_add_mc": _mirroring_add_mc,
    "meter_set_rates": _meter_set_rates,
    "meter_array_set_rates": _meter_array_set_rates,
    "expect_digest": _expect_digest,
    "value_set_add": _value_set_add,
}
