"""Python classes for P4 headers and structs, as generated source.

One `__slots__` class per type keeps field access a plain attribute load.
Headers parse themselves from bytes (`ext`) and serialize (`emit`) with one
big-integer conversion each, the fastest way to split fields in CPython.
Field attributes are prefixed `f_` so no P4 name clashes with Python.
"""

from __future__ import annotations

import itertools
import re
import weakref

from p4sim.runtime.types import (
    BoolT,
    HeaderT,
    HeaderUnionT,
    StackT,
    StructLikeT,
    Type,
    strip_newtype,
    width_of,
)

_class_names: weakref.WeakKeyDictionary[StructLikeT, str] = weakref.WeakKeyDictionary()
_serial = itertools.count(1)


def class_name(t: StructLikeT) -> str:
    """A Python class name unique to this type object."""
    name = _class_names.get(t)
    if name is None:
        name = _class_names[t] = "C_" + re.sub(r"\W", "_", t.name) + f"_{next(_serial)}"
    return name


def default_value(t: Type, oob_code: int) -> str:
    """Python source for a fresh (zero / invalid) value of type `t`."""
    t = strip_newtype(t)
    if isinstance(t, StructLikeT):
        return f"{class_name(t)}()"
    if isinstance(t, StackT):
        assert isinstance(t.element, StructLikeT)
        return f"Stack({class_name(t.element)}, {t.size}, {oob_code})"
    if isinstance(t, BoolT):
        return "False"
    return "0"


def is_composite(t: Type) -> bool:
    return isinstance(strip_newtype(t), StructLikeT | StackT)


def _emit_header(t: HeaderT, too_short: int) -> list[str]:
    name = class_name(t)
    fields = [f"f_{f.name}" for f in t.fields]
    slots = ", ".join(repr(s) for s in ["_v", *fields])
    nbytes = t.width // 8
    lines = [f"class {name}:", f"    __slots__ = ({slots},)", ""]
    lines.append("    def __init__(self):")
    lines.append("        self._v = False")
    for f in t.fields:
        lines.append(f"        self.f_{f.name} = {'False' if _is_bool(f.type) else '0'}")
    lines.append("")
    lines.append("    def copy(self):")
    lines.append(f"        n = {name}.__new__({name})")
    for s in ["_v", *fields]:
        lines.append(f"        n.{s} = self.{s}")
    lines.append("        return n")
    lines.append("")
    lines.append("    def assign(self, o):")
    for s in ["_v", *fields]:
        lines.append(f"        self.{s} = o.{s}")
    lines.append("")
    lines.append("    def invalidate(self):")
    lines.append("        self._v = False")
    lines.append("")
    # bmv2's add_header zeroes a header that becomes valid.
    lines.append("    def setValid(self):")
    lines.append("        if not self._v:")
    for f in t.fields:
        lines.append(f"            self.f_{f.name} = {'False' if _is_bool(f.type) else '0'}")
    lines.append("            self._v = True")
    lines.append("")
    lines.append("    def ext(self, data, off):")
    lines.append(f"        if off + {nbytes} > len(data):")
    lines.append(f"            raise ParserReject({too_short})")
    lines.append(f"        v = int.from_bytes(data[off:off + {nbytes}], 'big')")
    shift = t.width
    for f in t.fields:
        w = width_of(f.type)
        shift -= w
        value = f"(v >> {shift})" if shift else "v"
        if shift + w < t.width:
            value = f"({value} & {(1 << w) - 1:#x})"
        if _is_bool(f.type):
            value = f"bool({value})"
        lines.append(f"        self.f_{f.name} = {value}")
    lines.append("        self._v = True")
    lines.append("")
    lines.append("    def pack(self):")
    parts = []
    shift = t.width
    for f in t.fields:
        w = width_of(f.type)
        shift -= w
        src = f"int(self.f_{f.name})" if _is_bool(f.type) else f"self.f_{f.name}"
        parts.append(f"({src} << {shift})" if shift else src)
    lines.append(f"        return ({' | '.join(parts) or '0'}).to_bytes({nbytes}, 'big')")
    lines.append("")
    lines.append("    def emit(self, parts):")
    lines.append("        if self._v:")
    lines.append("            parts.append(self.pack())")
    lines.append("")
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


def _emit_struct(t: StructLikeT, oob_code: int) -> list[str]:
    name = class_name(t)
    fields = [f"f_{f.name}" for f in t.fields]
    slots = ", ".join(repr(s) for s in fields)
    lines = [f"class {name}:", f"    __slots__ = ({slots}{',' if fields else ''})", ""]
    lines.append("    def __init__(self):")
    for f in t.fields:
        lines.append(f"        self.f_{f.name} = {default_value(f.type, oob_code)}")
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
            lines.append(f"        self.f_{f.name} = {default_value(f.type, oob_code)}")
    lines.append("        return None")
    lines.append("")
    lines.append("    def emit(self, parts):")
    for f in t.fields:
        if is_composite(f.type):
            lines.append(f"        self.f_{f.name}.emit(parts)")
    lines.append("        return None")
    lines.append("")
    return lines


def generate_classes(types: list[StructLikeT], too_short: int, oob_code: int) -> str:
    """Source for the classes of `types` (dependencies first)."""
    done: set[int] = set()
    out: list[str] = []

    def visit(t: StructLikeT) -> None:
        if id(t) in done:
            return
        done.add(id(t))
        for f in t.fields:
            ft = strip_newtype(f.type)
            if isinstance(ft, StackT):
                ft = ft.element
            if isinstance(ft, StructLikeT):
                visit(ft)
        if isinstance(t, HeaderT):
            out.extend(_emit_header(t, too_short))
        else:
            out.extend(_emit_struct(t, oob_code))
            if isinstance(t, HeaderUnionT):
                out.extend(_emit_union_extras(t))

    for t in types:
        visit(t)
    return "\n".join(out)


__all__ = ["class_name", "default_value", "generate_classes", "is_composite"]
