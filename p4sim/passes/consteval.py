"""Compile-time evaluation of P4 operators on Python values.

The type checker folds every constant expression with these functions, and
the code generator emits Python that computes the same results at run time
(`p4sim/passes/exprgen.py`); `tests/unit/test_semantics_widths.py` checks that both
agree. Values follow docs/p4sim-internals.md: `bit<W>`/`int<W>` are ints in
`[0, 2**W)` (two's complement for signed), `int` is unbounded, `bool` is bool.
"""

from __future__ import annotations

from p4sim import limits
from p4sim.errors import SourcePos, TypeCheckError
from p4sim.runtime.types import BitT, BoolT, EnumT, InfIntT, NewT, Type, strip_newtype

Value = int | bool | str


def signed_value(value: int, width: int) -> int:
    """Interpret a `width`-bit pattern as two's complement."""
    if width == 0:
        return 0
    sign = 1 << (width - 1)
    return (value ^ sign) - sign


def fit(value: int, t: Type) -> int:
    """Wrap an unbounded integer into the representation of `t`."""
    t = strip_newtype(t)
    if isinstance(t, BitT):
        return value & t.mask
    if isinstance(t, EnumT) and t.underlying is not None:
        return value & t.underlying.mask
    return value


def numeric(value: int, t: Type) -> int:
    """The mathematical value of a stored integer of type `t`."""
    t = strip_newtype(t)
    if isinstance(t, BitT) and t.signed:
        return signed_value(value, t.width)
    return value


def _saturate(value: int, t: BitT) -> int:
    if t.signed:
        lo, hi = -(1 << (t.width - 1)), (1 << (t.width - 1)) - 1
    else:
        lo, hi = 0, t.mask
    return fit(min(max(value, lo), hi), t)


def binary(op: str, left: Value, right: Value, left_t: Type, right_t: Type,
           result_t: Type, pos: SourcePos) -> Value:
    """`left op right` where the operands already have their final types."""
    if op == "&&":
        return bool(left) and bool(right)
    if op == "||":
        return bool(left) or bool(right)
    if isinstance(left, bool) or isinstance(right, bool) or isinstance(left, str):
        if op == "==":
            return left == right
        if op == "!=":
            return left != right
        raise TypeCheckError(pos, f"operator {op} cannot be applied to {left_t}")
    a, b = int(left), int(right)
    na, nb = numeric(a, left_t), numeric(b, right_t)
    bt = strip_newtype(result_t)
    if op in ("==", "!="):
        return (na == nb) == (op == "==")
    if op in ("<", "<=", ">", ">="):
        return {"<": na < nb, "<=": na <= nb, ">": na > nb, ">=": na >= nb}[op]
    if op == "++":
        rw = strip_newtype(right_t)
        assert isinstance(rw, BitT)
        return fit((a << rw.width) | b, result_t)
    if op in ("<<", ">>"):
        if nb < 0:
            raise TypeCheckError(pos, f"shift by a negative amount ({nb})")
        if op == "<<":
            if isinstance(bt, BitT) and nb >= bt.width:
                return 0
            if na and nb > limits.MAX_INT_BITS:
                raise TypeCheckError(pos, f"shift by {nb}: p4sim computes with at most "
                                     f"{limits.MAX_INT_BITS}-bit constants")
            return _bounded(fit(na << nb, result_t), pos)
        return fit(na >> nb, result_t)
    if op in ("|+|", "|-|"):
        assert isinstance(bt, BitT)
        return _saturate(na + nb if op == "|+|" else na - nb, bt)
    if op in ("/", "%"):
        if nb == 0:
            raise TypeCheckError(pos, "division by zero")
        if na < 0 or nb < 0:
            raise TypeCheckError(pos, f"operator {op} is only defined on non-negative values")
        return fit(na // nb if op == "/" else na % nb, result_t)
    ops = {
        "+": lambda: na + nb, "-": lambda: na - nb, "*": lambda: na * nb,
        "&": lambda: a & b if not isinstance(bt, InfIntT) else na & nb,
        "|": lambda: a | b if not isinstance(bt, InfIntT) else na | nb,
        "^": lambda: a ^ b if not isinstance(bt, InfIntT) else na ^ nb,
    }
    if op not in ops:
        raise TypeCheckError(pos, f"unknown operator {op}")
    return _bounded(fit(ops[op](), result_t), pos)


def _bounded(value: int, pos: SourcePos) -> int:
    """An `int` result (fixed-width ones are masked already) within p4sim's bound."""
    limits.check_int(value, pos)
    return value


def unary(op: str, value: Value, t: Type, pos: SourcePos) -> Value:
    if op == "!":
        return not value
    v = int(value)
    bt = strip_newtype(t)
    if op == "-":
        return fit(-v, t)
    if op == "~":
        if not isinstance(bt, BitT):
            raise TypeCheckError(pos, "operator ~ needs a fixed-width operand")
        return v ^ bt.mask
    raise TypeCheckError(pos, f"unknown operator {op}")


def cast(value: Value, from_t: Type, to_t: Type) -> Value:
    """`(to_t) value`; the checker has already rejected illegal casts."""
    to = strip_newtype(to_t)
    if isinstance(to, BoolT):
        return bool(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        return value
    if isinstance(to, BitT | EnumT | InfIntT):
        return fit(numeric(value, from_t), to)
    if isinstance(to, NewT):
        return value
    return value


def slice_bits(value: int, hi: int, lo: int) -> int:
    return (value >> lo) & ((1 << (hi - lo + 1)) - 1)
