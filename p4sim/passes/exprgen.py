"""Expressions to Python source, with P4's width semantics inlined.

Each operator becomes a Python expression over ints that keeps the value in
its type's range (see docs/p4sim-internals.md, "Values at run time"); constant
sub-expressions were folded by the type checker and appear as literals.
Expressions that need statements first (a table apply in `t.apply().hit`, a
function call) emit them into the current block and yield a temporary.

Python refuses more than 200 nested brackets, so each operator nests its
operands at most two deep and leans on Python's precedence for the rest
(`a + b & m` is `(a + b) & m`); with p4sim's bound on P4 expression nesting
the generated expressions stay well inside Python's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from p4sim import limits
from p4sim.errors import SourcePos, UnsupportedError
from p4sim.frontend import ir
from p4sim.passes.declcheck import CheckedProgram
from p4sim.passes.resolve import Sym
from p4sim.runtime.types import (
    BitT,
    BoolT,
    EnumT,
    StackT,
    StructLikeT,
    Type,
    VarbitT,
    strip_newtype,
)


class Emitter:
    """Lines of Python with indentation.

    `where` is the statement being generated, where an error about the
    generated code's shape is reported.
    """

    def __init__(self, indent: int = 1) -> None:
        self.lines: list[str] = []
        self.indent = indent
        self._n = 0
        self.where: SourcePos | None = None

    def line(self, text: str) -> None:
        self.lines.append("    " * self.indent + text)

    def deeper(self) -> None:
        """Indent one more level, within what Python's tokenizer accepts."""
        self.indent += 1
        if self.indent > limits.MAX_GENERATED_INDENT:
            raise UnsupportedError(self.where, "generated code nested more than "
                                   f"{limits.MAX_GENERATED_INDENT} blocks deep (statements, "
                                   "inlined actions and functions, ?: && || around calls)")

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self.line(header)
        self.deeper()
        start = len(self.lines)
        yield
        if len(self.lines) == start:
            self.line("pass")
        self.indent -= 1

    def tmp(self, hint: str = "t") -> str:
        self._n += 1
        return f"_{hint}{self._n}"


def literal(value: object) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value) if -1000000 < value < 1000000 else hex(value)
    return repr(value)


def bits_of(t: Type) -> BitT | None:
    t = strip_newtype(t)
    if isinstance(t, EnumT):
        return t.underlying
    return t if isinstance(t, BitT) else None


