"""Type checking of declarations and statements (the rest of the type checker).

Walks the program top to bottom, declaring each name in its scope before it is
used as P4 requires, resolving `TypeRef`s to `p4sim.runtime.types` objects,
and checking parser states, control bodies, actions, functions and tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from p4sim import limits
from p4sim.errors import TypeCheckError, UnsupportedError
from p4sim.frontend import ir
from p4sim.passes import consteval
from p4sim.passes.packagecheck import check_package_args
from p4sim.passes.resolve import Scope, Sym
from p4sim.passes.typecheck import CallInfo, ExprChecker, Facts
from p4sim.passes.typeops import same_type, serializable_base
from p4sim.runtime.algorithms import HASH_ALGORITHMS
from p4sim.runtime.types import (
    ActionRunT,
    BitT,
    BlockT,
    BoolT,
    DontCareT,
    EnumT,
    ErrorT,
    ExternT,
    Field,
    HeaderT,
    HeaderUnionT,
    InfIntT,
    MatchKindT,
    NewT,
    StackT,
    StringT,
    StructT,
    TupleT,
    Type,
    TypeVar,
    VarbitT,
    VoidT,
    strip_newtype,
)

_PROFILE_EXTERNS = ("action_profile", "action_selector")


@dataclass
class ActionBinding:
    """An action named in a table: its symbol and one argument per parameter
    (None where the control plane supplies it)."""

    sym: Sym
    args: list[ir.Expr | None]


@dataclass
class TableImplementation:
    """A table's `implementation`: an `action_profile` or `action_selector`.

    A named instance has its `sym`; one constructed in the property itself
    (`implementation = action_selector(...)`) has none, and `decl` is a
    synthetic instance holding the checked constructor call. `annotations`
    are the instance's, or the property's for one constructed in place (where
    p4c reads `@name` and `@max_group_size`)."""

    decl: ir.InstanceDecl
    sym: Sym | None
    with_selector: bool
    size: int
    algorithm: str | None  # a selector's HashAlgorithm member
    annotations: list[ir.Annotation]


@dataclass
class TableFacts:
    key_types: list[Type]
    actions: list[ActionBinding]
    default: ActionBinding | None
    entries: list[tuple[list[ir.Expr], ActionBinding, int | None]]
    size: int | None
    support_timeout: bool = False
    # `size = n` with n a constructor parameter of the table's control: the
    # size is the instance's argument (the lowering pass reads it).
    size_param: Sym | None = None
    direct_counter: Sym | None = None
    direct_meter: Sym | None = None
    implementation: TableImplementation | None = None


@dataclass
class CheckedProgram:
    """The checker's output: the IR (annotated in place) plus what was learned."""

    program: ir.Program
    facts: Facts
    top: Scope
    tables: dict[ir.TableDecl, TableFacts] = field(default_factory=dict)
    decl_syms: dict[ir.Node, Sym] = field(default_factory=dict)
    scopes: dict[ir.Node, Scope] = field(default_factory=dict)
    selects: dict[ir.SelectCase, list[ir.Expr]] = field(default_factory=dict)
    value_set_cases: dict[ir.SelectCase, Sym] = field(default_factory=dict)
    switch_actions: dict[ir.Expr, Sym] = field(default_factory=dict)
    instance_types: dict[ir.InstanceDecl, Type] = field(default_factory=dict)
    # The constructor call checked for each extern instance (its args are typed).
    ctor_calls: dict[ir.InstanceDecl, ir.Call] = field(default_factory=dict)
    # Each declared action_profile / action_selector instance.
    implementations: dict[ir.InstanceDecl, TableImplementation] = field(default_factory=dict)


@dataclass
class _Ctx:
    """Where a statement is: what `return` must give and whether `exit` is legal."""

    kind: str  # "control", "action", "function", "parser"
    return_type: Type = field(default_factory=VoidT)
    in_loop: bool = False  # `break` and `continue` are legal


