"""The bounds p4sim puts on a program so that compiling and running it takes
bounded time, memory and Python stack.

P4 source reaches p4sim from the network (SetForwardingPipelineConfig ships
it in the device config), so no program may make the compiler or the switch
allocate without bound, overflow a P4Info field or exhaust the recursion
limit. Each bound is far above what v1model programs use; going past one is
a compile error at the construct: `TypeCheckError` for sizes, widths and types,
`UnsupportedError` for nesting (valid P4 that p4sim does not run),
`PreprocessorError` in `#if` and macros. docs/p4sim-internals.md ("Limits")
lists them.
"""

from __future__ import annotations

from p4sim.errors import SourcePos, TypeCheckError
from p4sim.runtime.types import StackT, StructLikeT, TupleT, Type, strip_newtype

# ---------------------------------------------------------------- widths and values

MAX_BIT_WIDTH = 2048
"""`bit<W>`/`int<W>` (declared, as a literal's width, or made by `++`)."""

MAX_INT_BITS = 4096
"""Magnitude of a compile-time `int`: enough for any `bit<MAX_BIT_WIDTH>`
value and its carries, small enough that `1 << 10**12` is refused before it
is computed."""

# ---------------------------------------------------------------- composite values

MAX_STACK_SIZE = 1024
"""Elements of a header stack; each packet allocates all of them."""

MAX_VALUE_PARTS = 1 << 16
"""Headers, structs and stack elements inside one value of a type (each
packet allocates them), so that `struct s1 { s0 a; s0 b; }` repeated does
not double its way to 2**30 objects."""

MAX_TYPE_NESTING = 32
"""Structs and headers inside structs: the generated constructors, copies
and comparisons recurse once per level."""

# ---------------------------------------------------------------- control-plane objects

MAX_EXTERN_SIZE = 1 << 20
"""Cells of a `counter`, `register` or `meter` array, allocated when the
switch starts (a counter cell keeps two counts)."""

MAX_TABLE_SIZE = 1 << 24
"""Capacity of a table or a `value_set`. Storage grows with the entries
installed, so this only keeps sizes meaningful (P4Info's `value_set` size is
32 bits)."""


# ---------------------------------------------------------------- nesting

MAX_EXPRESSION_DEPTH = 64
"""Operators, casts, member accesses and calls nested in one expression
(`1 + 1 + ... + 1` nests one level per `+`); also `#if` expressions."""

MAX_STATEMENT_DEPTH = 32
"""Blocks, `if`s and `switch`es nested in one body (an `else if` chain nests
one level per `else`)."""

MAX_TYPE_DEPTH = 16
"""Type arguments inside type arguments (`tuple<tuple<...>>`)."""

MAX_MACRO_DEPTH = 64
"""Macros expanding to macros."""

MAX_MACRO_TOKENS = 1 << 20
"""Tokens all macro expansions of a program produce together, so that
`#define A1 A0 A0`, `#define A2 A1 A1`, ... cannot double its way to 2**30."""

MAX_CODE_DEPTH = 128
"""Statements and expressions nested in the generated code once actions and
functions are inlined at their call sites (an inlined call adds the nesting
of its body to its caller's)."""

MAX_GENERATED_INDENT = 90
"""Python blocks nested in the generated code (Python's tokenizer refuses 100)."""

MAX_INSTANCE_DEPTH = 32
"""Parser and control instances inside instances (each level is one Python
call per packet)."""


def _shown(value: int) -> str:
    """A number for a message: Python will not print one of over 4300 digits."""
    return str(value) if value.bit_length() <= 64 else f"a {value.bit_length()}-bit number"


def check_width(width: int, pos: SourcePos, what: str = "width") -> None:
    if not 0 < width <= MAX_BIT_WIDTH:
        raise TypeCheckError(pos, f"{what} must be 1..{MAX_BIT_WIDTH}, not {_shown(width)}")


def check_int(value: int, pos: SourcePos) -> None:
    if value.bit_length() > MAX_INT_BITS:
        raise TypeCheckError(pos, f"integer constant of {value.bit_length()} bits: p4sim "
                             f"computes with at most {MAX_INT_BITS}-bit constants")


def check_count(what: str, value: int, lowest: int, highest: int, pos: SourcePos) -> None:
    if not lowest <= value <= highest:
        raise TypeCheckError(pos, f"{what} must be {lowest}..{highest}, not {_shown(value)}")


class ValueShape:
    """Parts and nesting of values of composite types, computed once per
    named type (the checker asks for each struct, union, stack and tuple it
    builds)."""

    def __init__(self) -> None:
        self._known: dict[Type, tuple[int, int]] = {}

    def measure(self, t: Type) -> tuple[int, int]:
        """(parts, nesting) of a value of `t`; (0, 0) for a scalar."""
        t = strip_newtype(t)
        known = self._known.get(t)
        if known is not None:
            return known
        if isinstance(t, StackT):
            parts, depth = self.measure(t.element)
            result = (1 + t.size * parts, 1 + depth)
        elif isinstance(t, StructLikeT | TupleT):
            members = t.elements if isinstance(t, TupleT) else [f.type for f in t.fields]
            sizes = [self.measure(m) for m in members]
            result = (1 + sum(p for p, _ in sizes), 1 + max((d for _, d in sizes), default=0))
        else:
            return 0, 0
        self._known[t] = result
        return result

    def check(self, t: Type, pos: SourcePos) -> None:
        parts, depth = self.measure(t)
        if parts > MAX_VALUE_PARTS:
            raise TypeCheckError(pos, f"a value of {t} would hold {parts} headers, structs "
                                 f"and stack elements; p4sim allows {MAX_VALUE_PARTS}")
        if depth > MAX_TYPE_NESTING:
            raise TypeCheckError(pos, f"{t} nests structs and headers {depth} levels deep; "
                                 f"p4sim allows {MAX_TYPE_NESTING}")