class ExprGen:
    def __init__(self, checked: CheckedProgram, em: Emitter) -> None:
        self.checked = checked
        self.facts = checked.facts
        self.em = em
        self.env: dict[Sym, str] = {}
        self.const_env: dict[Sym, object] = {}
        self.in_parser = False
        self.depth = 0  # expressions and statements being generated, inlined ones included
        # Compound assignment targets -> the Python source already evaluated for them.
        self.lvalue_reads: dict[ir.Expr, str] = {}

    def error_code(self, name: str) -> int:
        return self.facts.error_codes.get(name, 0)

    # Overridden by the statement generator: calls and table applies.
    def call_value(self, e: ir.Call) -> str:
        raise NotImplementedError

    def table_result(self, e: ir.Call) -> tuple[str, str]:
        raise NotImplementedError

    def has_effects(self, e: ir.Expr) -> bool:
        """Whether evaluating `e` needs statements (calls other than isValid)."""
        if e in self.facts.consts:
            return False
        if isinstance(e, ir.Call):
            info = self.facts.calls.get(e)
            if info is not None and info.kind == "header_method" and info.name == "isValid":
                return self.has_effects(e.callee)
            return not (info is not None and info.kind == "extern_method"
                        and info.name in ("lookahead", "length"))
        return any(self.has_effects(child) for child in _children(e))

    def ex(self, e: ir.Expr) -> str:
        if e in self.facts.consts:
            return literal(self.facts.consts[e])
        method = getattr(self, "_ex_" + type(e).__name__, None)
        if method is None:
            raise UnsupportedError(e.pos, f"expression {type(e).__name__} here")
        self.enter(e.pos)
        result: str = method(e)
        self.depth -= 1
        return result

    def enter(self, pos: SourcePos) -> None:
        """One level deeper into the code being generated (the caller steps
        back out); inlining adds a body's nesting to its caller's, so the
        bound is on the sum, which keeps this generator's recursion bounded."""
        self.depth += 1
        if self.depth > limits.MAX_CODE_DEPTH:
            raise UnsupportedError(pos, f"code nested more than {limits.MAX_CODE_DEPTH} levels "
                                   "deep once actions and functions are inlined")

    def _ex_NameRef(self, e: ir.NameRef) -> str:
        sym = self.facts.refs[e]
        if sym in self.env:
            return self.env[sym]
        if sym in self.const_env:
            return literal(self.const_env[sym])
        raise UnsupportedError(e.pos, f"'{e.name}' used as a value here")

    def _ex_Member(self, e: ir.Member) -> str:
        kind = self.facts.members.get(e)
        if kind == "field":
            return f"{self.ex(e.expr)}.f_{e.member}"
        # In a parser an empty or full stack is a StackOutOfBounds error; in a
        # control the access reaches a throwaway invalid header instead.
        if kind == "next":
            stack = self.ex(e.expr)
            return f"{stack}.nxt()" if self.in_parser else f"{stack}.at({stack}.nxt_i)"
        if kind == "last":
            stack = self.ex(e.expr)
            return f"{stack}.last()" if self.in_parser else f"{stack}.at({stack}.nxt_i - 1)"
        if kind == "lastIndex":
            return f"({self.ex(e.expr)}.nxt_i - 1 & 0xffffffff)"
        if kind in ("hit", "miss", "action_run"):
            assert isinstance(e.expr, ir.Call)
            hit, action = self.table_result(e.expr)
            return {"hit": hit, "miss": f"(not {hit})", "action_run": action}[kind]
        raise UnsupportedError(e.pos, f"member '{e.member}' here")

    def _ex_Index(self, e: ir.Index) -> str:
        base = self.ex(e.expr)
        if e.index in self.facts.consts:
            return f"{base}.hs[{self.facts.consts[e.index]}]"
        return f"{base}.at({self.ex(e.index)})"

    def _ex_Slice(self, e: ir.Slice) -> str:
        hi, lo = self.facts.consts[e.hi], self.facts.consts[e.lo]
        assert isinstance(hi, int) and isinstance(lo, int)
        mask = (1 << (hi - lo + 1)) - 1
        base = self.ex(e.expr)
        if lo == 0:
            return f"({base} & {mask:#x})"
        return f"({base} >> {lo} & {mask:#x})"

    def _ex_Unary(self, e: ir.Unary) -> str:
        v = self.ex(e.operand)
        if e.op == "!":
            return f"(not {v})"
        b = bits_of(e.type)
        assert b is not None
        if e.op == "-":
            return f"(-{v} & {b.mask:#x})"
        return f"({v} ^ {b.mask:#x})"

    def _short_circuit(self, e: ir.Binary) -> str:
        result = self.em.tmp("b")
        self.em.line(f"{result} = {self.ex(e.left)}")
        test = result if e.op == "&&" else f"not {result}"
        with self.em.block(f"if {test}:"):
            self.em.line(f"{result} = {self.ex(e.right)}")
        return result

    def _ex_Binary(self, e: ir.Binary) -> str:
        op = e.op
        if op in ("&&", "||"):
            if self.has_effects(e.right):
                return self._short_circuit(e)
            return f"({self.ex(e.left)} {'and' if op == '&&' else 'or'} {self.ex(e.right)})"
        a = self.ex(e.left)
        if self.has_effects(e.right) and e.left not in self.facts.consts:
            # P4 evaluates left to right: the right operand's call (an inout
            # argument, a write in an action) must not change what the left read.
            tmp = self.em.tmp("l")
            self.em.line(f"{tmp} = {a}")
            a = tmp
        b = self.ex(e.right)
        lt = bits_of(e.left.type)
        rt = bits_of(e.right.type)
        t = bits_of(e.type)
        if op in ("==", "!="):
            if isinstance(strip_newtype(e.left.type), StructLikeT | StackT):
                return f"({'' if op == '==' else 'not '}equal({a}, {b}))"
            if isinstance(strip_newtype(e.left.type), VarbitT):
                # bmv2 compares a varbit's value, not its length.
                return f"({a}[1] {op} {b}[1])"
            return f"({a} {op} {b})"
        if op in ("<", "<=", ">", ">="):
            if lt is not None and lt.signed:
                sign = 1 << (lt.width - 1)
                return f"({a} ^ {sign:#x} {op} {b} ^ {sign:#x})"
            return f"({a} {op} {b})"
        assert t is not None
        mask = f"{t.mask:#x}"
        if op in ("+", "-", "*"):
            return f"({a} {op} {b} & {mask})"
        if op in ("&", "|", "^"):
            return f"({a} {op} {b})"
        if op == "/":
            return f"div({a}, {b})"
        if op == "%":
            return f"mod({a}, {b})"
        if op == "++":
            assert rt is not None
            return f"({a} << {rt.width} | {b})"
        if op == "<<":
            amount = self.facts.consts.get(e.right)
            if isinstance(amount, int):
                return "0" if amount >= t.width else f"({a} << {amount} & {mask})"
            return f"shl({a}, {b}, {t.width})"
        if op == ">>":
            if t.signed:
                sign = 1 << (t.width - 1)
                amount = self.facts.consts.get(e.right)
                shift = str(min(int(amount), t.width)) if isinstance(amount, int) else \
                    f"min({b}, {t.width})"
                return f"(({a} ^ {sign:#x}) - {sign:#x} >> {shift} & {mask})"
            return f"({a} >> {b})"
        if op == "|+|":
            if t.signed:  # signed a + b is (a ^ sign) + (b ^ sign) - 2 * sign
                sign = 1 << (t.width - 1)
                return f"sat_signed(({a} ^ {sign:#x}) + ({b} ^ {sign:#x}) - {2 * sign:#x}, " \
                    f"{t.width})"
            return f"min({a} + {b}, {mask})"
        if op == "|-|":
            if t.signed:  # the signs cancel
                sign = 1 << (t.width - 1)
                return f"sat_signed(({a} ^ {sign:#x}) - ({b} ^ {sign:#x}), {t.width})"
            return f"max({a} - {b}, 0)"
        raise UnsupportedError(e.pos, f"operator {op}")

    def _ex_Ternary(self, e: ir.Ternary) -> str:
        if self.has_effects(e.then) or self.has_effects(e.otherwise):
            result = self.em.tmp("c")
            with self.em.block(f"if {self.ex(e.cond)}:"):
                self.em.line(f"{result} = {self.ex(e.then)}")
            with self.em.block("else:"):
                self.em.line(f"{result} = {self.ex(e.otherwise)}")
            return result
        return f"({self.ex(e.then)} if {self.ex(e.cond)} else {self.ex(e.otherwise)})"

    def _ex_Cast(self, e: ir.Cast) -> str:
        v = self.ex(e.expr)
        src, dst = strip_newtype(e.expr.type), strip_newtype(e.type)
        if isinstance(dst, BoolT):
            return v if isinstance(src, BoolT) else f"({v} != 0)"
        if isinstance(src, BoolT):
            return f"(1 if {v} else 0)"
        sb, db = bits_of(src), bits_of(dst)
        if sb is None or db is None or sb == db:
            return v
        if sb.signed and db.width > sb.width:  # sign-extend
            sign = 1 << (sb.width - 1)
            return f"(({v} ^ {sign:#x}) - {sign:#x} & {db.mask:#x})"
        if db.width < sb.width:
            return f"({v} & {db.mask:#x})"
        return v

    def _ex_Call(self, e: ir.Call) -> str:
        return self.call_value(e)

    def _ex_LValueRead(self, e: ir.LValueRead) -> str:
        return self.lvalue_reads[e.target]

    def _ex_ListExpr(self, e: ir.ListExpr) -> str:
        if isinstance(strip_newtype(e.type), StackT):
            raise UnsupportedError(e.pos, "stack initializer")
        return "(" + "".join(self.ex(x) + ", " for x in e.elements) + ")"


def _children(e: ir.Expr) -> list[ir.Expr]:
    if isinstance(e, ir.Member):
        return [e.expr]
    if isinstance(e, ir.Index):
        return [e.expr, e.index]
    if isinstance(e, ir.Slice):
        return [e.expr]
    if isinstance(e, ir.Unary):
        return [e.operand]
    if isinstance(e, ir.Binary):
        return [e.left, e.right]
    if isinstance(e, ir.Ternary):
        return [e.cond, e.then, e.otherwise]
    if isinstance(e, ir.Cast):
        return [e.expr]
    if isinstance(e, ir.ListExpr):
        return list(e.elements)
    if isinstance(e, ir.StructInitExpr):
        return [v for _, v in e.fields]
    return []