class Checker(ExprChecker):
    def __init__(self, program: ir.Program) -> None:
        super().__init__()
        self.out = CheckedProgram(program, self.facts, self.top)
        self.shapes = limits.ValueShape()

    # --------------------------------------------------------------- entry

    def run(self) -> CheckedProgram:
        for decl in self.out.program.decls:
            self.declare(decl, self.top)
        return self.out

    # --------------------------------------------------------------- types

    def resolve_type(self, ref: ir.TypeRef, scope: Scope) -> Type:
        if isinstance(ref, ir.BitTypeRef):
            width = self.const_int(ref.width, scope, "width")
            limits.check_width(width, ref.pos)
            return BitT(width, ref.signed)
        if isinstance(ref, ir.IntTypeRef):
            return InfIntT()
        if isinstance(ref, ir.BoolTypeRef):
            return BoolT()
        if isinstance(ref, ir.StringTypeRef):
            return StringT()
        if isinstance(ref, ir.VoidTypeRef):
            return VoidT()
        if isinstance(ref, ir.ErrorTypeRef):
            return ErrorT()
        if isinstance(ref, ir.MatchKindTypeRef):
            return MatchKindT()
        if isinstance(ref, ir.DontCareTypeRef):
            return DontCareT()
        if isinstance(ref, ir.VarbitTypeRef):
            width = self.const_int(ref.max_width, scope, "width")
            limits.check_width(width, ref.pos)
            return VarbitT(width)
        if isinstance(ref, ir.StackTypeRef):
            element = self.resolve_type(ref.element, scope)
            if not isinstance(element, HeaderT | HeaderUnionT):
                raise TypeCheckError(ref.pos, f"a stack element must be a header, not {element}")
            size = self.const_int(ref.size, scope, "stack size")
            limits.check_count("stack size", size, 1, limits.MAX_STACK_SIZE, ref.pos)
            stack = StackT(element, size)
            self.shapes.check(stack, ref.pos)
            return stack
        if isinstance(ref, ir.TupleTypeRef):
            tup = TupleT(tuple(self.resolve_type(e, scope) for e in ref.elements))
            self.shapes.check(tup, ref.pos)
            return tup
        if isinstance(ref, ir.NamedTypeRef):
            sym = scope.lookup_type(ref.name, ref.dotted)
            if sym is None:
                raise TypeCheckError(ref.pos, f"unknown type '{ref.name}'")
            t = sym.type
            assert t is not None
            if isinstance(t, ExternT):
                assert t.decl is not None
                if ref.type_args:
                    if len(ref.type_args) != len(t.decl.type_params):
                        raise TypeCheckError(ref.pos, f"{t.name} takes "
                                             f"{len(t.decl.type_params)} type arguments")
                    args = tuple(self.resolve_type(a, scope) for a in ref.type_args)
                else:
                    args = tuple(TypeVar(p, t.name) for p in t.decl.type_params)
                return ExternT(t.name, t.decl, args)
            return t
        raise UnsupportedError(ref.pos, f"type {type(ref).__name__}")

    # -------------------------------------------------------- declarations

    def _type_sym(self, scope: Scope, decl: ir.Decl, t: Type) -> None:
        scope.declare(Sym("type", decl.name, type=t, decl=decl), decl.pos, is_type=True)

    def declare(self, decl: ir.Decl, scope: Scope) -> None:
        handler = getattr(self, "_decl_" + type(decl).__name__, None)
        if handler is None:
            raise UnsupportedError(decl.pos, f"declaration {type(decl).__name__}")
        handler(decl, scope)

    def _decl_ConstDecl(self, d: ir.ConstDecl, scope: Scope) -> None:
        t = self.resolve_type(d.type, scope)
        self.check_value(d.value, scope, t, f"constant {d.name}")
        if d.value not in self.facts.consts:
            raise TypeCheckError(d.value.pos, f"the value of constant '{d.name}' is not a "
                                 "compile-time constant")
        sym = Sym("const", d.name, type=t, decl=d, value=self.facts.consts[d.value])
        self.out.decl_syms[d] = scope.declare(sym, d.pos)

    def _decl_VarDecl(self, d: ir.VarDecl, scope: Scope) -> None:
        if scope is self.top:
            raise TypeCheckError(d.pos, "variables cannot be declared at the top level")
        t = self.resolve_type(d.type, scope)
        if isinstance(t, InfIntT | StringT | VoidT | ExternT):
            raise TypeCheckError(d.pos, f"a variable cannot have type {t}")
        if d.init is not None:
            self.check_value(d.init, scope, t, f"initializer of {d.name}")
        sym = Sym("var", d.name, type=t, decl=d)
        self.out.decl_syms[d] = scope.declare(sym, d.pos)

    def _decl_TypedefDecl(self, d: ir.TypedefDecl, scope: Scope) -> None:
        base = self.resolve_type(d.type, scope)
        self._type_sym(scope, d, NewT(d.name, base) if d.is_newtype else base)

    def _fields(self, fields: list[ir.StructField], scope: Scope, owner: str,
                header: bool) -> list[Field]:
        result: list[Field] = []
        seen = set()
        for f in fields:
            if f.name in seen:
                raise TypeCheckError(f.pos, f"duplicate field '{f.name}' in {owner}")
            seen.add(f.name)
            t = self.resolve_type(f.type, scope)
            if header and isinstance(t, VarbitT):
                if any(isinstance(g.type, VarbitT) for g in result):
                    raise TypeCheckError(f.pos, f"{owner} has two varbit fields")
            elif header and not _fixed_width(t):
                raise TypeCheckError(f.pos, f"header field '{f.name}' cannot have type {t}")
            result.append(Field(f.name, t, tuple(f.annotations)))
        return result

    def _decl_HeaderDecl(self, d: ir.HeaderDecl, scope: Scope) -> None:
        t = HeaderT(d.name, annotations=tuple(d.annotations))
        t.fields = self._fields(d.fields, scope, d.name, header=True)
        if t.width % 8:
            raise UnsupportedError(d.pos, f"header {d.name} is {t.width} bits, "
                                   "not a whole number of bytes")
        self._type_sym(scope, d, t)

    def _decl_HeaderUnionDecl(self, d: ir.HeaderUnionDecl, scope: Scope) -> None:
        t = HeaderUnionT(d.name, annotations=tuple(d.annotations))
        t.fields = self._fields(d.fields, scope, d.name, header=False)
        for f, src in zip(t.fields, d.fields, strict=True):
            if not isinstance(f.type, HeaderT):
                raise TypeCheckError(src.pos, f"header_union member '{f.name}' must be a "
                                     f"header, not {f.type}")
        self.shapes.check(t, d.pos)
        self._type_sym(scope, d, t)

    def _decl_StructDecl(self, d: ir.StructDecl, scope: Scope) -> None:
        t = StructT(d.name, annotations=tuple(d.annotations))
        t.fields = self._fields(d.fields, scope, d.name, header=False)
        self.shapes.check(t, d.pos)
        self._type_sym(scope, d, t)

    def _decl_EnumDecl(self, d: ir.EnumDecl, scope: Scope) -> None:
        underlying = None
        if d.underlying is not None:
            u = self.resolve_type(d.underlying, scope)
            if not isinstance(u, BitT):
                raise TypeCheckError(d.pos, "enum underlying type must be bit<W> or int<W>")
            underlying = u
        t = EnumT(d.name, underlying=underlying)
        for i, m in enumerate(d.members):
            if m.name in t.members:
                raise TypeCheckError(m.pos, f"duplicate enum member '{m.name}'")
            if underlying is None:
                if m.value is not None:
                    raise TypeCheckError(m.pos, "only an enum with a type has member values")
                t.members[m.name] = i
            else:
                if m.value is None:
                    raise TypeCheckError(m.pos, f"member '{m.name}' needs a value")
                t.members[m.name] = consteval.fit(
                    self.const_int(m.value, scope, "enum value"), underlying)
        self._type_sym(scope, d, t)

    def _decl_ErrorDecl(self, d: ir.ErrorDecl, scope: Scope) -> None:
        for m in d.members:
            if m.name in self.facts.error_codes:
                raise TypeCheckError(m.pos, f"error.{m.name} is already declared")
            self.facts.error_codes[m.name] = len(self.facts.error_codes)

    def _decl_MatchKindDecl(self, d: ir.MatchKindDecl, scope: Scope) -> None:
        for m in d.members:
            if m.name in self.facts.match_kinds:
                raise TypeCheckError(m.pos, f"match_kind {m.name} is already declared")
            self.facts.match_kinds.append(m.name)

    def _decl_ExternDecl(self, d: ir.ExternDecl, scope: Scope) -> None:
        self._type_sym(scope, d, ExternT(d.name, decl=d))

    def _decl_ExternFunctionDecl(self, d: ir.ExternFunctionDecl, scope: Scope) -> None:
        scope.declare(Sym("extern_function", d.name, decl=d, overloads=[d]), d.pos)

    def _decl_ParserTypeDecl(self, d: ir.ParserTypeDecl, scope: Scope) -> None:
        self._type_sym(scope, d, BlockT(d.name, kind="parser", decl=d))

    def _decl_ControlTypeDecl(self, d: ir.ControlTypeDecl, scope: Scope) -> None:
        self._type_sym(scope, d, BlockT(d.name, kind="control", decl=d))

    def _decl_PackageTypeDecl(self, d: ir.PackageTypeDecl, scope: Scope) -> None:
        self._type_sym(scope, d, BlockT(d.name, kind="package", decl=d))

    def _decl_FunctionDecl(self, d: ir.FunctionDecl, scope: Scope) -> None:
        if d.type_params:
            raise UnsupportedError(d.pos, "generic function")
        sym = scope.declare(Sym("function", d.name, decl=d), d.pos)
        self.out.decl_syms[d] = sym
        fscope = Scope(scope, d.name)
        self._declare_params(d.params, fscope, allow_directionless=False)
        rt = self.resolve_type(d.return_type, scope)
        self.out.scopes[d] = fscope
        self.check_block(d.body, fscope, _Ctx("function", rt))

    def _decl_ActionDecl(self, d: ir.ActionDecl, scope: Scope) -> None:
        sym = scope.declare(Sym("action", d.name, decl=d), d.pos)
        self.out.decl_syms[d] = sym
        ascope = Scope(scope, d.name)
        self._declare_params(d.params, ascope, allow_directionless=True)
        seen_directionless = False
        for p in d.params:
            if p.direction is None:
                seen_directionless = True
            elif seen_directionless:
                raise TypeCheckError(p.pos, "directional action parameters must come before "
                                     "directionless ones")
        self.out.scopes[d] = ascope
        self.check_block(d.body, ascope, _Ctx("action"))

    def _declare_params(self, params: list[ir.Param], scope: Scope, *,
                        allow_directionless: bool, direction: str | None = None) -> None:
        for p in params:
            t = self.resolve_type(p.type, scope)
            d = direction or p.direction
            if d is None and not allow_directionless:
                d = "in"
            if d is None and not isinstance(strip_newtype(serializable_base(t)), BitT | BoolT):
                raise TypeCheckError(p.pos, f"control-plane parameter '{p.name}' must have a "
                                     f"bit<W> or bool type, not {t}")
            sym = Sym("var", p.name, type=t, decl=p, direction=d)
            self.out.decl_syms[p] = scope.declare(sym, p.pos)

    def _decl_InstanceDecl(self, d: ir.InstanceDecl, scope: Scope) -> None:
        t = self.resolve_type(d.type, scope)
        if isinstance(t, ExternT):
            t = self._check_constructor(d, t, scope)
        elif isinstance(t, BlockT):
            if t.kind == "package":
                if scope is not self.top:
                    raise TypeCheckError(d.pos, "packages are instantiated at the top level")
                check_package_args(self, d, t, scope)
            elif not isinstance(t.decl, ir.ParserDecl | ir.ControlDecl):
                raise TypeCheckError(d.pos, f"{t.name} has no implementation to instantiate")
            else:
                self._check_block_ctor_args(d.args, t.decl, scope)
        else:
            raise TypeCheckError(d.pos, f"cannot instantiate type {t}")
        self.out.instance_types[d] = t
        sym = Sym("instance", d.name, type=t, decl=d)
        self.out.decl_syms[d] = scope.declare(sym, d.pos)
        if isinstance(t, ExternT) and t.name in _PROFILE_EXTERNS:
            self.out.implementations[d] = self._implementation_of(d, sym, t, d.annotations)

    def _check_block_ctor_args(self, args: list[ir.Argument],
                               decl: ir.ParserDecl | ir.ControlDecl, scope: Scope) -> None:
        if len(args) != len(decl.ctor_params):
            raise TypeCheckError(decl.pos, f"{decl.name} takes {len(decl.ctor_params)} "
                                 "constructor arguments")
        for arg, p in zip(args, decl.ctor_params, strict=True):
            t = self.resolve_type(p.type, self.top)
            if isinstance(t, BlockT) and isinstance(t.decl, ir.ParserTypeDecl
                                                    | ir.ControlTypeDecl):
                self._check_block_arg(arg, p, t.decl, decl, scope)
                continue
            self.check_value(arg.value, scope, t, f"constructor argument {p.name}")
            if arg.value not in self.facts.consts:
                raise UnsupportedError(arg.pos, "non-constant constructor argument")

    def _check_block_arg(self, arg: ir.Argument, p: ir.Param,
                         block_type: ir.ParserTypeDecl | ir.ControlTypeDecl,
                         decl: ir.ParserDecl | ir.ControlDecl, scope: Scope) -> None:
        """A parser or control passed to a constructor parameter of a parser
        or control type: an instance declared before, whose parameters match
        the type's. The elaborator binds the parameter to that instance."""
        from p4sim.passes.packagecheck import match_block

        what = f"constructor argument {p.name} of {decl.name}"
        e = arg.value
        sym = scope.lookup_value(e.name, e.dotted) if isinstance(e, ir.NameRef) else None
        if not isinstance(e, ir.NameRef) or sym is None or sym.kind != "instance" or \
                not isinstance(sym.type, BlockT) or \
                not isinstance(sym.type.decl, ir.ParserDecl | ir.ControlDecl):
            raise UnsupportedError(arg.pos, f"{what}: only the name of a parser or control "
                                   "instance declared before")
        match_block(self, sym.type.decl, block_type, arg.pos, what)
        self.facts.refs[e] = sym
        e.type = sym.type

    def _check_constructor(self, d: ir.InstanceDecl, t: ExternT, scope: Scope) -> ExternT:
        assert t.decl is not None
        ctors = [m for m in t.decl.methods if m.return_type is None and m.name == t.name]
        ctors = [m for m in ctors if self._arity_ok(m.params, d.args)] or ctors
        if not ctors:
            raise TypeCheckError(d.pos, f"extern {t.name} has no constructor")
        call = ir.Call(d.pos, ir.NameRef(d.pos, t.name), d.args)
        escope = self._generic_scope(t.decl.type_params, t.name, self.top)
        bindings: dict[TypeVar, Type] = {}
        for tp, targ in zip(t.decl.type_params, t.type_args, strict=False):
            if not isinstance(targ, TypeVar):
                bindings[TypeVar(tp, t.name)] = targ
        info = self._bind(call, scope, "constructor", t.name, ctors[0].params, bindings,
                          VoidT(), decl_scope=escope)
        for arg in info.args:
            if arg is not None and arg not in self.facts.consts and not isinstance(
                    arg.type, ExternT):
                raise TypeCheckError(arg.pos, "constructor arguments must be constants")
        self.facts.calls[call] = info
        args = tuple(info.bindings.get(TypeVar(tp, t.name), TypeVar(tp, t.name))
                     for tp in t.decl.type_params)
        result = ExternT(t.name, t.decl, args)
        self.out.ctor_calls[d] = call
        return result

    # ------------------------------------------------------------ parsers

    def _decl_ParserDecl(self, d: ir.ParserDecl, scope: Scope) -> None:
        if d.type_params:
            raise UnsupportedError(d.pos, "generic parser")
        t = BlockT(d.name, kind="parser", decl=d)
        self._type_sym(scope, d, t)
        pscope = Scope(scope, d.name)
        self.out.scopes[d] = pscope
        self._declare_params(d.params, pscope, allow_directionless=False)
        self._declare_params(d.ctor_params, pscope, allow_directionless=True, direction="ctor")
        for local in d.locals:
            self.declare_local(local, pscope)
        for state in d.states:
            if state.name in ("accept", "reject"):
                raise TypeCheckError(state.pos, f"state '{state.name}' cannot be defined")
            pscope.declare(Sym("state", state.name, decl=state), state.pos)
        if not any(s.name == "start" for s in d.states):
            raise TypeCheckError(d.pos, f"parser {d.name} has no start state")
        for state in d.states:
            sscope = Scope(pscope, state.name)
            self.out.scopes[state] = sscope
            for stmt in state.stmts:
                self.check_stmt(stmt, sscope, _Ctx("parser"))
            self._check_transition(state, sscope)

    def _state_ok(self, name: str, pos: ir.Node, scope: Scope) -> None:
        if name in ("accept", "reject"):
            return
        sym = scope.lookup_value(name)
        if sym is None or sym.kind != "state":
            raise TypeCheckError(pos.pos, f"no parser state named '{name}'")

    def _check_transition(self, state: ir.ParserState, scope: Scope) -> None:
        tr = state.transition
        if tr is None:
            return
        if isinstance(tr, ir.DirectTransition):
            self._state_ok(tr.state, tr, scope)
            return
        types = [self.check(e, scope) for e in tr.exprs]
        for e, t in zip(tr.exprs, types, strict=True):
            if isinstance(t, InfIntT):
                raise TypeCheckError(e.pos, "select on an int constant needs a width")
        for case in tr.cases:
            self._state_ok(case.state, case, scope)
            keysets = case.keysets
            if len(keysets) == 1 and len(types) > 1:
                only = keysets[0]
                if isinstance(only, ir.Default):
                    keysets = [ir.Default(only.pos) for _ in types]
                elif isinstance(only, ir.NameRef) and self._value_set_case(case, only, types,
                                                                            scope):
                    continue
            if len(keysets) == 1 and isinstance(keysets[0], ir.NameRef) and \
                    self._value_set_case(case, keysets[0], types, scope):
                continue
            if len(keysets) != len(types):
                raise TypeCheckError(case.pos, f"select case has {len(keysets)} values for "
                                     f"{len(types)} expressions")
            for k, t in zip(keysets, types, strict=True):
                self.check_keyset(k, scope, t)
            self.out.selects[case] = keysets

    def _value_set_case(self, case: ir.SelectCase, ref: ir.NameRef, types: list[Type],
                        scope: Scope) -> bool:
        sym = scope.lookup_value(ref.name, ref.dotted)
        if sym is None or sym.kind != "value_set":
            return False
        et = sym.type
        ok = (len(types) == 1 and et is not None and same_type(et, types[0])) or (
            isinstance(et, StructT) and len(et.fields) == len(types) and all(
                same_type(f.type, t) for f, t in zip(et.fields, types, strict=True)))
        if not ok:
            raise TypeCheckError(ref.pos, f"value_set {sym.name} of {et} does not match the "
                                 "select expressions")
        self.facts.refs[ref] = sym
        self.out.value_set_cases[case] = sym
        return True

    def declare_local(self, d: ir.Decl, scope: Scope) -> None:
        if isinstance(d, ir.ValueSetDecl):
            et = self.resolve_type(d.element_type, scope)
            size = self.const_int(d.size, scope, "value_set size")
            limits.check_count("value_set size", size, 1, limits.MAX_TABLE_SIZE, d.size.pos)
            sym = Sym("value_set", d.name, type=et, decl=d, value=size)
            self.out.decl_syms[d] = scope.declare(sym, d.pos)
            return
        if isinstance(d, ir.TableDecl):
            self._check_table(d, scope)
            return
        self.declare(d, scope)

    # ------------------------------------------------------------ controls

    def _decl_ControlDecl(self, d: ir.ControlDecl, scope: Scope) -> None:
        if d.type_params:
            raise UnsupportedError(d.pos, "generic control")
        t = BlockT(d.name, kind="control", decl=d)
        self._type_sym(scope, d, t)
        cscope = Scope(scope, d.name)
        self.out.scopes[d] = cscope
        self._declare_params(d.params, cscope, allow_directionless=False)
        self._declare_params(d.ctor_params, cscope, allow_directionless=True, direction="ctor")
        for local in d.locals:
            self.declare_local(local, cscope)
        self.check_block(d.body, Scope(cscope, "apply"), _Ctx("control"))

    def _check_table(self, d: ir.TableDecl, scope: Scope) -> None:
        sym = scope.declare(Sym("table", d.name, decl=d), d.pos)
        self.out.decl_syms[d] = sym
        key_types = []
        for k in d.keys:
            t = self.check(k.expr, scope)
            if k.match_kind not in self.facts.match_kinds:
                raise TypeCheckError(k.pos, f"unknown match kind '{k.match_kind}'")
            if k.match_kind not in ("exact", "lpm", "ternary", "range", "optional", "selector"):
                raise UnsupportedError(k.pos, f"match kind {k.match_kind}")
            base = strip_newtype(serializable_base(t))
            if not isinstance(base, BitT | BoolT | ErrorT | EnumT):
                raise TypeCheckError(k.expr.pos, f"a table key cannot have type {t}")
            if k.match_kind in ("lpm", "ternary", "range") and not isinstance(base, BitT):
                raise TypeCheckError(k.expr.pos, f"{k.match_kind} key needs a bit<W> value")
            key_types.append(t)
        if sum(1 for k in d.keys if k.match_kind == "lpm") > 1:
            raise TypeCheckError(d.pos, f"table {d.name} has more than one lpm key")
        actions = [self._action_binding(ref, scope, full=False) for ref in d.actions]
        names = [b.sym for b in actions]
        default = None
        if d.default_action is not None:
            default = self._action_binding(d.default_action, scope, full=True)
            if default.sym not in names:
                raise TypeCheckError(d.default_action.pos, f"default action "
                                     f"'{d.default_action.name}' is not in the actions list")
        entries = []
        for entry in d.entries or []:
            keysets = entry.keysets
            if len(keysets) == 1 and len(d.keys) > 1 and isinstance(keysets[0], ir.Default):
                keysets = [ir.Default(keysets[0].pos) for _ in d.keys]
            if len(keysets) != len(d.keys):
                raise TypeCheckError(entry.pos, f"entry has {len(keysets)} keys, table "
                                     f"{d.name} has {len(d.keys)}")
            for ks, kt in zip(keysets, key_types, strict=True):
                self.check_keyset(ks, scope, kt)
                self._require_const_keyset(ks)
            binding = self._action_binding(entry.action, scope, full=True)
            if binding.sym not in names:
                raise TypeCheckError(entry.action.pos, f"action '{entry.action.name}' is not "
                                     f"in the actions list of {d.name}")
            priority = None
            if entry.priority is not None:
                if d.entries_are_const:
                    # p4c's rule (P4_16 1.2.4 itself allows it): refused where
                    # p4c refuses it, at the entry's keyset.
                    raise TypeCheckError(entry.keysets[0].pos if entry.keysets else entry.pos,
                                         "Entry: Table with 'const' entries cannot have "
                                         "priorities")
                priority = self.const_int(entry.priority, scope, "entry priority")
            entries.append((keysets, binding, priority))
        size = None
        size_param = None
        if isinstance(d.size, ir.NameRef):
            size_sym = scope.lookup_value(d.size.name, d.size.dotted)
            if size_sym is not None and size_sym.kind == "var" and size_sym.direction == "ctor":
                self.check(d.size, scope)
                size_param = size_sym
        if d.size is not None and size_param is None:
            size = self.const_int(d.size, scope, "table size")
            limits.check_count("table size", size, 0, limits.MAX_TABLE_SIZE, d.size.pos)
        facts = TableFacts(key_types, actions, default, entries, size, size_param=size_param)
        for name, value in d.properties.items():
            if name == "support_timeout":
                self.check_value(value, scope, BoolT(), "support_timeout")
                facts.support_timeout = bool(self.facts.consts.get(value))
            elif name in ("counters", "meters"):
                facts_sym = self._direct_extern(value, scope, name)
                if name == "counters":
                    facts.direct_counter = facts_sym
                else:
                    facts.direct_meter = facts_sym
            elif name == "implementation":
                facts.implementation = self._implementation(d, value, scope)
            elif name == "largest_priority_wins":
                self.check_value(value, scope, BoolT(), name)
                if self.facts.consts.get(value) is not True:
                    raise UnsupportedError(value.pos, "largest_priority_wins = false")
            elif name == "priority_delta":
                self.const_int(value, scope, name)
            else:
                raise UnsupportedError(value.pos, f"table property '{name}'")
        self._check_indirect(d, facts)
        self.out.tables[d] = facts

    def _check_indirect(self, d: ir.TableDecl, facts: TableFacts) -> None:
        """`selector` keys feed an action selector's hash, so they need one;
        entries of an indirect table name members, which P4 source cannot."""
        impl = facts.implementation
        for k in d.keys:
            if k.match_kind == "selector" and (impl is None or not impl.with_selector):
                raise TypeCheckError(k.pos, f"table {d.name}: a selector key needs "
                                     "implementation = action_selector(...)")
        if impl is not None and d.entries:
            raise UnsupportedError(d.entries[0].pos, f"entries in table {d.name}, which "
                                   "has an action profile implementation")

    def _implementation(self, d: ir.TableDecl, value: ir.Expr,
                        scope: Scope) -> TableImplementation:
        if isinstance(value, ir.NameRef):
            sym = scope.lookup_value(value.name, value.dotted)
            if sym is None or sym.kind != "instance" or not isinstance(sym.type, ExternT) \
                    or sym.type.name not in _PROFILE_EXTERNS:
                raise TypeCheckError(value.pos, "implementation must name an action_profile "
                                     "or action_selector instance")
            self.facts.refs[value] = sym
            return self.out.implementations[sym.decl]
        if isinstance(value, ir.Call) and isinstance(value.callee, ir.NameRef) \
                and not value.type_args:
            notes = d.property_annotations.get("implementation", [])
            callee = value.callee
            decl = ir.InstanceDecl(value.pos, f"{d.name}.implementation",
                                   ir.NamedTypeRef(callee.pos, callee.name, dotted=callee.dotted),
                                   value.args, annotations=notes)
            t = self.resolve_type(decl.type, scope)
            if not isinstance(t, ExternT) or t.name not in _PROFILE_EXTERNS:
                raise TypeCheckError(value.pos, "implementation must be action_profile(...) "
                                     "or action_selector(...)")
            t = self._check_constructor(decl, t, scope)
            return self._implementation_of(decl, None, t, notes)
        raise TypeCheckError(value.pos, "implementation must be an action_profile or "
                             "action_selector")

    def _implementation_of(self, decl: ir.InstanceDecl, sym: Sym | None, t: ExternT,
                           notes: list[ir.Annotation]) -> TableImplementation:
        info = self.facts.calls[self.out.ctor_calls[decl]]
        with_selector = t.name == "action_selector"
        size_arg = info.args[1 if with_selector else 0]
        size = self.facts.consts.get(size_arg) if size_arg is not None else None
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise TypeCheckError(decl.pos, f"{t.name} size must be a positive constant")
        limits.check_count(f"{t.name} size", size, 1, limits.MAX_TABLE_SIZE, decl.pos)
        algorithm = None
        if with_selector:
            arg = info.args[0]
            at = arg.type if arg is not None else None
            value = self.facts.consts.get(arg) if arg is not None else None
            if isinstance(at, EnumT):
                algorithm = next((n for n, v in at.members.items() if v == value), None)
            if algorithm not in HASH_ALGORITHMS:
                raise UnsupportedError(decl.pos, f"action_selector hash algorithm {algorithm}")
        return TableImplementation(decl, sym, with_selector, size, algorithm, notes)

    def _require_const_keyset(self, k: ir.Expr) -> None:
        parts = [k.value, k.mask] if isinstance(k, ir.Mask) else [k.lo, k.hi] if isinstance(
            k, ir.Range) else [] if isinstance(k, ir.Default) else [k]
        for p in parts:
            if p not in self.facts.consts:
                raise TypeCheckError(p.pos, "table entry keys must be constants")

    def _direct_extern(self, value: ir.Expr, scope: Scope, prop: str) -> Sym:
        if not isinstance(value, ir.NameRef):
            raise UnsupportedError(value.pos, f"{prop} = {type(value).__name__}")
        sym = scope.lookup_value(value.name, value.dotted)
        expected = "direct_counter" if prop == "counters" else "direct_meter"
        if sym is None or not isinstance(sym.type, ExternT) or sym.type.name != expected:
            raise TypeCheckError(value.pos, f"{prop} must name a {expected} instance")
        self.facts.refs[value] = sym
        return sym

    def _action_binding(self, ref: ir.ActionRef, scope: Scope, *, full: bool) -> ActionBinding:
        sym = scope.lookup_value(ref.name, ref.dotted)
        if sym is None or sym.kind != "action":
            raise TypeCheckError(ref.pos, f"'{ref.name}' is not an action")
        decl: ir.ActionDecl = sym.decl
        if len(ref.args) > len(decl.params):
            raise TypeCheckError(ref.pos, f"too many arguments to action {ref.name}")
        args: list[ir.Expr | None] = []
        ascope = self.out.scopes[decl]
        for i, p in enumerate(decl.params):
            t = self.resolve_type(p.type, ascope)
            if i >= len(ref.args):
                if p.direction is not None:
                    raise TypeCheckError(ref.pos, f"action {ref.name} needs an argument for "
                                         f"its {p.direction} parameter '{p.name}'")
                if full:
                    raise TypeCheckError(ref.pos, f"action {ref.name} needs a value for "
                                         f"parameter '{p.name}'")
                args.append(None)
                continue
            arg = ref.args[i].value
            self.check_value(arg, scope, t, f"argument '{p.name}' of {ref.name}")
            if p.direction in ("out", "inout"):
                self.require_lvalue(arg, scope)
            if p.direction is None and arg not in self.facts.consts:
                raise TypeCheckError(arg.pos, f"value for '{p.name}' must be a constant")
            if p.direction is None and not full:
                raise TypeCheckError(arg.pos, f"control-plane parameter '{p.name}' cannot be "
                                     "bound in the actions list")
            args.append(arg)
        return ActionBinding(sym, args)

    # ---------------------------------------------------------- statements

    def check_block(self, block: ir.BlockStmt, scope: Scope, ctx: _Ctx) -> None:
        for stmt in block.stmts:
            self.check_stmt(stmt, scope, ctx)

    def check_stmt(self, s: ir.Stmt, scope: Scope, ctx: _Ctx) -> None:
        if isinstance(s, ir.AssignStmt):
            lt = self.check(s.lhs, scope)
            self.require_lvalue(s.lhs, scope)
            self.check_value(s.rhs, scope, lt, "assignment")
        elif isinstance(s, ir.CallStmt):
            self.check(s.call, scope)
            info = self.facts.calls[s.call]
            if info.kind == "action" and ctx.kind == "parser":
                raise TypeCheckError(s.pos, "actions cannot be called from a parser")
            if info.kind == "table_apply" and ctx.kind != "control":
                raise TypeCheckError(s.pos, "tables can only be applied in a control body")
        elif isinstance(s, ir.IfStmt):
            self.check_value(s.cond, scope, BoolT(), "if condition")
            self.check_stmt(s.then, Scope(scope, "then"), ctx)
            if s.otherwise is not None:
                self.check_stmt(s.otherwise, Scope(scope, "else"), ctx)
        elif isinstance(s, ir.BlockStmt):
            self.check_block(s, Scope(scope, "block"), ctx)
        elif isinstance(s, ir.SwitchStmt):
            self._check_switch(s, scope, ctx)
        elif isinstance(s, ir.ForStmt):
            inner = Scope(scope, "for")
            for part in s.init:
                self.check_stmt(part, inner, ctx)
            self.check_value(s.cond, inner, BoolT(), "for condition")
            for part in s.updates:
                self.check_stmt(part, inner, ctx)
            self.check_stmt(s.body, Scope(inner, "for body"), replace(ctx, in_loop=True))
        elif isinstance(s, ir.BreakStmt | ir.ContinueStmt):
            if not ctx.in_loop:
                word = "break" if isinstance(s, ir.BreakStmt) else "continue"
                raise TypeCheckError(s.pos, f"{word} outside a for loop")
        elif isinstance(s, ir.ExitStmt):
            if ctx.kind not in ("control", "action"):
                raise TypeCheckError(s.pos, f"exit is not allowed in a {ctx.kind}")
        elif isinstance(s, ir.ReturnStmt):
            if ctx.kind == "parser":
                raise TypeCheckError(s.pos, "return is not allowed in a parser")
            if s.value is None:
                if not isinstance(ctx.return_type, VoidT):
                    raise TypeCheckError(s.pos, f"return needs a value of {ctx.return_type}")
            else:
                if isinstance(ctx.return_type, VoidT):
                    raise TypeCheckError(s.pos, "return with a value in a void body")
                self.check_value(s.value, scope, ctx.return_type, "return value")
        elif isinstance(s, ir.EmptyStmt):
            pass
        elif isinstance(s, ir.VarDecl | ir.ConstDecl):
            self.declare(s, scope)
        elif isinstance(s, ir.InstanceDecl):
            raise UnsupportedError(s.pos, "instantiation inside a block")
        else:
            raise UnsupportedError(s.pos, f"statement {type(s).__name__}")

    def _check_switch(self, s: ir.SwitchStmt, scope: Scope, ctx: _Ctx) -> None:
        t = self.check(s.expr, scope)
        seen_default = False
        for i, case in enumerate(s.cases):
            if case.body is None and i == len(s.cases) - 1:
                raise TypeCheckError(case.pos, "the last switch case needs a body")
            for label in case.labels:
                if seen_default:
                    raise TypeCheckError(label.pos, "default must be the last switch label")
                if isinstance(label, ir.Default):
                    seen_default = True
                    continue
                if isinstance(t, ActionRunT):
                    if not isinstance(label, ir.NameRef):
                        raise TypeCheckError(label.pos, "switch on action_run needs action "
                                             "names as labels")
                    sym = scope.lookup_value(label.name, label.dotted)
                    tsym = scope.lookup_value(t.table)
                    allowed = []
                    if tsym is not None and tsym.kind == "table":
                        allowed = [b.sym for b in self.out.tables[tsym.decl].actions]
                    if sym is None or sym not in allowed:
                        raise TypeCheckError(label.pos, f"'{label.name}' is not an action of "
                                             f"table {t.table}")
                    self.facts.refs[label] = sym
                    self.out.switch_actions[label] = sym
                else:
                    base = strip_newtype(serializable_base(t))
                    if not isinstance(base, BitT | EnumT | ErrorT):
                        raise TypeCheckError(s.expr.pos, f"cannot switch on a value of {t}")
                    self.check_value(label, scope, t, "switch label")
                    if label not in self.facts.consts:
                        raise TypeCheckError(label.pos, "switch labels must be constants")
            if case.body is not None:
                self.check_block(case.body, Scope(scope, "case"), ctx)


def _fixed_width(t: Type) -> bool:
    """Whether `t` may be a header field: bit<W>, int<W>, bool, a serializable
    enum, or a struct of these (P4_16 7.2.2; the struct is laid out in place)."""
    base = strip_newtype(t)
    if isinstance(base, StructT):
        return all(_fixed_width(f.type) for f in base.fields)
    return isinstance(base, BitT | BoolT) or (isinstance(base, EnumT)
                                             and base.underlying is not None)


def check_program(program: ir.Program) -> CheckedProgram:
    """Resolve names and check types of a whole program (p4c's front end)."""
    return Checker(program).run()


__all__ = ["ActionBinding", "CallInfo", "CheckedProgram", "TableFacts", "TableImplementation",
           "check_program"]
