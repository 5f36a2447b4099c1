"""Names and scopes: what each identifier in a P4 program refers to.

A `Scope` maps names to `Sym`s and chains to its enclosing scope, following
P4_16's lexical scoping (top level, then parser/control, then action or block).
Types and values live in separate namespaces, as in P4 (`ipv4_t` the header
type and `ipv4` the field can share a scope). The type checker records the
`Sym` each `NameRef` resolves to, so the code generator never looks names up
again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from p4sim.errors import SourcePos, TypeCheckError
from p4sim.frontend import ir
from p4sim.runtime.types import Type


@dataclass(eq=False)
class Sym:
    """One named thing.

    kind is one of:
      "type"        a type name (`type` holds it)
      "const"       a compile-time constant (`value`)
      "var"         a local variable or parameter (`direction` for parameters,
                    "ctor" for constructor parameters)
      "action", "function", "extern_function", "table", "instance", "state",
      "value_set", "block" (a parser/control with a body, used as constructor)
    """

    kind: str
    name: str
    type: Type | None = None
    decl: Any = None
    value: Any = None
    direction: str | None = None
    # Extern functions may be overloaded by arity.
    overloads: list[Any] = field(default_factory=list)
    # Unique id so the code generator can name Python variables.
    uid: int = 0


class Scope:
    _counter = 0

    def __init__(self, parent: Scope | None, what: str = "") -> None:
        self.parent = parent
        self.what = what
        self.values: dict[str, Sym] = {}
        self.types: dict[str, Sym] = {}

    def top(self) -> Scope:
        scope = self
        while scope.parent is not None:
            scope = scope.parent
        return scope

    def declare(self, sym: Sym, pos: SourcePos, *, is_type: bool = False) -> Sym:
        table = self.types if is_type else self.values
        old = table.get(sym.name)
        if old is not None:
            if sym.kind == "extern_function" and old.kind == "extern_function":
                old.overloads.extend(sym.overloads)
                return old
            raise TypeCheckError(pos, f"'{sym.name}' is already declared in this scope")
        Scope._counter += 1
        sym.uid = Scope._counter
        table[sym.name] = sym
        return sym

    def lookup_value(self, name: str, dotted: bool = False) -> Sym | None:
        scope: Scope | None = self.top() if dotted else self
        while scope is not None:
            sym = scope.values.get(name)
            if sym is not None:
                return sym
            scope = scope.parent
        return None

    def lookup_type(self, name: str, dotted: bool = False) -> Sym | None:
        scope: Scope | None = self.top() if dotted else self
        while scope is not None:
            sym = scope.types.get(name)
            if sym is not None:
                return sym
            scope = scope.parent
        return None


def name_of(annotations: list[ir.Annotation], default: str) -> str:
    """The `@name("...")` of a declaration, or `default`."""
    note = ir.find_annotation(annotations, "name")
    if note is not None and note.args and isinstance(note.args[0], ir.StringLit):
        return note.args[0].value
    return default


def annotation_int(annotations: list[ir.Annotation], name: str) -> int | None:
    note = ir.find_annotation(annotations, name)
    if note is not None and note.args and isinstance(note.args[0], ir.IntLit):
        return note.args[0].value
    return None
