"""Typed IR of a parsed P4_16 program: the contract between the front end and the passes.

The front end (preprocessor, lark grammar, transformer) produces a `Program`;
the passes (name resolution, type checking, constant evaluation, lowering) read
it. Nodes mirror the P4_16 grammar closely so that a reader of the spec finds
each construct here under the same name. Every node carries the `SourcePos` of
its first token in the original file, so later passes can report
`file:line:col` without keeping the parse tree.

Nodes are plain mutable dataclasses: the type checker records the type it
infers for an expression in `Expr.type` instead of building a second tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from p4sim.errors import SourcePos

# --------------------------------------------------------------------------- base


@dataclass(eq=False)
class Node:
    pos: SourcePos


@dataclass(eq=False)
class Annotation(Node):
    """`@name(...)` or `@name[...]`.

    `args` holds the parsed expressions of a parenthesised body when it parses as
    an expression list (`@name("x")`, `@id(3)`, `@field_list(1)`); `raw` is the
    body's source text in every case (empty for `@hidden`).
    """

    name: str
    args: list[Expr] | None
    raw: str


def find_annotation(annotations: list[Annotation], name: str) -> Annotation | None:
    for annotation in annotations:
        if annotation.name == name:
            return annotation
    return None


# ---------------------------------------------------------------------- type refs
# What the source wrote where a type is expected; the passes resolve these.


@dataclass(eq=False)
class TypeRef(Node):
    pass


@dataclass(eq=False)
class BitTypeRef(TypeRef):
    """`bit<W>` (signed=False) or `int<W>` (signed=True); `bit` alone is bit<1>."""

    width: Expr
    signed: bool


@dataclass(eq=False)
class VarbitTypeRef(TypeRef):
    max_width: Expr


@dataclass(eq=False)
class IntTypeRef(TypeRef):
    """The arbitrary-precision `int` type."""


@dataclass(eq=False)
class BoolTypeRef(TypeRef):
    pass


@dataclass(eq=False)
class StringTypeRef(TypeRef):
    pass


@dataclass(eq=False)
class VoidTypeRef(TypeRef):
    pass


@dataclass(eq=False)
class ErrorTypeRef(TypeRef):
    """The `error` type."""


@dataclass(eq=False)
class MatchKindTypeRef(TypeRef):
    pass


@dataclass(eq=False)
class DontCareTypeRef(TypeRef):
    """`_` in a type position (a type argument to be inferred)."""


@dataclass(eq=False)
class NamedTypeRef(TypeRef):
    """A user or architecture type by name, with optional type arguments.

    `dotted` is True for `.Name` (lookup from the top-level scope).
    """

    name: str
    type_args: list[TypeRef] = field(default_factory=list)
    dotted: bool = False


@dataclass(eq=False)
class StackTypeRef(TypeRef):
    """`T[size]`: a header stack."""

    element: TypeRef
    size: Expr


@dataclass(eq=False)
class TupleTypeRef(TypeRef):
    elements: list[TypeRef]


# -------------------------------------------------------------------- expressions


@dataclass(eq=False)
class Expr(Node):
    # Filled by the type checker; `Any` keeps the front end free of pass types.
    type: Any = field(default=None, kw_only=True)


@dataclass(eq=False)
class IntLit(Expr):
    """An integer literal.

    `width` and `signed` are set for width-prefixed literals (`8w5` gives
    width=8, signed=False; `8s5` gives signed=True); both are None for a plain
    `5` or `0x1F`, whose type is `int`.
    """

    value: int
    width: int | None = None
    signed: bool | None = None


@dataclass(eq=False)
class BoolLit(Expr):
    value: bool


@dataclass(eq=False)
class StringLit(Expr):
    value: str


@dataclass(eq=False)
class NameRef(Expr):
    """A name in expression position (variable, parameter, constant, action,
    table, instance, state, or a type name used as a value such as
    `MyParser` in `MyParser()`). `dotted` as in NamedTypeRef."""

    name: str
    dotted: bool = False


@dataclass(eq=False)
class Member(Expr):
    """`expr.member`: field access, `error.X`, `Enum.X`, `hdr.h.isValid`,
    `t.apply().hit`, `stack.next`, `stack.last`, `stack.lastIndex`, `.size`."""

    expr: Expr
    member: str


@dataclass(eq=False)
class Index(Expr):
    """`stack[i]`."""

    expr: Expr
    index: Expr


@dataclass(eq=False)
class Slice(Expr):
    """`expr[hi:lo]`; both bounds must be compile-time constants."""

    expr: Expr
    hi: Expr
    lo: Expr


@dataclass(eq=False)
class Unary(Expr):
    """`op` is one of "-", "!", "~"; a unary "+" is dropped by the front end."""

    op: str
    operand: Expr


# Binary operators exactly as spelled in P4_16:
# "*" "/" "%" "+" "-" "|+|" "|-|" "<<" ">>" "<=" ">=" "<" ">" "==" "!="
# "&" "^" "|" "&&" "||" "++"
BINARY_OPERATORS = frozenset(
    ["*", "/", "%", "+", "-", "|+|", "|-|", "<<", ">>", "<=", ">=", "<", ">",
     "==", "!=", "&", "^", "|", "&&", "||", "++"]
)


@dataclass(eq=False)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(eq=False)
class Ternary(Expr):
    """`cond ? then : otherwise`."""

    cond: Expr
    then: Expr
    otherwise: Expr


@dataclass(eq=False)
class Cast(Expr):
    """`(T) expr`."""

    target: TypeRef
    expr: Expr


@dataclass(eq=False)
class Argument(Node):
    """One call argument; `name` is set for named arguments (`f(x = 1)`)."""

    value: Expr
    name: str | None = None


@dataclass(eq=False)
class Call(Expr):
    """A method, function, action or extern call, or a constructor call such as
    `MyIngress()` or `counter(32, CounterType.packets)`. `callee` is a NameRef
    or a Member (`hdr.ipv4.setValid`, `packet.extract`, `t.apply`)."""

    callee: Expr
    args: list[Argument]
    type_args: list[TypeRef] = field(default_factory=list)


@dataclass(eq=False)
class ListExpr(Expr):
    """`{a, b, c}`: a tuple, struct or header initializer by position."""

    elements: list[Expr]


@dataclass(eq=False)
class StructInitExpr(Expr):
    """`{f = a, g = b}`: a struct or header initializer by field name."""

    fields: list[tuple[str, Expr]]


@dataclass(eq=False)
class TypeExpr(Expr):
    """A type in expression position, e.g. the receiver of a static member
    (`bit<8>` is never one; `MyEnum.A` uses NameRef+Member instead). Kept for
    `sizeInBits(T)`-style calls whose argument is a type."""

    target: TypeRef


@dataclass(eq=False)
class LValueRead(Expr):
    """The value of a compound assignment's target (`x` in `x += 1`): the
    code generator reads what it already evaluated for the target, so side
    effects in the target (`a[f()] += 1`) happen once."""

    target: Expr


# Keyset expressions, legal in `select` cases and in table entries only.


@dataclass(eq=False)
class Mask(Expr):
    """`value &&& mask`."""

    value: Expr
    mask: Expr


@dataclass(eq=False)
class Range(Expr):
    """`lo .. hi`, both inclusive."""

    lo: Expr
    hi: Expr


@dataclass(eq=False)
class Default(Expr):
    """`default` or `_` (don't care) in a keyset, or `_` as a call argument."""


# --------------------------------------------------------------------- statements


@dataclass(eq=False)
class Stmt(Node):
    pass


@dataclass(eq=False)
class BlockStmt(Stmt):
    stmts: list[Stmt]
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(eq=False)
class AssignStmt(Stmt):
    lhs: Expr
    rhs: Expr


@dataclass(eq=False)
class CallStmt(Stmt):
    """A call used as a statement: `hdr.ipv4.setInvalid();`, `t.apply();`."""

    call: Call


@dataclass(eq=False)
class IfStmt(Stmt):
    cond: Expr
    then: Stmt
    otherwise: Stmt | None = None


@dataclass(eq=False)
class SwitchCase(Node):
    """One `label1: label2: { ... }` group. Labels are NameRef (action names
    for `switch (t.apply().action_run)`), expressions for value switches, or
    Default. `body` is None for a label that falls through to the next one."""

    labels: list[Expr]
    body: BlockStmt | None


@dataclass(eq=False)
class SwitchStmt(Stmt):
    expr: Expr
    cases: list[SwitchCase]


@dataclass(eq=False)
class ForStmt(Stmt):
    """`for (init; cond; updates) body`: init declares in the loop's scope
    (p4c also refuses to declare the same name in two loops of one block;
    p4sim does not)."""

    init: list[Stmt]
    cond: Expr
    updates: list[Stmt]
    body: Stmt


@dataclass(eq=False)
class BreakStmt(Stmt):
    pass


@dataclass(eq=False)
class ContinueStmt(Stmt):
    pass


@dataclass(eq=False)
class ExitStmt(Stmt):
    pass


@dataclass(eq=False)
class ReturnStmt(Stmt):
    value: Expr | None = None


@dataclass(eq=False)
class EmptyStmt(Stmt):
    pass


# ------------------------------------------------------------------- declarations


@dataclass(eq=False)
class Decl(Stmt):
    """Declarations are statements too, so a block can hold local variables."""

    name: str
    annotations: list[Annotation] = field(default_factory=list, kw_only=True)


@dataclass(eq=False)
class Param(Node):
    """`direction` is "in", "out", "inout" or None (directionless)."""

    name: str
    type: TypeRef
    direction: str | None = None
    default: Expr | None = None
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(eq=False)
class ConstDecl(Decl):
    type: TypeRef
    value: Expr


@dataclass(eq=False)
class VarDecl(Decl):
    type: TypeRef
    init: Expr | None = None


@dataclass(eq=False)
class TypedefDecl(Decl):
    """`typedef T name;` (is_newtype False) or `type T name;` (True)."""

    type: TypeRef
    is_newtype: bool = False


@dataclass(eq=False)
class StructField(Node):
    name: str
    type: TypeRef
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(eq=False)
class HeaderDecl(Decl):
    fields: list[StructField]


@dataclass(eq=False)
class HeaderUnionDecl(Decl):
    fields: list[StructField]


@dataclass(eq=False)
class StructDecl(Decl):
    fields: list[StructField]


@dataclass(eq=False)
class EnumMember(Node):
    name: str
    value: Expr | None = None


@dataclass(eq=False)
class EnumDecl(Decl):
    """`enum E {A, B}` (underlying None) or `enum bit<8> E {A = 1, B = 2}`."""

    members: list[EnumMember]
    underlying: TypeRef | None = None


@dataclass(eq=False)
class ErrorDecl(Decl):
    """`error { A, B }`; several such declarations add up. `name` is "error"."""

    members: list[EnumMember]


@dataclass(eq=False)
class MatchKindDecl(Decl):
    """`match_kind { exact, lpm }`; `name` is "match_kind"."""

    members: list[EnumMember]


@dataclass(eq=False)
class MethodProto(Node):
    """A method or constructor prototype inside an `extern` declaration.
    Constructors have `return_type` None and `name` equal to the extern's."""

    name: str
    return_type: TypeRef | None
    type_params: list[str]
    params: list[Param]
    is_abstract: bool = False
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(eq=False)
class ExternDecl(Decl):
    """`extern Name<T> { ... }`: an extern object type."""

    type_params: list[str]
    methods: list[MethodProto]


@dataclass(eq=False)
class ExternFunctionDecl(Decl):
    """`extern R f<T>(params);`."""

    return_type: TypeRef
    type_params: list[str]
    params: list[Param]


@dataclass(eq=False)
class FunctionDecl(Decl):
    """A P4 function with a body."""

    return_type: TypeRef
    type_params: list[str]
    params: list[Param]
    body: BlockStmt


@dataclass(eq=False)
class ParserTypeDecl(Decl):
    """`parser P<H>(packet_in b, out H h);` (a parser type, no body)."""

    type_params: list[str]
    params: list[Param]


@dataclass(eq=False)
class ControlTypeDecl(Decl):
    type_params: list[str]
    params: list[Param]


@dataclass(eq=False)
class PackageTypeDecl(Decl):
    """`package V1Switch<H, M>(Parser<H, M> p, ...);`."""

    type_params: list[str]
    params: list[Param]


@dataclass(eq=False)
class DirectTransition(Node):
    """`transition state;` (also `accept` and `reject`)."""

    state: str


@dataclass(eq=False)
class SelectCase(Node):
    """`keyset: state;`. `keysets` has one entry per select expression (a
    single `default` or `_` for the whole tuple is expanded by the passes, not
    here: the front end stores what was written)."""

    keysets: list[Expr]
    state: str


@dataclass(eq=False)
class SelectTransition(Node):
    exprs: list[Expr]
    cases: list[SelectCase]


@dataclass(eq=False)
class ParserState(Decl):
    stmts: list[Stmt]
    transition: DirectTransition | SelectTransition | None


@dataclass(eq=False)
class ValueSetDecl(Decl):
    """`value_set<T>(size) name;`."""

    element_type: TypeRef
    size: Expr


@dataclass(eq=False)
class ParserDecl(Decl):
    """A parser with a body. `ctor_params` are its constructor parameters."""

    type_params: list[str]
    params: list[Param]
    ctor_params: list[Param]
    locals: list[Decl]
    states: list[ParserState]


@dataclass(eq=False)
class ActionDecl(Decl):
    params: list[Param]
    body: BlockStmt


@dataclass(eq=False)
class KeyElement(Node):
    """One `expr : match_kind;` line of a table's `key`."""

    expr: Expr
    match_kind: str
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(eq=False)
class ActionRef(Node):
    """An action named in `actions`, `default_action` or an entry, with the
    arguments written there (none in `actions` lists for data-plane params)."""

    name: str
    args: list[Argument] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    dotted: bool = False


@dataclass(eq=False)
class TableEntryDecl(Node):
    """One line of `entries`: `keyset : action(args)`, optionally with
    `priority = N :` before the keyset."""

    keysets: list[Expr]
    action: ActionRef
    priority: Expr | None = None
    is_const: bool = False
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(eq=False)
class TableDecl(Decl):
    keys: list[KeyElement]
    actions: list[ActionRef]
    default_action: ActionRef | None = None
    default_action_is_const: bool = False
    entries: list[TableEntryDecl] | None = None
    entries_are_const: bool = False
    size: Expr | None = None
    # Every other property by name, e.g. "support_timeout", "counters",
    # "meters", "implementation", "largest_priority_wins", "priority_delta".
    properties: dict[str, Expr] = field(default_factory=dict)
    # Annotations written before one of `properties`, by property name
    # (`@name("ap") @max_group_size(8) implementation = action_selector(...)`).
    property_annotations: dict[str, list[Annotation]] = field(default_factory=dict)


@dataclass(eq=False)
class InstanceDecl(Decl):
    """`T(args) name;`: an extern, parser, control or package instance
    (`counter(64, CounterType.packets) c;`, `V1Switch(...) main;`)."""

    type: TypeRef
    args: list[Argument]


@dataclass(eq=False)
class ControlDecl(Decl):
    type_params: list[str]
    params: list[Param]
    ctor_params: list[Param]
    locals: list[Decl]
    body: BlockStmt


@dataclass(eq=False)
class Program(Node):
    """The whole preprocessed program, top-level declarations in source order."""

    decls: list[Decl]
