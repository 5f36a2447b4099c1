"""Resolved P4 types: what the passes compute from the IR's `TypeRef`s.

Type objects are immutable and compared structurally, except named types
(headers, structs, enums, externs...) which are equal only to themselves, as
in P4's nominal typing. The code generator reads header layouts and widths
from here, so this module is shared by the passes and the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from p4sim.frontend import ir


class Type:
    """Base of every resolved type."""

    def __str__(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class BitT(Type):
    """`bit<W>` (signed False) or `int<W>` (signed True)."""

    width: int
    signed: bool = False

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1

    def __str__(self) -> str:
        return f"{'int' if self.signed else 'bit'}<{self.width}>"


@dataclass(frozen=True)
class InfIntT(Type):
    """The arbitrary-precision `int`: compile-time values only."""

    def __str__(self) -> str:
        return "int"


@dataclass(frozen=True)
class BoolT(Type):
    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class StringT(Type):
    def __str__(self) -> str:
        return "string"


@dataclass(frozen=True)
class VoidT(Type):
    def __str__(self) -> str:
        return "void"


@dataclass(frozen=True)
class ErrorT(Type):
    def __str__(self) -> str:
        return "error"


@dataclass(frozen=True)
class MatchKindT(Type):
    def __str__(self) -> str:
        return "match_kind"


@dataclass(frozen=True)
class DontCareT(Type):
    """The type of `_`/`default` in keysets and of a `_` argument."""

    def __str__(self) -> str:
        return "_"


@dataclass(frozen=True)
class TypeVar(Type):
    """A generic type parameter, e.g. `T` in `extern register<T>`."""

    name: str
    owner: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class VarbitT(Type):
    """`varbit<W>`: a header field of 0..W bits, the length set by extract.

    At run time a value is the pair `(length in bits, value)`, so `==`
    compares both, as P4_16 8.9 asks."""

    max_width: int

    def __str__(self) -> str:
        return f"varbit<{self.max_width}>"


@dataclass(frozen=True)
class TupleT(Type):
    elements: tuple[Type, ...]

    def __str__(self) -> str:
        return "tuple<" + ", ".join(map(str, self.elements)) + ">"


@dataclass(frozen=True)
class SetT(Type):
    """The type of a keyset expression (`a &&& m`, `lo .. hi`) of element type."""

    element: Type

    def __str__(self) -> str:
        return f"set<{self.element}>"


@dataclass(eq=False, frozen=True)
class Field:
    name: str
    type: Type
    annotations: tuple[ir.Annotation, ...] = ()


@dataclass(eq=False)
class NamedT(Type):
    """A nominal type: equal only to itself."""

    name: str

    def __str__(self) -> str:
        return self.name

    def __hash__(self) -> int:
        return id(self)


@dataclass(eq=False)
class StructLikeT(NamedT):
    fields: list[Field] = field(default_factory=list)
    annotations: tuple[ir.Annotation, ...] = ()

    def get_field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    __hash__ = NamedT.__hash__


@dataclass(eq=False)
class HeaderT(StructLikeT):
    @property
    def width(self) -> int:
        """Bits of the fixed-width fields (a varbit field counts 0)."""
        return sum(width_of(f.type) for f in self.fields)

    @property
    def varbit(self) -> Field | None:
        """The header's varbit field, if it has one."""
        for f in self.fields:
            if isinstance(f.type, VarbitT):
                return f
        return None

    __hash__ = NamedT.__hash__


@dataclass(eq=False)
class HeaderUnionT(StructLikeT):
    __hash__ = NamedT.__hash__


@dataclass(eq=False)
class StructT(StructLikeT):
    __hash__ = NamedT.__hash__


@dataclass(eq=False)
class EnumT(NamedT):
    """`members` maps a member name to its value: the position for a plain
    enum, the declared value for an enum with an underlying type."""

    members: dict[str, int] = field(default_factory=dict)
    underlying: BitT | None = None

    __hash__ = NamedT.__hash__


@dataclass(eq=False)
class NewT(NamedT):
    """`type T N;`: a distinct type with T's representation."""

    base: Type = field(default_factory=VoidT)

    __hash__ = NamedT.__hash__


@dataclass(eq=False)
class ExternT(NamedT):
    """An extern object type, with type arguments once instantiated."""

    decl: ir.ExternDecl | None = None
    type_args: tuple[Type, ...] = ()

    __hash__ = NamedT.__hash__


@dataclass(eq=False)
class BlockT(NamedT):
    """A parser, control or package type (declared or with a body)."""

    kind: str = "control"  # "parser", "control" or "package"
    decl: ir.Decl | None = None

    __hash__ = NamedT.__hash__


@dataclass(frozen=True)
class StackT(Type):
    element: Type
    size: int

    def __str__(self) -> str:
        return f"{self.element}[{self.size}]"


@dataclass(frozen=True)
class TableT(Type):
    """A table instance used as a value (`t.apply()`)."""

    name: str


@dataclass(frozen=True)
class ApplyResultT(Type):
    """What `t.apply()` returns: has `.hit`, `.miss` and `.action_run`."""

    table: str


@dataclass(frozen=True)
class ActionRunT(Type):
    """`t.apply().action_run`: switched on by action name."""

    table: str


@dataclass(frozen=True)
class MethodT(Type):
    """A member that can only be called (`h.isValid`, `r.read`)."""

    name: str


def width_of(t: Type) -> int:
    """Bits taken by a value of a serializable type (header fields, keys)."""
    if isinstance(t, BitT):
        return t.width
    if isinstance(t, BoolT):
        return 1
    if isinstance(t, EnumT) and t.underlying is not None:
        return t.underlying.width
    if isinstance(t, NewT):
        return width_of(t.base)
    if isinstance(t, ErrorT):
        return 32
    if isinstance(t, VarbitT):
        return 0  # the fixed part only: a varbit's length is known at run time
    if isinstance(t, HeaderT | StructT):
        return sum(width_of(f.type) for f in t.fields)
    raise ValueError(f"type {t} has no fixed bit width")


def strip_newtype(t: Type) -> Type:
    while isinstance(t, NewT):
        t = t.base
    return t
