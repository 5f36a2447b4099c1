"""Package instantiation: each argument of `V1Switch(...) main` against the
parser or control type its parameter names.

The architecture calls every block with the arguments its package type
promises (v1model's ingress gets headers, metadata and standard_metadata), so
a block whose parameters differ in number, direction or type would fail on
every packet. Type arguments are inferred as p4c does: `Parser<H, M>` binds
the package's `H` and `M` from the first block that uses them, and every
later block must agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from p4sim.errors import SourcePos, TypeCheckError, UnsupportedError
from p4sim.frontend import ir
from p4sim.passes.resolve import Scope
from p4sim.passes.typeops import subst, unify
from p4sim.runtime.types import BlockT, Type, TypeVar

if TYPE_CHECKING:
    from p4sim.passes.declcheck import Checker

Block = ir.ParserDecl | ir.ControlDecl


def check_package_args(checker: Checker, d: ir.InstanceDecl, package: BlockT,
                       scope: Scope) -> None:
    decl = package.decl
    assert isinstance(decl, ir.PackageTypeDecl)
    required = sum(1 for p in decl.params if p.default is None
                   and ir.find_annotation(p.annotations, "optional") is None)
    if not required <= len(d.args) <= len(decl.params):
        raise TypeCheckError(d.pos, f"{decl.name} takes {len(decl.params)} arguments, "
                             f"not {len(d.args)}")
    pscope = checker._generic_scope(decl.type_params, decl.name, checker.top)
    bindings: dict[TypeVar, Type] = {}
    for arg, param in zip(d.args, decl.params, strict=False):
        if arg.name is not None:
            raise UnsupportedError(arg.pos, "named package argument")
        expected = _block_type(checker, param, pscope)
        if expected is None:
            continue  # not a parser or control parameter: the elaborator decides
        block_type, type_args = expected
        block = _block_of(checker, arg.value, scope)
        what = f"argument '{param.name}' of {decl.name}"
        if block is None:
            raise TypeCheckError(arg.pos, f"{what} must be an instance of a "
                                 f"{_kind(block_type)} of type {block_type.name}")
        if _kind(block) != _kind(block_type):
            raise TypeCheckError(arg.pos, f"{what} must be a {_kind(block_type)} of type "
                                 f"{block_type.name}, not {_kind(block)} {block.name}")
        _match_params(checker, block, block_type, type_args, bindings, arg.pos, what)


def _kind(decl: Block | ir.ParserTypeDecl | ir.ControlTypeDecl) -> str:
    return "parser" if isinstance(decl, ir.ParserDecl | ir.ParserTypeDecl) else "control"


def _block_type(checker: Checker, param: ir.Param, pscope: Scope
                ) -> tuple[ir.ParserTypeDecl | ir.ControlTypeDecl, dict[TypeVar, Type]] | None:
    """The parser/control type a package parameter names, with its type
    parameters mapped to the package's (`Parser<H, M>`: Parser's H is V1Switch's H)."""
    ref = param.type
    if not isinstance(ref, ir.NamedTypeRef):
        return None
    sym = pscope.lookup_type(ref.name, ref.dotted)
    if sym is None or not isinstance(sym.type, BlockT):
        return None
    decl = sym.type.decl
    if not isinstance(decl, ir.ParserTypeDecl | ir.ControlTypeDecl):
        return None
    if ref.type_args and len(ref.type_args) != len(decl.type_params):
        raise TypeCheckError(ref.pos, f"{decl.name} takes {len(decl.type_params)} type "
                             "arguments")
    args = [checker.resolve_type(a, pscope) for a in ref.type_args]
    return decl, {TypeVar(tp, decl.name): a for tp, a in zip(decl.type_params, args,
                                                              strict=False)}


def _block_of(checker: Checker, e: ir.Expr, scope: Scope) -> Block | None:
    """The parser or control an argument instantiates: `MyIngress()` or the
    name of an instance declared before."""
    if isinstance(e, ir.Call) and isinstance(e.callee, ir.NameRef) and not e.type_args:
        sym = scope.lookup_type(e.callee.name, e.callee.dotted)
        if sym is not None and isinstance(sym.type, BlockT) and isinstance(
                sym.type.decl, ir.ParserDecl | ir.ControlDecl):
            block = sym.type.decl
            if len(e.args) != len(block.ctor_params):
                raise TypeCheckError(e.pos, f"{block.name} takes {len(block.ctor_params)} "
                                     f"constructor arguments, not {len(e.args)}")
            checker._check_block_ctor_args(e.args, block, scope)
            return block
        return None
    if isinstance(e, ir.NameRef):
        sym = scope.lookup_value(e.name, e.dotted)
        if sym is not None and sym.kind == "instance" and isinstance(sym.type, BlockT) \
                and isinstance(sym.type.decl, ir.ParserDecl | ir.ControlDecl):
            return sym.type.decl
    return None


def _match_params(checker: Checker, block: Block,
                  block_type: ir.ParserTypeDecl | ir.ControlTypeDecl,
                  type_args: dict[TypeVar, Type], bindings: dict[TypeVar, Type],
                  pos: SourcePos, what: str) -> None:
    if len(block.params) != len(block_type.params):
        raise TypeCheckError(pos, f"{what}: {block.name} has {len(block.params)} parameters, "
                             f"{block_type.name} has {len(block_type.params)}")
    tscope = checker._generic_scope(block_type.type_params, block_type.name, checker.top)
    for mine, theirs in zip(block.params, block_type.params, strict=True):
        if mine.direction != theirs.direction:
            raise TypeCheckError(mine.pos, f"{what}: parameter '{mine.name}' of {block.name} "
                                 f"is {_direction(mine)}, {block_type.name} wants "
                                 f"{_direction(theirs)}")
        expected = subst(checker.resolve_type(theirs.type, tscope), type_args)
        actual = checker.out.decl_syms[mine].type
        assert actual is not None
        before = dict(bindings)
        if not unify(expected, actual, bindings):
            bound = subst(expected, before)
            raise TypeCheckError(mine.pos, f"{what}: parameter '{mine.name}' of {block.name} "
                                 f"has type {actual}, {block_type.name} wants {bound}")


def match_block(checker: Checker, block: Block,
                block_type: ir.ParserTypeDecl | ir.ControlTypeDecl, pos: SourcePos,
                what: str) -> None:
    """`block` fits a parameter of type `block_type` (a constructor argument)."""
    if _kind(block) != _kind(block_type):
        raise TypeCheckError(pos, f"{what} must be a {_kind(block_type)} of type "
                             f"{block_type.name}, not {_kind(block)} {block.name}")
    _match_params(checker, block, block_type, {}, {}, pos, what)


def _direction(p: ir.Param) -> str:
    return p.direction or "directionless"
