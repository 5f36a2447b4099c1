"""Type relations the checker needs: equality, generic substitution and
unification, and the implicit conversions P4_16 allows."""

from __future__ import annotations

from p4sim.runtime.types import (
    EnumT,
    ExternT,
    NamedT,
    SetT,
    StackT,
    TupleT,
    Type,
    TypeVar,
)


def same_type(a: Type, b: Type) -> bool:
    if a is b:
        return True
    if isinstance(a, ExternT) and isinstance(b, ExternT):
        return a.name == b.name
    if isinstance(a, NamedT) or isinstance(b, NamedT):
        return False
    if isinstance(a, TupleT) and isinstance(b, TupleT):
        return len(a.elements) == len(b.elements) and all(
            same_type(x, y) for x, y in zip(a.elements, b.elements, strict=True))
    if isinstance(a, StackT) and isinstance(b, StackT):
        return a.size == b.size and same_type(a.element, b.element)
    return a == b


def subst(t: Type, bindings: dict[TypeVar, Type]) -> Type:
    if isinstance(t, TypeVar):
        return bindings.get(t, t)
    if isinstance(t, TupleT):
        return TupleT(tuple(subst(e, bindings) for e in t.elements))
    if isinstance(t, StackT):
        return StackT(subst(t.element, bindings), t.size)
    if isinstance(t, SetT):
        return SetT(subst(t.element, bindings))
    if isinstance(t, ExternT) and t.type_args:
        return ExternT(t.name, t.decl, tuple(subst(a, bindings) for a in t.type_args))
    return t


def has_typevar(t: Type) -> bool:
    if isinstance(t, TypeVar):
        return True
    if isinstance(t, TupleT):
        return any(has_typevar(e) for e in t.elements)
    if isinstance(t, StackT):
        return has_typevar(t.element)
    return False


def unify(param: Type, arg: Type, bindings: dict[TypeVar, Type]) -> bool:
    """Bind the type variables of `param` so that it equals `arg`."""
    if isinstance(param, TypeVar):
        bound = bindings.get(param)
        if bound is None:
            bindings[param] = arg
            return True
        return same_type(bound, arg)
    if isinstance(param, TupleT) and isinstance(arg, TupleT):
        return len(param.elements) == len(arg.elements) and all(
            unify(p, a, bindings) for p, a in zip(param.elements, arg.elements, strict=True))
    if isinstance(param, StackT) and isinstance(arg, StackT):
        return param.size == arg.size and unify(param.element, arg.element, bindings)
    return same_type(param, arg)


def serializable_base(t: Type) -> Type:
    """A serializable enum or a `type` stands for its representation where P4
    converts implicitly (comparisons with and assignments to that type)."""
    if isinstance(t, EnumT) and t.underlying is not None:
        return t.underlying
    return t
