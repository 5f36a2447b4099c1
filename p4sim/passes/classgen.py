"""Python classes for P4 headers and structs, as generated source.

One `__slots__` class per type keeps field access a plain attribute load.
Headers parse themselves from bytes (`ext`) and serialize (`emit`) with one
big-integer conversion each, the fastest way to split fields in CPython.
Field attributes are prefixed `f_` so no P4 name clashes with Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from p4sim.errors import P4SimError
from p4sim.runtime.types import (
    BoolT,
    HeaderT,
    HeaderUnionT,
    StackT,
    StructLikeT,
    Type,
    VarbitT,
    strip_newtype,
    width_of,
)


class ClassNames:
    """The Python class of every header, header union and struct type one
    program uses, named `C_<type name>` (a numeric suffix only if two names
    would clash) in dependency order.

    Names come from the program alone, never from process state (a counter,
    `id()`, a cache shared between compilations), so the same program always
    generates the same module, and the class the architecture looks up is by
    construction one the module defines.
    """

    def __init__(self, roots: Iterable[StructLikeT]) -> None:
        self.order: list[StructLikeT] = []  # dependencies first
        self._names: dict[StructLikeT, str] = {}
        used: set[str] = set()

        def visit(t: StructLikeT) -> None:
            if t in self._names:
                return
            base = "C_" + re.sub(r"\W", "_", t.name)
            name, n = base, 1
            while name in used:
                n += 1
                name = f"{base}_{n}"
            used.add(name)
            self._names[t] = name
            for f in t.fields:
                ft = strip_newtype(f.type)
                if isinstance(ft, StackT):
                    ft = ft.element
                if isinstance(ft, StructLikeT):
                    visit(ft)
            self.order.append(t)

        for t in roots:
            visit(t)

    def __call__(self, t: StructLikeT) -> str:
        name = self._names.get(t)
        if name is None:
            raise P4SimError(f"internal error: type {t.name} has no generated class")
        return name

    def default_value(self, t: Type, oob_code: int) -> str:
        """Python source for a fresh (zero / invalid) value of type `t`."""
        t = strip_newtype(t)
        if isinstance(t, StructLikeT):
            return f"{self(t)}()"
        if isinstance(t, StackT):
            assert isinstance(t.element, StructLikeT)
            return f"Stack({self(t.element)}, {t.size}, {oob_code})"
        if isinstance(t, BoolT):
            return "False"
        if isinstance(t, VarbitT):
            return "(0, 0)"
        return "0"


def is_composite(t: Type) -> bool:
    return isinstance(strip_newtype(t), StructLikeT | StackT)


def leaves(t: StructLikeT, prefix: str = "self") -> list[tuple[str, Type]]:
    """The scalar fields of a header in wire order, as Python attribute paths:
    a struct-typed field (P4_16 7.2.2) contributes its own fields in place."""
    out: list[tuple[str, Type]] = []
    for f in t.fields:
        ft = strip_newtype(f.type)
        if isinstance(ft, StructLikeT):
            out.extend(leaves(ft, f"{prefix}.f_{f.name}"))
        else:
            out.append((f"{prefix}.f_{f.name}", f.type))
    return out


def _emit_header(t: HeaderT, too_short: int, names: ClassNames) -> list[str]:
    name = names(t)
    fields = [f"f_{f.name}" for f in t.fields]
    nested = {f"f_{f.name}" for f in t.fields if is_composite(f.type)}
    scalars = leaves(t)
    slots = ", ".join(repr(s) for s in ["_v", *fields])
    nbytes = t.width // 8
    lines = [f"class {name}:", f"    __slots__ = ({slots},)", ""]
    lines.append("    def __init__(self):")
    lines.append("        self._v = False")
    for f in t.fields:
        lines.append(f"        self.f_{f.name} = {names.default_value(f.type, 0)}")
    lines.append("")
    lines.append("    def copy(self):")
    lines.append(f"        n = {name}.__new__({name})")
    for s in ["_v", *fields]:
        lines.append(f"        n.{s} = self.{s}{'.copy()' if s in nested else ''}")
    lines.append("        return n")
    lines.append("")
    lines.append("    def assign(self, o):")
    for s in ["_v", *fields]:
        if s in nested:
            lines.append(f"        self.{s}.assign(o.{s})")
        else:
            lines.append(f"        self.{s} = o.{s}")
    lines.append("")
    lines.append("    def invalidate(self):")
    lines.append("        self._v = False")
    lines.append("")
    # bmv2's add_header zeroes a header that becomes valid.
    lines.append("    def setValid(self):")
    lines.append("        if not self._v:")
    for path, ft in scalars:
        lines.append(f"            {path} = {names.default_value(ft, 0)}")
    lines.append("            self._v = True")
    lines.append("")
    if t.varbit is not None:
        lines.extend(_varbit_header_io(t, too_short))
        return lines
    lines.append("    def ext(self, data, off):")
    lines.append(f"        if off + {nbytes} > len(data):")
    lines.append(f"            raise ParserReject({too_short})")
    lines.append(f"        v = int.from_bytes(data[off:off + {nbytes}], 'big')")
    shift = t.width
    for path, ft in scalars:
        w = width_of(ft)
        shift -= w
        value = f"(v >> {shift})" if shift else "v"
        if shift + w < t.width:
            value = f"({value} & {(1 << w) - 1:#x})"
        if _is_bool(ft):
            value = f"bool({value})"
        lines.append(f"        {path} = {value}")
    lines.append("        self._v = True")
    lines.append("")
    lines.append("    def pack(self):")
    parts = []
    shift = t.width
    for path, ft in scalars:
        w = width_of(ft)
        shift -= w
        src = f"int({path})" if _is_bool(ft) else path
        parts.append(f"({src} << {shift})" if shift else src)
    lines.append(f"        return ({' | '.join(parts) or '0'}).to_bytes({nbytes}, 'big')")
    lines.append("")
    lines.append("    def emit(self, parts):")
    lines.append("        if self._v:")
    lines.append("            parts.append(self.pack())")
    lines.append("")
    return lines


def _varbit_header_io(t: HeaderT, too_short: int) -> list[str]:
    """`extv`/`ext`/`pack`/`emit` of a header with a varbit field: its
    length `n` (bits, a multiple of 8, at most the maximum: the caller
    checks) is known at run time, so field positions are computed from it."""
    scalars = leaves(t)
    fixed = t.width
    lines = ["    def extv(self, data, off, n):",
             f"        tot = {fixed} + n",
             "        v = int.from_bytes(data[off:off + (tot >> 3)], 'big')"]
    after_static = fixed
    seen_varbit = False
    for path, ft in scalars:
        if isinstance(strip_newtype(ft), VarbitT):
            seen_varbit = True
            shift = f"{after_static}"
            lines.append(f"        {path} = (n, (v >> {shift}) & ((1 << n) - 1))")
            continue
        w = width_of(ft)
        after_static -= w
        shift = f"{after_static}" if seen_varbit else f"({after_static} + n)"
        value = f"((v >> {shift}) & {(1 << w) - 1:#x})"
        if _is_bool(ft):
            value = f"bool({value})"
        lines.append(f"        {path} = {value}")
    lines += ["        self._v = True", "",
              "    def ext(self, data, off):",
              f"        if off + {fixed // 8} > len(data):",
              f"            raise ParserReject({too_short})",
              "        self.extv(data, off, 0)", "",
              "    def pack(self):"]
    vb = t.varbit
    assert vb is not None
    vpath = next(path for path, ft in scalars if isinstance(strip_newtype(ft), VarbitT))
    lines.append(f"        n, vb = {vpath}")
    parts = []
    after_static = fixed
    seen_varbit = False
    for path, ft in scalars:
        if isinstance(strip_newtype(ft), VarbitT):
            seen_varbit = True
            parts.append(f"(vb << {after_static})")
            continue
        after_static -= width_of(ft)
        src = f"int({path})" if _is_bool(ft) else path
        parts.append(f"({src} << {after_static})" if seen_varbit
                     else f"({src} << ({after_static} + n))")
    lines.append(f"        return ({' | '.join(parts)}).to_bytes(({fixed} + n) >> 3, 'big')")
    lines += ["", "    def emit(self, parts):", "        if self._v:",
              "            parts.append(self.pack())", ""]
    return lines


def _is_bool(t: Type) -> bool:
    return isinstance(strip_newtype(t), BoolT)


def _emit_union_extras(t: HeaderUnionT) -> list[str]:
    """A union is valid when a member is; making one member valid makes the
    others invalid (P4_16 8.20)."""
    members = [f"self.f_{f.name}" for f in t.fields]
    lines = ["    @property", "    def _v(self):",
             f"        return {' or '.join(m + '._v' for m in members) or 'False'}", ""]
    lines.append("    def only(self, name):")
    for f in t.fields:
        lines.append(f"        if name != {f.name!r}:")
        lines.append(f"            self.f_{f.name}._v = False")
    lines.append("")
    return lines


def _emit_struct(t: StructLikeT, oob_code: int, names: ClassNames) -> list[str]:
    name = names(t)
    fields = [f"f_{f.name}" for f in t.fields]
    slots = ", ".join(repr(s) for s in fields)
    lines = [f"class {name}:", f"    __slots__ = ({slots}{',' if fields else ''})", ""]
    lines.append("    def __init__(self):")
    for f in t.fields:
        lines.append(f"        self.f_{f.name} = {names.default_value(f.type, oob_code)}")
    lines.append("        return None")
    lines.append("")
    lines.append("    def copy(self):")
    lines.append(f"        n = {name}.__new__({name})")
    for f in t.fields:
        suffix = ".copy()" if is_composite(f.type) else ""
        lines.append(f"        n.f_{f.name} = self.f_{f.name}{suffix}")
    lines.append("        return n")
    lines.append("")
    lines.append("    def assign(self, o):")
    for f in t.fields:
        if is_composite(f.type):
            lines.append(f"        self.f_{f.name}.assign(o.f_{f.name})")
        else:
            lines.append(f"        self.f_{f.name} = o.f_{f.name}")
    lines.append("        return None")
    lines.append("")
    # The value an `out` parameter starts with: headers invalid, the rest
    # zero, like the zero-initialised temporaries p4c gives bmv2.
    lines.append("    def invalidate(self):")
    for f in t.fields:
        if is_composite(f.type):
            lines.append(f"        self.f_{f.name}.invalidate()")
        else:
            lines.append(f"        self.f_{f.name} = {names.default_value(f.type, oob_code)}")
    lines.append("        return None")
    lines.append("")
    lines.append("    def emit(self, parts):")
    for f in t.fields:
        if is_composite(f.type):
            lines.append(f"        self.f_{f.name}.emit(parts)")
    lines.append("        return None")
    lines.append("")
    return lines


def generate_classes(names: ClassNames, too_short: int, oob_code: int) -> str:
    """Source for the class of every type `names` holds."""
    out: list[str] = []
    for t in names.order:
        if isinstance(t, HeaderT):
            out.extend(_emit_header(t, too_short, names))
        else:
            out.extend(_emit_struct(t, oob_code, names))
            if isinstance(t, HeaderUnionT):
                out.extend(_emit_union_extras(t))
    return "\n".join(out)


__all__ = ["ClassNames", "generate_classes", "is_composite", "leaves"]
