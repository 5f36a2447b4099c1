"""lark parse tree -> ir.py nodes.

One method per grammar rule (or alias) of p4.lark, each building the IR node
for what the rule matched, positioned at its first token in the original
source (the `locate` callback maps preprocessed positions back through the
preprocessor's line map). Constructs that parse but that the IR cannot hold
are refused here with UnsupportedError, so the passes never see half of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from lark import Token, v_args
from lark.tree import Meta
from lark.visitors import Transformer_NonRecursive

from p4sim import limits
from p4sim.errors import ParseError, SourcePos, UnsupportedError
from p4sim.frontend import ir

Locate = Callable[[int, int], SourcePos]
# Parses an annotation body as an expression list: (body text, where it starts).
AnnotationArgsParser = Callable[[str, Locate], "list[ir.Expr] | None"]


class Ident(NamedTuple):
    """A name with the position of its token."""

    text: str
    pos: SourcePos


class _Property(NamedTuple):
    name: str
    pos: SourcePos
    is_const: bool
    value: Any
    annotations: tuple[ir.Annotation, ...] = ()


class _KeysetTuple(list[ir.Expr]):
    """The keysets of a parenthesised tuple keyset `(a, b &&& m, _)`."""


_INT_RE = re.compile(r"(?:([0-9][0-9_]*)([ws]))?(.*)", re.DOTALL)
_BASES = {"x": 16, "X": 16, "o": 8, "O": 8, "b": 2, "B": 2, "d": 10, "D": 10}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"'}
_ANNOTATION_RE = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)[ \t]*(?:([(\[])(.*)[)\]])?\Z", re.DOTALL)


def parse_int_literal(text: str, pos: SourcePos) -> ir.IntLit:
    match = _INT_RE.fullmatch(text)
    assert match is not None  # the INTEGER terminal only matches this shape
    width_text, kind, digits = match.groups()
    base = 10
    if len(digits) > 2 and digits[0] == "0" and digits[1] in _BASES:
        base = _BASES[digits[1]]
        digits = digits[2:]
    for number in (digits, width_text or ""):
        # Every significant digit adds a bit; Python refuses to read over 4300.
        if len(number.replace("_", "").lstrip("0")) > limits.MAX_INT_BITS:
            raise ParseError(pos, f"integer literal of {len(number)} digits: p4sim computes "
                             f"with at most {limits.MAX_INT_BITS}-bit constants")
    try:
        value = int(digits.replace("_", ""), base)
    except ValueError:
        raise ParseError(pos, f"malformed integer literal '{text}'") from None
    if width_text is None:
        return ir.IntLit(pos, value)
    return ir.IntLit(pos, value, width=int(width_text.replace("_", "")), signed=kind == "s")


def parse_string_literal(text: str) -> str:
    body = text[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _opt(value: list[Any] | None) -> list[Any]:
    return value if value is not None else []


def _nodes(children: list[Any]) -> list[Any]:
    """Children with the kept punctuation tokens and empty placeholders removed."""
    return [c for c in children if c is not None and not isinstance(c, Token)]


def _keysets(keyset: ir.Expr | _KeysetTuple) -> list[ir.Expr]:
    return list(keyset) if isinstance(keyset, _KeysetTuple) else [keyset]


@v_args(meta=True)
class IRBuilder(Transformer_NonRecursive[Token, Any]):
    """Builds the IR bottom-up from a p4.lark parse tree (without recursion:
    how deep a tree may be is `nesting.py`'s to decide)."""

    def __init__(self, locate: Locate, parse_annotation_args: AnnotationArgsParser) -> None:
        super().__init__(visit_tokens=False)
        self._locate = locate
        self._parse_annotation_args = parse_annotation_args
        # `T.apply(...)` calls seen since the last parser/control declaration:
        # (type, the NameRef the call applies), made instances by that declaration.
        self._direct_applies: list[tuple[ir.NamedTypeRef, ir.NameRef]] = []

    def _instantiate_direct_applies(self) -> list[ir.Decl]:
        """p4c's InstantiateDirectCalls: `T.apply(...)` in a parser or control
        applies an instance `T() T_inst;` that is named `T` for the control
        plane; one instance per type and block here."""
        made: dict[str, ir.InstanceDecl] = {}
        for type_ref, ref in self._direct_applies:
            decl = made.get(type_ref.name)
            if decl is None:
                pos = type_ref.pos
                note = ir.Annotation(pos, "name", [ir.StringLit(pos, type_ref.name)],
                                     f'"{type_ref.name}"')
                decl = ir.InstanceDecl(pos, f"{type_ref.name}_inst", type_ref, [],
                                       annotations=[note])
                made[type_ref.name] = decl
            ref.name = decl.name
            ref.dotted = False
        self._direct_applies = []
        return list(made.values())

    # ---------------------------------------------------------------- helpers

    def _pos(self, meta: Meta) -> SourcePos:
        if getattr(meta, "empty", True):
            return self._locate(1, 1)
        return self._locate(meta.line, meta.column)

    def _tpos(self, token: Token) -> SourcePos:
        return self._locate(token.line or 1, token.column or 1)

    # ------------------------------------------------------------ top level

    def program(self, meta: Meta, children: list[Any]) -> ir.Program:
        return ir.Program(self._pos(meta), [d for d in children if d is not None])

    def empty_decl(self, meta: Meta, children: list[Any]) -> None:
        return None

    def annotations(self, meta: Meta, children: list[Token]) -> list[ir.Annotation]:
        return [self._annotation(token) for token in children]

    def _annotation(self, token: Token) -> ir.Annotation:
        pos = self._tpos(token)
        match = _ANNOTATION_RE.match(token.value)
        assert match is not None  # the ANNOTATION terminal only matches this shape
        name, bracket, body = match.groups()
        if bracket is None:
            return ir.Annotation(pos, name, None, "")
        args: list[ir.Expr] | None = None
        if bracket == "(":
            if body.strip():
                line, column = token.line or 1, token.column or 1
                offset = match.start(3)
                before = token.value[:offset]
                body_line = line + before.count("\n")
                body_col = (
                    column + offset if "\n" not in before else offset - before.rfind("\n")
                )

                def locate(sub_line: int, sub_col: int) -> SourcePos:
                    if sub_line == 1:
                        return self._locate(body_line, body_col + sub_col - 1)
                    return self._locate(body_line + sub_line - 1, sub_col)

                args = self._parse_annotation_args(body, locate)
            else:
                args = []
        return ir.Annotation(pos, name, args, body)

    def annotation_args(self, meta: Meta, children: list[Any]) -> list[ir.Expr]:
        return _nodes(children)

    # ----------------------------------------------------------------- names

    def member_name(self, meta: Meta, children: list[Token]) -> Ident:
        return Ident(children[0].value, self._tpos(children[0]))

    def type_name(self, meta: Meta, children: list[Token]) -> ir.NamedTypeRef:
        return ir.NamedTypeRef(
            self._pos(meta), children[-1].value, [], dotted=len(children) == 2
        )

    def prefixed_name(self, meta: Meta, children: list[Token]) -> ir.NameRef:
        return ir.NameRef(self._pos(meta), children[-1].value, dotted=len(children) == 2)

    def name_list(self, meta: Meta, children: list[Ident]) -> list[Ident]:
        return children

    # ----------------------------------------------------------------- types

    def type_ref(self, meta: Meta, children: list[ir.TypeRef]) -> ir.TypeRef:
        return children[0]

    def named_type(self, meta: Meta, children: list[ir.NamedTypeRef]) -> ir.NamedTypeRef:
        return children[0]

    def specialized_type(self, meta: Meta, children: list[Any]) -> ir.NamedTypeRef:
        base: ir.NamedTypeRef = children[0]
        return ir.NamedTypeRef(base.pos, base.name, children[2], dotted=base.dotted)

    def header_stack_type(self, meta: Meta, children: list[Any]) -> ir.StackTypeRef:
        return ir.StackTypeRef(self._pos(meta), children[0], children[1])

    def tuple_type(self, meta: Meta, children: list[Any]) -> ir.TupleTypeRef:
        return ir.TupleTypeRef(self._pos(meta), children[1])

    def bool_type(self, meta: Meta, children: list[Any]) -> ir.BoolTypeRef:
        return ir.BoolTypeRef(self._pos(meta))

    def error_type(self, meta: Meta, children: list[Any]) -> ir.ErrorTypeRef:
        return ir.ErrorTypeRef(self._pos(meta))

    def match_kind_type(self, meta: Meta, children: list[Any]) -> ir.MatchKindTypeRef:
        return ir.MatchKindTypeRef(self._pos(meta))

    def string_type(self, meta: Meta, children: list[Any]) -> ir.StringTypeRef:
        return ir.StringTypeRef(self._pos(meta))

    def int_type(self, meta: Meta, children: list[Any]) -> ir.IntTypeRef:
        return ir.IntTypeRef(self._pos(meta))

    def bit_type(self, meta: Meta, children: list[Any]) -> ir.BitTypeRef:
        pos = self._pos(meta)
        width = children[1] if children else ir.IntLit(pos, 1)
        return ir.BitTypeRef(pos, width, signed=False)

    def signed_type(self, meta: Meta, children: list[Any]) -> ir.BitTypeRef:
        return ir.BitTypeRef(self._pos(meta), children[1], signed=True)

    def varbit_type(self, meta: Meta, children: list[Any]) -> ir.VarbitTypeRef:
        return ir.VarbitTypeRef(self._pos(meta), children[1])

    def rangle(self, meta: Meta, children: list[Any]) -> None:
        return None

    def type_args(self, meta: Meta, children: list[ir.TypeRef]) -> list[ir.TypeRef]:
        return children

    def dontcare_type(self, meta: Meta, children: list[Any]) -> ir.DontCareTypeRef:
        return ir.DontCareTypeRef(self._pos(meta))

    def void_type(self, meta: Meta, children: list[Any]) -> ir.VoidTypeRef:
        return ir.VoidTypeRef(self._pos(meta))

    def type_or_void(self, meta: Meta, children: list[ir.TypeRef]) -> ir.TypeRef:
        return children[0]

    def unbound_type(self, meta: Meta, children: list[Token]) -> ir.NamedTypeRef:
        return ir.NamedTypeRef(self._pos(meta), children[0].value)

    def type_params(self, meta: Meta, children: list[Any]) -> list[str]:
        return [c.text for c in children if isinstance(c, Ident)]

    # ----------------------------------------------------------- expressions

    def ternary(self, meta: Meta, children: list[ir.Expr]) -> ir.Ternary:
        return ir.Ternary(self._pos(meta), children[0], children[1], children[2])

    def binary(self, meta: Meta, children: list[Any]) -> ir.Binary:
        left, op, right = children
        return ir.Binary(self._pos(meta), op.value, left, right)

    def shift_right(self, meta: Meta, children: list[Any]) -> ir.Binary:
        return ir.Binary(self._pos(meta), ">>", children[0], children[3])

    def unary(self, meta: Meta, children: list[Any]) -> ir.Expr:
        op, operand = children
        if op.value == "+":
            return operand  # type: ignore[no-any-return]
        return ir.Unary(self._pos(meta), op.value, operand)

    def cast(self, meta: Meta, children: list[Any]) -> ir.Cast:
        return ir.Cast(self._pos(meta), children[0], children[1])

    def member(self, meta: Meta, children: list[Any]) -> ir.Member:
        return ir.Member(self._pos(meta), children[0], children[2].text)

    def index(self, meta: Meta, children: list[Any]) -> ir.Index:
        return ir.Index(self._pos(meta), children[0], children[1])

    def slice(self, meta: Meta, children: list[Any]) -> ir.Slice:
        return ir.Slice(self._pos(meta), children[0], children[1], children[2])

    def call(self, meta: Meta, children: list[Any]) -> ir.Call:
        return ir.Call(self._pos(meta), children[0], _opt(children[1]))

    def generic_call(self, meta: Meta, children: list[Any]) -> ir.Call:
        callee, _, type_args, _, args = children
        return ir.Call(self._pos(meta), callee, _opt(args), type_args)

    def int_lit(self, meta: Meta, children: list[Token]) -> ir.IntLit:
        return parse_int_literal(children[0].value, self._tpos(children[0]))

    def name_ref(self, meta: Meta, children: list[Token]) -> ir.NameRef:
        return ir.NameRef(self._tpos(children[0]), children[0].value)

    def string_lit(self, meta: Meta, children: list[Token]) -> ir.StringLit:
        return ir.StringLit(self._pos(meta), parse_string_literal(children[0].value))

    def true_lit(self, meta: Meta, children: list[Any]) -> ir.BoolLit:
        return ir.BoolLit(self._pos(meta), True)

    def false_lit(self, meta: Meta, children: list[Any]) -> ir.BoolLit:
        return ir.BoolLit(self._pos(meta), False)

    def name_expr(self, meta: Meta, children: list[ir.NameRef]) -> ir.NameRef:
        return children[0]

    def error_member(self, meta: Meta, children: list[Any]) -> ir.Member:
        pos = self._pos(meta)
        return ir.Member(pos, ir.NameRef(pos, "error"), children[-1].text)

    def type_member(self, meta: Meta, children: list[Any]) -> ir.Member:
        base: ir.NamedTypeRef = children[0]
        target = ir.NameRef(base.pos, base.name, dotted=base.dotted)
        return ir.Member(self._pos(meta), target, children[2].text)

    def ctor_call(self, meta: Meta, children: list[Any]) -> ir.Call:
        base: ir.NamedTypeRef = children[0]
        callee = ir.NameRef(base.pos, base.name, dotted=base.dotted)
        return ir.Call(self._pos(meta), callee, _opt(children[1]), base.type_args)

    def list_expr(self, meta: Meta, children: list[Any]) -> ir.ListExpr:
        return ir.ListExpr(self._pos(meta), _nodes(children))

    def struct_init(self, meta: Meta, children: list[Any]) -> ir.StructInitExpr:
        return ir.StructInitExpr(self._pos(meta), _nodes(children))

    def kv_pair(self, meta: Meta, children: list[Any]) -> tuple[str, ir.Expr]:
        return children[0].text, children[1]

    def this_expr(self, meta: Meta, children: list[Any]) -> ir.Expr:
        raise UnsupportedError(self._pos(meta), "'this'")

    def arg_list(self, meta: Meta, children: list[ir.Argument]) -> list[ir.Argument]:
        return children

    def positional_arg(self, meta: Meta, children: list[ir.Expr]) -> ir.Argument:
        return ir.Argument(self._pos(meta), children[0])

    def named_arg(self, meta: Meta, children: list[Any]) -> ir.Argument:
        return ir.Argument(self._pos(meta), children[1], children[0].text)

    def dontcare_arg(self, meta: Meta, children: list[Any]) -> ir.Argument:
        pos = self._pos(meta)
        return ir.Argument(pos, ir.Default(pos))

    def expr_list(self, meta: Meta, children: list[ir.Expr]) -> list[ir.Expr]:
        return children

    # --------------------------------------------------------------- keysets

    def tuple_keyset(self, meta: Meta, children: list[ir.Expr]) -> _KeysetTuple:
        return _KeysetTuple(children)

    def default_keyset(self, meta: Meta, children: list[Any]) -> ir.Default:
        return ir.Default(self._pos(meta))

    def mask_keyset(self, meta: Meta, children: list[Any]) -> ir.Mask:
        return ir.Mask(self._pos(meta), children[0], children[2])

    def range_keyset(self, meta: Meta, children: list[Any]) -> ir.Range:
        return ir.Range(self._pos(meta), children[0], children[2])

    # ------------------------------------------------------------ statements

    def block(self, meta: Meta, children: list[Any]) -> ir.BlockStmt:
        return ir.BlockStmt(self._pos(meta), _nodes(children[1:]), _opt(children[0]))

    def assignment(self, meta: Meta, children: list[Any]) -> ir.AssignStmt:
        return ir.AssignStmt(self._pos(meta), children[0], children[1])

    def compound_assignment(self, meta: Meta, children: list[Any]) -> ir.AssignStmt:
        """`x op= e` is `x = x op e` with `x` evaluated once: the right-hand
        side reads the target through an LValueRead of the same node."""
        lhs, rhs = children[0], children[-1]
        op = ">>" if len(children) == 4 else str(children[1])[:-1]
        pos = self._pos(meta)
        return ir.AssignStmt(pos, lhs, ir.Binary(pos, op, ir.LValueRead(lhs.pos, lhs), rhs))

    def call_statement(self, meta: Meta, children: list[Any]) -> ir.CallStmt:
        pos = self._pos(meta)
        return ir.CallStmt(pos, ir.Call(pos, children[0], _opt(children[1])))

    def generic_call_statement(self, meta: Meta, children: list[Any]) -> ir.CallStmt:
        pos = self._pos(meta)
        callee, _, type_args, _, args = children
        return ir.CallStmt(pos, ir.Call(pos, callee, _opt(args), type_args))

    def direct_apply(self, meta: Meta, children: list[Any]) -> ir.CallStmt:
        pos = self._pos(meta)
        base: ir.NamedTypeRef = children[0]
        target = ir.NameRef(base.pos, base.name, dotted=base.dotted)
        self._direct_applies.append((base, target))
        callee = ir.Member(pos, target, "apply")
        return ir.CallStmt(pos, ir.Call(pos, callee, _opt(children[3])))

    def for_statement(self, meta: Meta, children: list[Any]) -> ir.ForStmt:
        init, cond, updates, body = children
        return ir.ForStmt(self._pos(meta), _opt(init), cond, _opt(updates), body)

    def for_in_statement(self, meta: Meta, children: list[Any]) -> ir.Stmt:
        raise UnsupportedError(self._pos(meta), "for-in loop")

    def for_items(self, meta: Meta, children: list[ir.Stmt]) -> list[ir.Stmt]:
        return children

    def for_var(self, meta: Meta, children: list[Any]) -> ir.VarDecl:
        type_ref, name, init = children
        return ir.VarDecl(self._pos(meta), name.text, type_ref, init)

    def break_statement(self, meta: Meta, children: list[Any]) -> ir.BreakStmt:
        return ir.BreakStmt(self._pos(meta))

    def continue_statement(self, meta: Meta, children: list[Any]) -> ir.ContinueStmt:
        return ir.ContinueStmt(self._pos(meta))

    def if_statement(self, meta: Meta, children: list[Any]) -> ir.IfStmt:
        return ir.IfStmt(self._pos(meta), children[0], children[1], children[2])

    def exit_statement(self, meta: Meta, children: list[Any]) -> ir.ExitStmt:
        return ir.ExitStmt(self._pos(meta))

    def return_statement(self, meta: Meta, children: list[Any]) -> ir.ReturnStmt:
        return ir.ReturnStmt(self._pos(meta), children[0])

    def empty_statement(self, meta: Meta, children: list[Any]) -> ir.EmptyStmt:
        return ir.EmptyStmt(self._pos(meta))

    def switch_case(self, meta: Meta, children: list[Any]) -> tuple[ir.Expr, Any]:
        return children[0], children[1]

    def switch_statement(self, meta: Meta, children: list[Any]) -> ir.SwitchStmt:
        """Groups `a: b: { ... }` into one case; labels left without a block at
        the end form a last case whose body is None."""
        cases: list[ir.SwitchCase] = []
        labels: list[ir.Expr] = []
        for label, body in children[1:]:
            labels.append(label)
            if body is not None:
                cases.append(ir.SwitchCase(labels[0].pos, labels, body))
                labels = []
        if labels:
            cases.append(ir.SwitchCase(labels[0].pos, labels, None))
        return ir.SwitchStmt(self._pos(meta), children[0], cases)

    def var_decl(self, meta: Meta, children: list[Any]) -> ir.VarDecl:
        annotations, type_ref, name, init = children
        return ir.VarDecl(
            self._pos(meta), name.text, type_ref, init, annotations=_opt(annotations)
        )

    def constant_decl(self, meta: Meta, children: list[Any]) -> ir.ConstDecl:
        annotations, type_ref, name, value = children
        return ir.ConstDecl(
            self._pos(meta), name.text, type_ref, value, annotations=_opt(annotations)
        )

    def instantiation(self, meta: Meta, children: list[Any]) -> ir.InstanceDecl:
        annotations, type_ref, args, name = children
        return ir.InstanceDecl(
            self._pos(meta), name.text, type_ref, _opt(args), annotations=_opt(annotations)
        )

    # ---------------------------------------------------------- declarations

    def param_list(self, meta: Meta, children: list[ir.Param]) -> list[ir.Param]:
        return children

    def param(self, meta: Meta, children: list[Any]) -> ir.Param:
        annotations, direction, type_ref, name, default = children
        return ir.Param(
            self._pos(meta), name.text, type_ref, direction, default, _opt(annotations)
        )

    def direction(self, meta: Meta, children: list[Token]) -> str:
        return str(children[0].value)

    def ctor_params(self, meta: Meta, children: list[Any]) -> list[ir.Param]:
        return _opt(children[0])

    def struct_field(self, meta: Meta, children: list[Any]) -> ir.StructField:
        annotations, type_ref, name = children
        return ir.StructField(self._pos(meta), name.text, type_ref, _opt(annotations))

    def _fields_decl(
        self, meta: Meta, children: list[Any], kind: str
    ) -> tuple[SourcePos, list[ir.Annotation], str, list[ir.StructField]]:
        annotations, name, type_params, *fields = children
        pos = self._pos(meta)
        if type_params is not None:
            raise UnsupportedError(pos, f"generic {kind} type '{name.text}'")
        return pos, _opt(annotations), name.text, fields

    def header_decl(self, meta: Meta, children: list[Any]) -> ir.HeaderDecl:
        pos, annotations, name, fields = self._fields_decl(meta, children, "header")
        return ir.HeaderDecl(pos, name, fields, annotations=annotations)

    def header_union_decl(self, meta: Meta, children: list[Any]) -> ir.HeaderUnionDecl:
        pos, annotations, name, fields = self._fields_decl(meta, children, "header_union")
        return ir.HeaderUnionDecl(pos, name, fields, annotations=annotations)

    def struct_decl(self, meta: Meta, children: list[Any]) -> ir.StructDecl:
        pos, annotations, name, fields = self._fields_decl(meta, children, "struct")
        return ir.StructDecl(pos, name, fields, annotations=annotations)

    def enum_decl(self, meta: Meta, children: list[Any]) -> ir.EnumDecl:
        annotations, underlying, name, *members = children
        return ir.EnumDecl(
            self._pos(meta), name.text, members, underlying, annotations=_opt(annotations)
        )

    def enum_member(self, meta: Meta, children: list[Any]) -> ir.EnumMember:
        return ir.EnumMember(self._pos(meta), children[0].text, children[1])

    def error_decl(self, meta: Meta, children: list[Any]) -> ir.ErrorDecl:
        members = [ir.EnumMember(n.pos, n.text) for n in _opt(children[0])]
        return ir.ErrorDecl(self._pos(meta), "error", members)

    def match_kind_decl(self, meta: Meta, children: list[Any]) -> ir.MatchKindDecl:
        members = [ir.EnumMember(n.pos, n.text) for n in _opt(children[0])]
        return ir.MatchKindDecl(self._pos(meta), "match_kind", members)

    def typedef_decl(self, meta: Meta, children: list[Any]) -> ir.TypedefDecl:
        annotations, type_ref, name = children
        return ir.TypedefDecl(
            self._pos(meta), name.text, type_ref, False, annotations=_opt(annotations)
        )

    def newtype_decl(self, meta: Meta, children: list[Any]) -> ir.TypedefDecl:
        annotations, _, type_ref, name = children
        return ir.TypedefDecl(
            self._pos(meta), name.text, type_ref, True, annotations=_opt(annotations)
        )

    def extern_object(self, meta: Meta, children: list[Any]) -> ir.ExternDecl:
        annotations, name, type_params, *methods = children
        return ir.ExternDecl(
            self._pos(meta), name.value, _opt(type_params), methods,
            annotations=_opt(annotations),
        )

    def extern_forward(self, meta: Meta, children: list[Any]) -> ir.ExternDecl:
        annotations, name = children
        return ir.ExternDecl(self._pos(meta), name.value, [], [], annotations=_opt(annotations))

    def extern_function(self, meta: Meta, children: list[Any]) -> ir.ExternFunctionDecl:
        annotations, return_type, name, type_params, params = children
        return ir.ExternFunctionDecl(
            self._pos(meta), name.text, return_type, _opt(type_params), _opt(params),
            annotations=_opt(annotations),
        )

    def method(self, meta: Meta, children: list[Any]) -> ir.MethodProto:
        annotations, return_type, name, type_params, params = children
        return ir.MethodProto(
            self._pos(meta), name.text, return_type, _opt(type_params), _opt(params),
            annotations=_opt(annotations),
        )

    def abstract_method(self, meta: Meta, children: list[Any]) -> ir.MethodProto:
        proto = self.method(meta, children)
        proto.is_abstract = True
        return proto

    def constructor(self, meta: Meta, children: list[Any]) -> ir.MethodProto:
        annotations, name, params = children
        return ir.MethodProto(
            self._pos(meta), name.value, None, [], _opt(params),
            annotations=_opt(annotations),
        )

    def function_decl(self, meta: Meta, children: list[Any]) -> ir.FunctionDecl:
        annotations, return_type, name, type_params, params, body = children
        return ir.FunctionDecl(
            self._pos(meta), name.text, return_type, _opt(type_params), _opt(params), body,
            annotations=_opt(annotations),
        )

    def action_decl(self, meta: Meta, children: list[Any]) -> ir.ActionDecl:
        annotations, name, params, body = children
        return ir.ActionDecl(
            self._pos(meta), name.text, _opt(params), body, annotations=_opt(annotations)
        )

    def package_type_decl(self, meta: Meta, children: list[Any]) -> ir.PackageTypeDecl:
        annotations, name, type_params, params = children
        return ir.PackageTypeDecl(
            self._pos(meta), name.text, _opt(type_params), _opt(params),
            annotations=_opt(annotations),
        )

    def parser_type_decl(self, meta: Meta, children: list[Any]) -> ir.ParserTypeDecl:
        annotations, name, type_params, params = children
        return ir.ParserTypeDecl(
            self._pos(meta), name.text, _opt(type_params), _opt(params),
            annotations=_opt(annotations),
        )

    def control_type_decl(self, meta: Meta, children: list[Any]) -> ir.ControlTypeDecl:
        annotations, name, type_params, params = children
        return ir.ControlTypeDecl(
            self._pos(meta), name.text, _opt(type_params), _opt(params),
            annotations=_opt(annotations),
        )

    def parser_decl(self, meta: Meta, children: list[Any]) -> ir.ParserDecl:
        annotations, name, type_params, params, ctor_params, *body = children
        states = [c for c in body if isinstance(c, ir.ParserState)]
        local_decls = [c for c in body if not isinstance(c, ir.ParserState)]
        local_decls += self._instantiate_direct_applies()
        return ir.ParserDecl(
            self._pos(meta), name.text, _opt(type_params), _opt(params), _opt(ctor_params),
            local_decls, states, annotations=_opt(annotations),
        )

    def value_set_decl(self, meta: Meta, children: list[Any]) -> ir.ValueSetDecl:
        annotations, _, element, _, size, name = children
        return ir.ValueSetDecl(
            self._pos(meta), name.text, element, size, annotations=_opt(annotations)
        )

    def parser_state(self, meta: Meta, children: list[Any]) -> ir.ParserState:
        annotations, _, name, *stmts, transition = children
        return ir.ParserState(
            self._pos(meta), name.text, stmts, transition, annotations=_opt(annotations)
        )

    def direct_transition(self, meta: Meta, children: list[Any]) -> ir.DirectTransition:
        return ir.DirectTransition(self._pos(meta), children[0].text)

    def select_transition(self, meta: Meta, children: list[Any]) -> ir.SelectTransition:
        return ir.SelectTransition(self._pos(meta), children[0], children[1:])

    def select_case(self, meta: Meta, children: list[Any]) -> ir.SelectCase:
        return ir.SelectCase(self._pos(meta), _keysets(children[0]), children[1].text)

    def control_decl(self, meta: Meta, children: list[Any]) -> ir.ControlDecl:
        annotations, name, type_params, params, ctor_params, *local_decls, _, body = children
        local_decls += self._instantiate_direct_applies()
        return ir.ControlDecl(
            self._pos(meta), name.text, _opt(type_params), _opt(params), _opt(ctor_params),
            local_decls, body, annotations=_opt(annotations),
        )

    # ---------------------------------------------------------------- tables

    def const_kw(self, meta: Meta, children: list[Any]) -> bool:
        return True

    def key_property(self, meta: Meta, children: list[Any]) -> _Property:
        return _Property("key", self._tpos(children[1]), False, children[2:])

    def actions_property(self, meta: Meta, children: list[Any]) -> _Property:
        return _Property("actions", self._tpos(children[1]), False, children[2:])

    def entries_property(self, meta: Meta, children: list[Any]) -> _Property:
        _, is_const, keyword, *entries = children
        return _Property("entries", self._tpos(keyword), bool(is_const), entries)

    def generic_property(self, meta: Meta, children: list[Any]) -> _Property:
        annotations, is_const, name, value = children
        return _Property(
            name.value, self._tpos(name), bool(is_const), value, tuple(_opt(annotations))
        )

    def key_element(self, meta: Meta, children: list[Any]) -> ir.KeyElement:
        expr, match_kind, annotations = children
        return ir.KeyElement(self._pos(meta), expr, match_kind.text, _opt(annotations))

    def action_item(self, meta: Meta, children: list[Any]) -> ir.ActionRef:
        annotations, ref = children
        ref.annotations = _opt(annotations)
        return ref  # type: ignore[no-any-return]

    def action_ref(self, meta: Meta, children: list[Any]) -> ir.ActionRef:
        name: ir.NameRef = children[0]
        args = children[1] if len(children) > 1 else None
        return ir.ActionRef(self._pos(meta), name.name, _opt(args), dotted=name.dotted)

    def table_entry(self, meta: Meta, children: list[Any]) -> ir.TableEntryDecl:
        annotations, is_const, priority, keyset, action, trailing = children
        return ir.TableEntryDecl(
            self._pos(meta), _keysets(keyset), action, priority, bool(is_const),
            _opt(annotations) + _opt(trailing),
        )

    def entry_priority(self, meta: Meta, children: list[Any]) -> ir.Expr:
        value = children[1]
        if isinstance(value, Token):
            return parse_int_literal(value.value, self._tpos(value))
        return value  # type: ignore[no-any-return]

    def table_decl(self, meta: Meta, children: list[Any]) -> ir.TableDecl:
        annotations, name, *properties = children
        table = ir.TableDecl(
            self._pos(meta), name.text, [], [], annotations=_opt(annotations)
        )
        seen: set[str] = set()
        for prop in properties:
            if prop.name in seen:
                raise ParseError(
                    prop.pos, f"table '{name.text}' sets property '{prop.name}' twice"
                )
            seen.add(prop.name)
            self._set_property(table, prop)
        return table

    def _set_property(self, table: ir.TableDecl, prop: _Property) -> None:
        if prop.name == "key":
            table.keys = prop.value
        elif prop.name == "actions":
            table.actions = prop.value
        elif prop.name == "entries":
            table.entries = prop.value
            table.entries_are_const = prop.is_const
            if prop.is_const:
                for entry in prop.value:
                    entry.is_const = True
        elif prop.name == "default_action":
            table.default_action = self._action_ref_of(prop.value, prop.pos)
            table.default_action_is_const = prop.is_const
        elif prop.name == "size":
            table.size = prop.value
        else:
            table.properties[prop.name] = prop.value
            if prop.annotations:
                table.property_annotations[prop.name] = list(prop.annotations)

    def _action_ref_of(self, value: ir.Expr, pos: SourcePos) -> ir.ActionRef:
        """`default_action = a(1, 2);` parses as an expression; it names an action."""
        if isinstance(value, ir.NameRef):
            return ir.ActionRef(value.pos, value.name, dotted=value.dotted)
        if (
            isinstance(value, ir.Call)
            and isinstance(value.callee, ir.NameRef)
            and not value.type_args
        ):
            callee = value.callee
            return ir.ActionRef(value.pos, callee.name, value.args, dotted=callee.dotted)
        raise ParseError(pos, "default_action must name an action, as in 'a' or 'a(1)'")
