"""Type checking of expressions and calls, with P4's int literal inference.

Every expression gets its type in `Expr.type`. Constant expressions are folded
as they are checked (`Facts.consts`), so a literal whose width is inferred from
its context (`x + 1` with `x: bit<8>`) simply gets the context's type and the
folded value wrapped to it. What each name and call refers to is recorded in
`Facts` for the code generator. Declarations and statements are checked by
`p4sim.passes.declcheck`, which extends this class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from p4sim import limits
from p4sim.errors import TypeCheckError, UnsupportedError
from p4sim.frontend import ir
from p4sim.passes import consteval
from p4sim.passes.resolve import Scope, Sym
from p4sim.passes.typeops import has_typevar, same_type, serializable_base, subst, unify
from p4sim.runtime.types import (
    ActionRunT,
    ApplyResultT,
    BitT,
    BlockT,
    BoolT,
    DontCareT,
    EnumT,
    ErrorT,
    ExternT,
    HeaderT,
    HeaderUnionT,
    InfIntT,
    MatchKindT,
    MethodT,
    NewT,
    SetT,
    StackT,
    StringT,
    StructLikeT,
    TableT,
    TupleT,
    Type,
    TypeVar,
    VarbitT,
    VoidT,
    strip_newtype,
)


@dataclass
class CallInfo:
    """What a call resolved to.

    kind: "action", "function", "extern_function", "extern_method",
    "header_method" (isValid/setValid/setInvalid), "stack_method"
    (push_front/pop_front), "table_apply", "block_apply".
    `args[i]` is the argument bound to `params[i]` (None for `_` or an
    omitted optional parameter).
    """

    kind: str
    name: str
    params: list[ir.Param]
    param_types: list[Type]
    args: list[ir.Expr | None]
    result: Type
    target: Sym | None = None
    receiver: ir.Expr | None = None
    extern: str | None = None
    bindings: dict[TypeVar, Type] = field(default_factory=dict)


@dataclass
class Facts:
    """Everything the checker learned, keyed by IR node identity."""

    consts: dict[ir.Expr, consteval.Value] = field(default_factory=dict)
    refs: dict[ir.NameRef, Sym] = field(default_factory=dict)
    calls: dict[ir.Call, CallInfo] = field(default_factory=dict)
    # Member kinds: "field", "enum", "error", "next", "last", "lastIndex",
    # "size", "hit", "miss", "action_run", "method".
    members: dict[ir.Member, str] = field(default_factory=dict)
    error_codes: dict[str, int] = field(default_factory=dict)
    match_kinds: list[str] = field(default_factory=list)
    types: dict[ir.Node, Type] = field(default_factory=dict)


@dataclass(frozen=True)
class StructInitT(Type):
    """The type of `{f = a, ...}` before its context gives it a struct type."""

    names: tuple[str, ...]
    types: tuple[Type, ...]


_ARITH = {"+", "-", "*", "/", "%", "|+|", "|-|"}
_SIZE_METHODS = {"minSizeInBits", "minSizeInBytes", "maxSizeInBits", "maxSizeInBytes"}


def _size_in_bits(t: Type, maximum: bool = True) -> int | None:
    """The spec's size of a value of type `t` (validity bits not counted), or
    None for types it leaves undefined (error, enums without a
    representation, `int`, strings, externs...). A varbit counts its
    maximum width, or 0 when `maximum` is False."""
    t = strip_newtype(t)
    if isinstance(t, BitT):
        return t.width
    if isinstance(t, VarbitT):
        return t.max_width if maximum else 0
    if isinstance(t, BoolT):
        return 1
    if isinstance(t, EnumT):
        return t.underlying.width if t.underlying is not None else None
    if isinstance(t, StackT):
        element = _size_in_bits(t.element, maximum)
        return None if element is None else t.size * element
    parts: list[Type]
    if isinstance(t, TupleT):
        parts = list(t.elements)
    elif isinstance(t, StructLikeT):
        parts = [f.type for f in t.fields]
    else:
        return None
    sizes = [_size_in_bits(p, maximum) for p in parts]
    if any(s is None for s in sizes):
        return None
    known = [s for s in sizes if s is not None]
    # A header union holds one member at a time: the largest one counts.
    return max(known, default=0) if isinstance(t, HeaderUnionT) else sum(known)
_BITWISE = {"&", "|", "^"}
_COMPARE = {"==", "!=", "<", "<=", ">", ">="}


class ExprChecker:
    def __init__(self) -> None:
        self.facts = Facts()
        self.top = Scope(None, "top")

    # ------------------------------------------------------------------ helpers

    def resolve_type(self, ref: ir.TypeRef, scope: Scope) -> Type:
        raise NotImplementedError  # provided by declcheck.Checker

    def is_const(self, expr: ir.Expr) -> bool:
        return expr in self.facts.consts

    def const_int(self, expr: ir.Expr, scope: Scope, what: str) -> int:
        self.check(expr, scope)
        value = self.facts.consts.get(expr)
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeCheckError(expr.pos, f"{what} must be a compile-time integer constant")
        return consteval.numeric(value, expr.type)

    def _set(self, expr: ir.Expr, t: Type, value: consteval.Value | None = None) -> Type:
        expr.type = t
        if value is not None:
            self.facts.consts[expr] = value
        return t

    # --------------------------------------------------------------- coercions

    def coerce(self, expr: ir.Expr, target: Type, what: str = "value") -> None:
        """Give `expr` the type `target` where P4 converts implicitly, or fail."""
        src = expr.type
        if same_type(src, target) or isinstance(target, DontCareT):
            return
        t_base = strip_newtype(target)
        if isinstance(src, InfIntT) and isinstance(t_base, BitT | InfIntT):
            if expr in self.facts.consts:
                value = self.facts.consts[expr]
                assert isinstance(value, int)
                self.facts.consts[expr] = consteval.fit(value, target)
                expr.type = target
                return
            if isinstance(expr, ir.Ternary):
                self.coerce(expr.then, target, what)
                self.coerce(expr.otherwise, target, what)
                expr.type = target
                return
            if isinstance(expr, ir.Binary) and expr.op in _ARITH | _BITWISE:
                self.coerce(expr.left, target, what)
                self.coerce(expr.right, target, what)
                expr.type = target
                return
            if isinstance(expr, ir.Binary) and expr.op in ("<<", ">>"):
                self.coerce(expr.left, target, what)
                expr.type = target
                return
            if isinstance(expr, ir.Unary) and expr.op in ("-", "~"):
                self.coerce(expr.operand, target, what)
                expr.type = target
                return
        if isinstance(src, EnumT) and src.underlying is not None and same_type(
                src.underlying, t_base):
            return  # serializable enum to its underlying type: same representation
        if isinstance(src, BitT) and isinstance(target, NewT) and same_type(src, t_base):
            return
        if isinstance(src, NewT) and same_type(strip_newtype(src), target):
            return
        if isinstance(expr, ir.ListExpr | ir.StructInitExpr) and isinstance(
                target, StructLikeT | TupleT):
            self._coerce_initializer(expr, target)
            return
        if isinstance(src, TupleT) and isinstance(target, TupleT) and isinstance(
                expr, ir.ListExpr):
            self._coerce_initializer(expr, target)
            return
        raise TypeCheckError(expr.pos, f"{what}: cannot convert {src} to {target}")

    def _coerce_initializer(self, expr: ir.ListExpr | ir.StructInitExpr, target: Type) -> None:
        if isinstance(target, TupleT):
            if not isinstance(expr, ir.ListExpr) or len(expr.elements) != len(target.elements):
                raise TypeCheckError(expr.pos, f"initializer does not match {target}")
            for element, t in zip(expr.elements, target.elements, strict=True):
                self.coerce(element, t)
            expr.type = target
            return
        assert isinstance(target, StructLikeT)
        if isinstance(target, HeaderUnionT):
            raise UnsupportedError(expr.pos, "initializer for a header_union")
        if isinstance(expr, ir.ListExpr):
            if len(expr.elements) != len(target.fields):
                raise TypeCheckError(
                    expr.pos, f"initializer has {len(expr.elements)} values for "
                    f"{len(target.fields)} fields of {target.name}")
            for element, f in zip(expr.elements, target.fields, strict=True):
                self.coerce(element, f.type, f"field {f.name}")
        else:
            names = [n for n, _ in expr.fields]
            if sorted(names) != sorted(f.name for f in target.fields):
                raise TypeCheckError(expr.pos, f"initializer fields {names} do not match "
                                     f"the fields of {target.name}")
            for name, value in expr.fields:
                named = target.get_field(name)
                assert named is not None
                self.coerce(value, named.type, f"field {name}")
        expr.type = target

    # -------------------------------------------------------------- expressions

    def check(self, expr: ir.Expr, scope: Scope, expected: Type | None = None) -> Type:
        """Type `expr`; `expected` guides literal inference but is not enforced."""
        method = getattr(self, "_check_" + type(expr).__name__, None)
        if method is None:
            raise UnsupportedError(expr.pos, f"expression {type(expr).__name__}")
        t: Type = method(expr, scope, expected)
        return t

    def check_value(self, expr: ir.Expr, scope: Scope, target: Type, what: str = "value") -> None:
        self.check(expr, scope, target)
        self.coerce(expr, target, what)

    def _check_IntLit(self, e: ir.IntLit, scope: Scope, expected: Type | None) -> Type:
        if e.width is None:
            limits.check_int(e.value, e.pos)
            return self._set(e, InfIntT(), e.value)
        limits.check_width(e.width, e.pos, "the width of a literal")
        t = BitT(e.width, bool(e.signed))
        if e.signed:
            lo, hi = -(1 << (e.width - 1)), (1 << (e.width - 1)) - 1
        else:
            lo, hi = 0, t.mask
        if not lo <= e.value <= hi:
            raise TypeCheckError(e.pos, f"value {e.value} does not fit in {t}")
        return self._set(e, t, consteval.fit(e.value, t))

    def _check_BoolLit(self, e: ir.BoolLit, scope: Scope, expected: Type | None) -> Type:
        return self._set(e, BoolT(), e.value)

    def _check_StringLit(self, e: ir.StringLit, scope: Scope, expected: Type | None) -> Type:
        return self._set(e, StringT(), e.value)

    def _check_Default(self, e: ir.Default, scope: Scope, expected: Type | None) -> Type:
        return self._set(e, DontCareT())

    def _check_NameRef(self, e: ir.NameRef, scope: Scope, expected: Type | None) -> Type:
        sym = scope.lookup_value(e.name, e.dotted)
        if sym is None:
            if scope.lookup_type(e.name, e.dotted) is not None:
                raise TypeCheckError(e.pos, f"type '{e.name}' used as a value")
            raise TypeCheckError(e.pos, f"'{e.name}' is not declared")
        self.facts.refs[e] = sym
        if sym.kind == "const":
            assert sym.type is not None
            return self._set(e, sym.type, sym.value)
        if sym.kind == "var":
            assert sym.type is not None
            return self._set(e, sym.type)
        if sym.kind == "table":
            return self._set(e, TableT(sym.name))
        if sym.kind in ("instance", "value_set"):
            assert sym.type is not None
            return self._set(e, sym.type)
        return self._set(e, MethodT(sym.name))

    def _type_name(self, e: ir.Expr, scope: Scope) -> Type | None:
        """The type a `NameRef`/`TypeExpr` names, if it names a type only."""
        if isinstance(e, ir.TypeExpr):
            if isinstance(e.target, ir.ErrorTypeRef):
                return ErrorT()
            return self.resolve_type(e.target, scope)
        if isinstance(e, ir.NameRef):
            if e.name == "error" and scope.lookup_value("error", e.dotted) is None:
                return ErrorT()
            if scope.lookup_value(e.name, e.dotted) is None:
                sym = scope.lookup_type(e.name, e.dotted)
                if sym is not None:
                    assert sym.type is not None
                    return sym.type
        return None

    def _check_TypeExpr(self, e: ir.TypeExpr, scope: Scope, expected: Type | None) -> Type:
        raise TypeCheckError(e.pos, "a type cannot be used as a value here")

    def _check_Member(self, e: ir.Member, scope: Scope, expected: Type | None) -> Type:
        named = self._type_name(e.expr, scope)
        if named is not None:
            return self._static_member(e, named)
        base = self.check(e.expr, scope)
        kinds = self.facts.members
        if isinstance(base, StackT):
            if e.member in ("next", "last"):
                kinds[e] = e.member
                return self._set(e, base.element)
            if e.member == "lastIndex":
                kinds[e] = "lastIndex"
                return self._set(e, BitT(32))
            if e.member == "size":
                kinds[e] = "size"
                return self._set(e, BitT(32), base.size)
            if e.member in ("push_front", "pop_front"):
                kinds[e] = "method"
                return self._set(e, MethodT(e.member))
            raise TypeCheckError(e.pos, f"header stack has no member '{e.member}'")
        if isinstance(base, StructLikeT):
            f = base.get_field(e.member)
            if f is not None:
                kinds[e] = "field"
                return self._set(e, f.type)
            if isinstance(base, HeaderT | HeaderUnionT) and e.member in (
                    "isValid", "setValid", "setInvalid"):
                if isinstance(base, HeaderUnionT) and e.member != "isValid":
                    raise TypeCheckError(e.pos, f"header_union has no method {e.member}")
                kinds[e] = "method"
                return self._set(e, MethodT(e.member))
            raise TypeCheckError(e.pos, f"{base.name} has no field '{e.member}'")
        if isinstance(base, ApplyResultT):
            if e.member in ("hit", "miss"):
                kinds[e] = e.member
                return self._set(e, BoolT())
            if e.member == "action_run":
                kinds[e] = "action_run"
                return self._set(e, ActionRunT(base.table))
        if isinstance(base, TableT | ExternT | BlockT):
            kinds[e] = "method"
            return self._set(e, MethodT(e.member))
        raise TypeCheckError(e.pos, f"a value of type {base} has no member '{e.member}'")

    def _static_member(self, e: ir.Member, t: Type) -> Type:
        if isinstance(t, ErrorT):
            code = self.facts.error_codes.get(e.member)
            if code is None:
                raise TypeCheckError(e.pos, f"error.{e.member} is not declared")
            self.facts.members[e] = "error"
            return self._set(e, ErrorT(), code)
        if isinstance(t, EnumT):
            if e.member not in t.members:
                raise TypeCheckError(e.pos, f"enum {t.name} has no member '{e.member}'")
            self.facts.members[e] = "enum"
            return self._set(e, t, t.members[e.member])
        if isinstance(t, MatchKindT):
            raise TypeCheckError(e.pos, "match_kind values cannot be used in expressions")
        raise TypeCheckError(e.pos, f"type {t} has no member '{e.member}'")

    def _check_Index(self, e: ir.Index, scope: Scope, expected: Type | None) -> Type:
        base = self.check(e.expr, scope)
        if not isinstance(base, StackT):
            raise TypeCheckError(e.pos, f"cannot index a value of type {base}")
        t = self.check(e.index, scope)
        if isinstance(t, InfIntT):
            if e.index not in self.facts.consts:
                raise TypeCheckError(e.index.pos, "index of type int must be a constant")
            self.coerce(e.index, BitT(32))
        elif not isinstance(strip_newtype(t), BitT):
            raise TypeCheckError(e.index.pos, f"index must be an integer, not {t}")
        value = self.facts.consts.get(e.index)
        if isinstance(value, int) and not 0 <= value < base.size:
            raise TypeCheckError(e.index.pos, f"index {value} is out of range for {base}")
        return self._set(e, base.element)

    def _check_Slice(self, e: ir.Slice, scope: Scope, expected: Type | None) -> Type:
        base = strip_newtype(self.check(e.expr, scope))
        base = serializable_base(base)
        hi = self.const_int(e.hi, scope, "slice bound")
        lo = self.const_int(e.lo, scope, "slice bound")
        if not isinstance(base, BitT):
            raise TypeCheckError(e.pos, f"cannot slice a value of type {e.expr.type}")
        if not 0 <= lo <= hi < base.width:
            raise TypeCheckError(e.pos, f"slice [{hi}:{lo}] is out of range for {base}")
        t = BitT(hi - lo + 1)
        value = self.facts.consts.get(e.expr)
        if isinstance(value, int) and not isinstance(value, bool):
            return self._set(e, t, consteval.slice_bits(value, hi, lo))
        return self._set(e, t)

    def _check_Unary(self, e: ir.Unary, scope: Scope, expected: Type | None) -> Type:
        t = self.check(e.operand, scope, expected)
        base = strip_newtype(t)
        if e.op == "!":
            if not isinstance(base, BoolT):
                raise TypeCheckError(e.pos, f"operator ! needs a bool, not {t}")
        elif e.op == "-":
            if not isinstance(base, BitT | InfIntT):
                raise TypeCheckError(e.pos, f"operator - needs an integer, not {t}")
        elif e.op == "~":
            if isinstance(base, InfIntT) and isinstance(expected, BitT):
                self.coerce(e.operand, expected)
                t = base = expected
            if not isinstance(base, BitT):
                raise TypeCheckError(e.pos, f"operator ~ needs a fixed-width integer, not {t}")
        value = self.facts.consts.get(e.operand)
        if value is not None:
            return self._set(e, t, consteval.unary(e.op, value, t, e.pos))
        return self._set(e, t)

    def _unify_operands(self, e: ir.Binary) -> Type:
        """Make both operands one type, inferring literal widths (`x + 1`)."""
        lt: Type = e.left.type
        rt: Type = e.right.type
        if same_type(lt, rt):
            return lt
        if isinstance(lt, InfIntT):
            self.coerce(e.left, serializable_base(rt), f"left operand of {e.op}")
            return e.left.type  # type: ignore[no-any-return]
        if isinstance(rt, InfIntT):
            self.coerce(e.right, serializable_base(lt), f"right operand of {e.op}")
            return e.right.type  # type: ignore[no-any-return]
        lb, rb = serializable_base(strip_newtype(lt)), serializable_base(strip_newtype(rt))
        if same_type(lb, rb):
            return lb
        raise TypeCheckError(e.pos, f"operator {e.op} cannot combine {lt} and {rt}"
                             " (add a cast)")

    def _check_Binary(self, e: ir.Binary, scope: Scope, expected: Type | None) -> Type:
        op = e.op
        if op in ("&&", "||"):
            self.check_value(e.left, scope, BoolT(), f"left operand of {op}")
            self.check_value(e.right, scope, BoolT(), f"right operand of {op}")
            return self._fold(e, BoolT())
        hint = expected if op not in _COMPARE else None
        lt = self.check(e.left, scope, hint)
        rt = self.check(e.right, scope, lt if not isinstance(lt, InfIntT) else hint)
        if op in ("<<", ">>"):
            rb = strip_newtype(rt)
            if isinstance(rb, BitT) and rb.signed:
                raise TypeCheckError(e.right.pos, "shift amount must be unsigned")
            if not isinstance(rb, BitT | InfIntT):
                raise TypeCheckError(e.right.pos, f"shift amount must be an integer, not {rt}")
            amount = self.facts.consts.get(e.right)
            if isinstance(amount, int) and amount < 0:
                # P4_16 8.5: the amount is unsigned or a non-negative constant.
                raise TypeCheckError(e.right.pos, f"negative shift amount {amount}: the "
                                     "amount must be unsigned or a non-negative constant")
            lb = strip_newtype(lt)
            if isinstance(lb, InfIntT) and e.right not in self.facts.consts:
                if isinstance(expected, BitT):
                    self.coerce(e.left, expected)
                    lt = lb = expected
                else:
                    raise TypeCheckError(e.pos, "shifting an int constant by a run-time "
                                         "amount: give the constant a width")
            if not isinstance(lb, BitT | InfIntT):
                raise TypeCheckError(e.left.pos, f"cannot shift a value of type {lt}")
            return self._fold(e, lt)
        if op == "++":
            lb, rb = strip_newtype(lt), strip_newtype(rt)
            lb, rb = serializable_base(lb), serializable_base(rb)
            if not isinstance(lb, BitT) or not isinstance(rb, BitT):
                raise TypeCheckError(e.pos, f"operator ++ needs fixed-width operands, not "
                                     f"{lt} and {rt}")
            limits.check_width(lb.width + rb.width, e.pos, "the width of a ++ result")
            return self._fold(e, BitT(lb.width + rb.width, lb.signed))
        t = self._unify_operands(e)
        base = strip_newtype(t)
        if op in _COMPARE:
            if op in ("==", "!="):
                if isinstance(base, TupleT):
                    raise UnsupportedError(e.pos, "== on tuples")
                if not isinstance(base, BitT | InfIntT | BoolT | EnumT | ErrorT | StructLikeT
                                  | StackT | VarbitT):
                    raise TypeCheckError(e.pos, f"cannot compare values of type {t}")
            elif not isinstance(base, BitT | InfIntT):
                raise TypeCheckError(e.pos, f"operator {op} needs integers, not {t}")
            return self._fold(e, BoolT())
        if not isinstance(base, BitT | InfIntT):
            raise TypeCheckError(e.pos, f"operator {op} needs integers, not {t}")
        if op in ("|+|", "|-|") and isinstance(base, InfIntT):
            raise TypeCheckError(e.pos, f"operator {op} needs fixed-width operands")
        if op in ("/", "%") and isinstance(base, BitT) and base.signed:
            raise TypeCheckError(e.pos, f"operator {op} is not defined on signed {t}")
        if op in ("/", "%") and self.facts.consts.get(e.right) == 0:
            raise TypeCheckError(e.right.pos, "division by zero")
        return self._fold(e, t)

    def _fold(self, e: ir.Binary, t: Type) -> Type:
        lv = self.facts.consts.get(e.left)
        rv = self.facts.consts.get(e.right)
        if lv is not None and rv is not None:
            value = consteval.binary(e.op, lv, rv, e.left.type, e.right.type, t, e.pos)
            return self._set(e, t, value)
        return self._set(e, t)

    def _check_Ternary(self, e: ir.Ternary, scope: Scope, expected: Type | None) -> Type:
        self.check_value(e.cond, scope, BoolT(), "condition")
        tt = self.check(e.then, scope, expected)
        ot = self.check(e.otherwise, scope, expected if isinstance(tt, InfIntT) else tt)
        if not same_type(tt, ot):
            if isinstance(tt, InfIntT):
                self.coerce(e.then, ot)
                tt = ot
            elif isinstance(ot, InfIntT):
                self.coerce(e.otherwise, tt)
            else:
                raise TypeCheckError(e.pos, f"?: branches have different types {tt} and {ot}")
        cond = self.facts.consts.get(e.cond)
        if cond is not None:
            chosen = e.then if cond else e.otherwise
            value = self.facts.consts.get(chosen)
            if value is not None:
                return self._set(e, tt, value)
        elif isinstance(tt, InfIntT):
            if isinstance(expected, BitT):
                self.coerce(e.then, expected)
                self.coerce(e.otherwise, expected)
                return self._set(e, expected)
            raise TypeCheckError(e.pos, "?: with int branches needs a width (add a cast)")
        return self._set(e, tt)

    def _check_Cast(self, e: ir.Cast, scope: Scope, expected: Type | None) -> Type:
        target = self.resolve_type(e.target, scope)
        src = self.check(e.expr, scope, target)
        if isinstance(e.expr, ir.ListExpr | ir.StructInitExpr):
            self.coerce(e.expr, target)
            return self._set(e, target)
        sb, tb = strip_newtype(src), strip_newtype(target)
        if not _castable(sb, tb, self.facts.consts.get(e.expr)):
            raise TypeCheckError(e.pos, f"cannot cast {src} to {target}")
        value = self.facts.consts.get(e.expr)
        if value is not None:
            return self._set(e, target, consteval.cast(value, src, target))
        return self._set(e, target)

    def _check_ListExpr(self, e: ir.ListExpr, scope: Scope, expected: Type | None) -> Type:
        hints: list[Type | None] = [None] * len(e.elements)
        if isinstance(expected, TupleT) and len(expected.elements) == len(e.elements):
            hints = list(expected.elements)
        elif isinstance(expected, StructLikeT) and len(expected.fields) == len(e.elements):
            hints = [f.type for f in expected.fields]
        types = tuple(self.check(x, scope, h) for x, h in zip(e.elements, hints, strict=True))
        return self._set(e, TupleT(types))

    def _check_StructInitExpr(self, e: ir.StructInitExpr, scope: Scope,
                              expected: Type | None) -> Type:
        types = []
        for name, value in e.fields:
            hint = expected.get_field(name) if isinstance(expected, StructLikeT) else None
            types.append(self.check(value, scope, hint.type if hint else None))
        return self._set(e, StructInitT(tuple(n for n, _ in e.fields), tuple(types)))

    def _check_LValueRead(self, e: ir.LValueRead, scope: Scope, expected: Type | None
                          ) -> Type:
        # The target was checked (as an lvalue) just before its assignment's rhs.
        return self._set(e, e.target.type)

    def _check_Mask(self, e: ir.Mask, scope: Scope, expected: Type | None) -> Type:
        raise TypeCheckError(e.pos, "&&& is only allowed in select cases and table entries")

    def _check_Range(self, e: ir.Range, scope: Scope, expected: Type | None) -> Type:
        raise TypeCheckError(e.pos, ".. is only allowed in select cases and table entries")

    def check_keyset(self, e: ir.Expr, scope: Scope, key_t: Type) -> None:
        """A select case or table entry keyset for a key of type `key_t`."""
        if isinstance(e, ir.Default):
            self._set(e, DontCareT())
            return
        if isinstance(e, ir.Mask):
            self.check_value(e.value, scope, key_t, "keyset value")
            # A serializable enum's mask is a plain value of its underlying type.
            self.check_value(e.mask, scope, serializable_base(key_t), "keyset mask")
            self._set(e, SetT(key_t))
            return
        if isinstance(e, ir.Range):
            self.check_value(e.lo, scope, key_t, "range bound")
            self.check_value(e.hi, scope, key_t, "range bound")
            self._set(e, SetT(key_t))
            return
        self.check_value(e, scope, key_t, "keyset value")

    # -------------------------------------------------------------------- calls

    def _check_Call(self, e: ir.Call, scope: Scope, expected: Type | None) -> Type:
        if isinstance(e.callee, ir.Member) and e.callee.member in _SIZE_METHODS:
            sized = self._size_method(e, e.callee, scope)
            if sized is not None:
                return sized
        info = self.resolve_call(e, scope)
        self.facts.calls[e] = info
        if info.kind == "extern_function" and info.name == "static_assert":
            return self._static_assert(e, info)
        return self._set(e, info.result)

    def _size_method(self, e: ir.Call, callee: ir.Member, scope: Scope) -> Type | None:
        """`x.minSizeInBits()` and its three siblings, on an expression or a
        type (P4_16 8.23, built into the language like in p4c): a
        compile-time `int` taken from the type alone; the expression is not
        evaluated. None when `x` is an extern, whose own methods win."""
        t = self._type_name(callee.expr, scope)
        if t is None:
            t = self.check(callee.expr, scope)
            if isinstance(t, ExternT):
                return None
        name = callee.member
        if e.args or e.type_args:
            raise TypeCheckError(e.pos, f"{name}() takes no arguments")
        bits = _size_in_bits(t, name.startswith("max"))
        if bits is None:
            raise TypeCheckError(callee.pos, f"type {t} has no size in bits")
        self.facts.members[callee] = "method"
        callee.type = MethodT(name)
        self.facts.calls[e] = CallInfo("size_method", name, [], [], [], InfIntT(),
                                       receiver=callee.expr)
        return self._set(e, InfIntT(), bits if name.endswith("Bits") else (bits + 7) // 8)

    def _static_assert(self, e: ir.Call, info: CallInfo) -> Type:
        """core.p4's `static_assert(check, message)`: checked while compiling."""
        check = info.args[0]
        assert check is not None
        if self.facts.consts.get(check) is not True:
            if check not in self.facts.consts:
                raise TypeCheckError(check.pos, "static_assert needs a compile-time condition")
            message = self.facts.consts.get(info.args[1]) if len(info.args) > 1 and \
                info.args[1] is not None else "static_assert failed"
            raise TypeCheckError(e.pos, str(message))
        return self._set(e, BoolT(), True)

    def resolve_call(self, e: ir.Call, scope: Scope) -> CallInfo:
        callee = e.callee
        if isinstance(callee, ir.NameRef):
            sym = scope.lookup_value(callee.name, callee.dotted)
            if sym is None:
                raise TypeCheckError(callee.pos, f"'{callee.name}' is not declared")
            self.facts.refs[callee] = sym
            callee.type = MethodT(sym.name)
            if sym.kind == "action":
                decl: ir.ActionDecl = sym.decl
                return self._bind(e, scope, "action", sym.name, decl.params, {}, VoidT(),
                                  target=sym, decl_scope=self.top)
            if sym.kind == "function":
                fdecl: ir.FunctionDecl = sym.decl
                rt = self.resolve_type(fdecl.return_type, self.top)
                return self._bind(e, scope, "function", sym.name, fdecl.params, {}, rt,
                                  target=sym, decl_scope=self.top)
            if sym.kind == "extern_function":
                return self._extern_function(e, scope, sym)
            raise TypeCheckError(callee.pos, f"'{callee.name}' cannot be called")
        if not isinstance(callee, ir.Member):
            raise TypeCheckError(e.pos, "this expression cannot be called")
        base = self.check(callee.expr, scope)
        name = callee.member
        self.facts.members[callee] = "method"
        callee.type = MethodT(name)
        if isinstance(base, HeaderT | HeaderUnionT) and name in (
                "isValid", "setValid", "setInvalid"):
            if e.args:
                raise TypeCheckError(e.pos, f"{name}() takes no arguments")
            if isinstance(base, HeaderUnionT) and name != "isValid":
                raise TypeCheckError(e.pos, f"header_union has no method {name}")
            if name != "isValid":
                self.require_lvalue(callee.expr, scope)
            result: Type = BoolT() if name == "isValid" else VoidT()
            return CallInfo("header_method", name, [], [], [], result, receiver=callee.expr)
        if isinstance(base, StackT) and name in ("push_front", "pop_front"):
            if len(e.args) != 1:
                raise TypeCheckError(e.pos, f"{name} takes one argument")
            count = self.const_int(e.args[0].value, scope, f"{name} count")
            if count < 0:
                raise TypeCheckError(e.pos, f"{name} count must not be negative")
            self.require_lvalue(callee.expr, scope)
            return CallInfo("stack_method", name, [], [], [e.args[0].value], VoidT(),
                            receiver=callee.expr)
        if isinstance(base, TableT) and name == "apply":
            if e.args:
                raise TypeCheckError(e.pos, "table apply() takes no arguments")
            tsym = self.facts.refs.get(callee.expr) if isinstance(callee.expr, ir.NameRef) \
                else None
            return CallInfo("table_apply", base.name, [], [], [], ApplyResultT(base.name),
                            target=tsym, receiver=callee.expr)
        if isinstance(base, BlockT) and name == "apply":
            block = base.decl
            assert isinstance(block, ir.ParserDecl | ir.ControlDecl | ir.ParserTypeDecl
                              | ir.ControlTypeDecl)
            return self._bind(e, scope, "block_apply", base.name, block.params, {}, VoidT(),
                              receiver=callee.expr, decl_scope=self.top)
        if isinstance(base, ExternT):
            return self._extern_method(e, scope, base, name, callee.expr)
        raise TypeCheckError(callee.pos, f"a value of type {base} has no method '{name}'")

    def _extern_function(self, e: ir.Call, scope: Scope, sym: Sym) -> CallInfo:
        candidates = [d for d in sym.overloads if self._arity_ok(d.params, e.args)]
        if not candidates:
            raise TypeCheckError(e.pos, f"no overload of {sym.name} takes {len(e.args)} "
                                 "arguments")
        decl: ir.ExternFunctionDecl = candidates[0]
        fscope = self._generic_scope(decl.type_params, sym.name, self.top)
        bindings = self._explicit_type_args(e, decl.type_params, fscope, scope)
        rt = self.resolve_type(decl.return_type, fscope)
        return self._bind(e, scope, "extern_function", sym.name, decl.params, bindings, rt,
                          target=sym, decl_scope=fscope)

    def _extern_method(self, e: ir.Call, scope: Scope, ext: ExternT, name: str,
                       receiver: ir.Expr) -> CallInfo:
        assert ext.decl is not None
        protos = [m for m in ext.decl.methods if m.name == name and m.return_type is not None]
        protos = [m for m in protos if self._arity_ok(m.params, e.args)]
        if not protos:
            raise TypeCheckError(e.pos, f"extern {ext.name} has no method '{name}' taking "
                                 f"{len(e.args)} arguments")
        proto = protos[0]
        escope = self._generic_scope(ext.decl.type_params, ext.name, self.top)
        bindings: dict[TypeVar, Type] = {}
        for tp, arg in zip(ext.decl.type_params, ext.type_args, strict=False):
            if not has_typevar(arg):
                bindings[TypeVar(tp, ext.name)] = arg
        mscope = self._generic_scope(proto.type_params, f"{ext.name}.{name}", escope)
        bindings.update(self._explicit_type_args(e, proto.type_params, mscope, scope,
                                                 f"{ext.name}.{name}"))
        assert proto.return_type is not None
        rt = self.resolve_type(proto.return_type, mscope)
        info = self._bind(e, scope, "extern_method", name, proto.params, bindings, rt,
                          receiver=receiver, decl_scope=mscope)
        info.extern = ext.name
        return info

    def _generic_scope(self, type_params: list[str], owner: str, parent: Scope) -> Scope:
        if not type_params:
            return parent
        gscope = Scope(parent, owner)
        for tp in type_params:
            gscope.types[tp] = Sym("type", tp, type=TypeVar(tp, owner))
        return gscope

    def _explicit_type_args(self, e: ir.Call, type_params: list[str], gscope: Scope,
                            scope: Scope, owner: str | None = None) -> dict[TypeVar, Type]:
        if not e.type_args:
            return {}
        if len(e.type_args) != len(type_params):
            raise TypeCheckError(e.pos, f"expected {len(type_params)} type arguments")
        result: dict[TypeVar, Type] = {}
        for tp, ref in zip(type_params, e.type_args, strict=True):
            sym = gscope.lookup_type(tp)
            assert sym is not None and isinstance(sym.type, TypeVar)
            result[sym.type] = self.resolve_type(ref, scope)
        return result

    @staticmethod
    def _arity_ok(params: list[ir.Param], args: list[ir.Argument]) -> bool:
        if any(a.name is not None for a in args):
            return True
        required = sum(1 for p in params if p.default is None and not any(
            n.name == "optional" for n in p.annotations))
        return required <= len(args) <= len(params)

    def _bind(self, e: ir.Call, scope: Scope, kind: str, name: str, params: list[ir.Param],
              bindings: dict[TypeVar, Type], result: Type, *, target: Sym | None = None,
              receiver: ir.Expr | None = None, decl_scope: Scope) -> CallInfo:
        """Match arguments to parameters and check each against its type.

        For an action call, only the leading parameters may be bound
        (`actions = { a(x) }`) when `kind` is "action_ref"; a direct call binds all.
        """
        slots: list[ir.Expr | None] = [None] * len(params)
        given = [False] * len(params)
        positional = True
        for i, arg in enumerate(e.args):
            if arg.name is None:
                if not positional:
                    raise TypeCheckError(arg.pos, "positional argument after a named one")
                if i >= len(params):
                    raise TypeCheckError(arg.pos, f"too many arguments to {name}")
                index = i
            else:
                positional = False
                matches = [j for j, p in enumerate(params) if p.name == arg.name]
                if not matches:
                    raise TypeCheckError(arg.pos, f"{name} has no parameter '{arg.name}'")
                index = matches[0]
            if given[index]:
                raise TypeCheckError(arg.pos, f"parameter '{params[index].name}' given twice")
            given[index] = True
            slots[index] = None if isinstance(arg.value, ir.Default) else arg.value
        ptypes = [self.resolve_type(p.type, decl_scope) for p in params]
        for i, p in enumerate(params):
            if not given[i]:
                if p.default is not None:
                    slots[i] = p.default
                    self.check(p.default, decl_scope, ptypes[i])
                elif not any(n.name == "optional" for n in p.annotations):
                    raise TypeCheckError(e.pos, f"missing argument for parameter "
                                         f"'{p.name}' of {name}")
        # First bind type variables from arguments with a definite type, then
        # check int literals against what they bound.
        deferred = []
        for i, p in enumerate(params):
            value = slots[i]
            if value is None or not given[i]:
                continue
            hint = subst(ptypes[i], bindings)
            at = self.check(value, scope, None if has_typevar(hint) else hint)
            if has_typevar(hint) and (isinstance(at, InfIntT) or (isinstance(
                    value, ir.ListExpr | ir.StructInitExpr) and _has_inf(at))):
                deferred.append(i)
                continue
            if has_typevar(hint) and not unify(hint, at, bindings):
                raise TypeCheckError(value.pos, f"argument of type {at} does not match "
                                     f"parameter '{p.name}' of type {hint}")
        for i in deferred:
            value = slots[i]
            assert value is not None
            hint = subst(ptypes[i], bindings)
            if has_typevar(hint):
                raise TypeCheckError(value.pos, f"cannot infer the width of argument "
                                     f"'{params[i].name}' of {name}: add a width or cast")
        final = [subst(t, bindings) for t in ptypes]
        for i, p in enumerate(params):
            value = slots[i]
            if value is None or not given[i]:
                continue
            if p.direction in ("out", "inout"):
                self.require_lvalue(value, scope)
                if not same_type(value.type, final[i]) and not has_typevar(final[i]):
                    base_ok = same_type(strip_newtype(value.type), strip_newtype(final[i]))
                    if not base_ok:
                        raise TypeCheckError(value.pos, f"argument of type {value.type} "
                                             f"cannot be passed as {p.direction} {final[i]}")
            elif not has_typevar(final[i]):
                self.coerce(value, final[i], f"argument '{p.name}' of {name}")
        return CallInfo(kind, name, params, final, slots, subst(result, bindings),
                        target=target, receiver=receiver, bindings=bindings)

    # ------------------------------------------------------------------ lvalues

    def require_lvalue(self, e: ir.Expr, scope: Scope) -> None:
        if isinstance(e, ir.NameRef):
            sym = self.facts.refs.get(e)
            if sym is None or sym.kind != "var":
                raise TypeCheckError(e.pos, f"'{e.name}' cannot be assigned")
            if sym.direction in ("in", "ctor") or sym.value == "readonly":
                raise TypeCheckError(e.pos, f"'{e.name}' is read-only here")
            return
        if isinstance(e, ir.Member):
            kind = self.facts.members.get(e)
            if kind not in ("field", "next", "last"):
                raise TypeCheckError(e.pos, f"'.{e.member}' cannot be assigned")
            self.require_lvalue(e.expr, scope)
            return
        if isinstance(e, ir.Index | ir.Slice):
            self.require_lvalue(e.expr, scope)
            return
        raise TypeCheckError(e.pos, "this expression cannot be assigned")


def _castable(src: Type, dst: Type, value: consteval.Value | None) -> bool:
    """The explicit casts P4_16 allows (spec 8.11.1), with p4c's latitude
    between any two fixed-width integer types."""
    if same_type(src, dst):
        return True
    if isinstance(src, InfIntT):
        return isinstance(dst, BitT | InfIntT) or (isinstance(dst, BoolT) and value in (0, 1))
    if isinstance(src, BitT):
        return isinstance(dst, BitT) or (isinstance(dst, BoolT) and src.width == 1) or (
            isinstance(dst, EnumT) and dst.underlying is not None)
    if isinstance(src, BoolT):
        return isinstance(dst, BitT) and dst.width == 1
    if isinstance(src, EnumT) and src.underlying is not None:
        return isinstance(dst, BitT)
    return isinstance(dst, EnumT) and dst.underlying is not None and isinstance(src, InfIntT)


def _has_inf(t: Type) -> bool:
    if isinstance(t, InfIntT):
        return True
    if isinstance(t, TupleT):
        return any(_has_inf(x) for x in t.elements)
    return False


__all__ = ["CallInfo", "ExprChecker", "Facts"]
