"""Instantiation: from the `main` package instance to a tree of block instances.

p4c's mid end flattens nested parser/control instances and names every
control-plane object after the instance path that holds it; this pass does the
same so that table, action and extern names match p4c's P4Info
(`MyIngress.ipv4_lpm`, `MyIngress.sub.t`, `@name` overriding the local part,
a leading `.` making it global).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from p4sim import limits
from p4sim.errors import TypeCheckError, UnsupportedError
from p4sim.frontend import ir
from p4sim.passes.declcheck import CheckedProgram
from p4sim.passes.resolve import Sym, name_of
from p4sim.runtime.types import BlockT, ExternT


def qualify(prefix: str, annotations: list[ir.Annotation], local: str) -> str:
    """p4c's fully qualified name of an object declared in block `prefix`."""
    name = name_of(annotations, local)
    if name.startswith("."):
        return name[1:]
    return f"{prefix}.{name}" if prefix else name


@dataclass(eq=False)
class ExternInst:
    """One extern object (register, counter, meter, ...) and its name."""

    sym: Sym
    type: ExternT
    name: str
    ctor_args: list[int | bool | str | None]
    py: str


@dataclass(eq=False)
class BlockInst:
    """One parser or control instance."""

    decl: ir.ParserDecl | ir.ControlDecl
    path: str
    ctor_values: dict[Sym, object]
    py: str
    children: dict[Sym, BlockInst] = field(default_factory=dict)
    externs: dict[Sym, ExternInst] = field(default_factory=dict)
    tables: dict[Sym, str] = field(default_factory=dict)  # table sym -> qualified name
    value_sets: dict[Sym, str] = field(default_factory=dict)

    def action_name(self, sym: Sym) -> str:
        decl: ir.ActionDecl = sym.decl
        if decl in self.decl.locals:
            return qualify(self.path, decl.annotations, decl.name)
        return qualify("", decl.annotations, decl.name)


@dataclass
class Elaborated:
    package: str
    blocks: list[BlockInst]  # the package's arguments in order
    all_blocks: list[BlockInst]
    top_externs: dict[Sym, ExternInst]


class Elaborator:
    def __init__(self, checked: CheckedProgram) -> None:
        self.checked = checked
        self.all_blocks: list[BlockInst] = []
        self.top_externs: dict[Sym, ExternInst] = {}
        self._counter = 0

    def _py(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def run(self) -> Elaborated:
        top = self.checked.top
        for decl in self.checked.program.decls:
            if isinstance(decl, ir.InstanceDecl):
                sym = self.checked.decl_syms[decl]
                if isinstance(sym.type, ExternT):
                    self.top_externs[sym] = self._extern(sym, "")
        main = top.lookup_value("main")
        if main is None or main.kind != "instance" or not isinstance(main.type, BlockT) \
                or main.type.kind != "package":
            raise TypeCheckError(self.checked.program.pos,
                                 "the program declares no package instance named 'main'")
        main_decl: ir.InstanceDecl = main.decl
        blocks = [self._package_arg(a.value) for a in main_decl.args]
        return Elaborated(main.type.name, blocks, self.all_blocks, self.top_externs)

    def _package_arg(self, e: ir.Expr) -> BlockInst:
        top = self.checked.top
        if isinstance(e, ir.Call) and isinstance(e.callee, ir.NameRef) and not e.type_args:
            tsym = top.lookup_type(e.callee.name, e.callee.dotted)
            if tsym is None or not isinstance(tsym.type, BlockT) or not isinstance(
                    tsym.type.decl, ir.ParserDecl | ir.ControlDecl):
                raise TypeCheckError(e.pos, f"'{e.callee.name}' is not a parser or control")
            return self._block(tsym.type.decl, e.args, tsym.type.decl.name)
        if isinstance(e, ir.NameRef):
            sym = top.lookup_value(e.name, e.dotted)
            if sym is not None and sym.kind == "instance" and isinstance(sym.type, BlockT):
                idecl: ir.InstanceDecl = sym.decl
                bdecl = sym.type.decl
                assert isinstance(bdecl, ir.ParserDecl | ir.ControlDecl)
                return self._block(bdecl, idecl.args, name_of(idecl.annotations, idecl.name))
        raise UnsupportedError(e.pos, "package argument form")

    def _const(self, e: ir.Expr) -> object:
        if e not in self.checked.facts.consts:
            raise UnsupportedError(e.pos, "non-constant constructor argument")
        return self.checked.facts.consts[e]

    def _block(self, decl: ir.ParserDecl | ir.ControlDecl, args: list[ir.Argument],
               path: str, depth: int = 1, parent: BlockInst | None = None) -> BlockInst:
        ctor_values: dict[Sym, object] = {}
        passed: dict[Sym, BlockInst] = {}
        for p, a in zip(decl.ctor_params, args, strict=False):
            psym = self.checked.decl_syms[p]
            if isinstance(psym.type, BlockT):
                # A parser or control argument is the caller's instance itself
                # (shared, with its tables and externs), applied through `p`.
                ref = a.value
                arg_sym = self.checked.facts.refs.get(ref) if isinstance(ref, ir.NameRef) \
                    else None
                if parent is None or arg_sym is None or arg_sym not in parent.children:
                    raise UnsupportedError(a.pos, "parser or control constructor argument "
                                           "here")
                passed[psym] = parent.children[arg_sym]
                continue
            ctor_values[psym] = self._const(a.value)
        inst = BlockInst(decl, path, ctor_values, self._py("blk_"), children=passed)
        self.all_blocks.append(inst)
        for local in decl.locals:
            if isinstance(local, ir.InstanceDecl):
                sym = self.checked.decl_syms[local]
                if isinstance(sym.type, ExternT):
                    inst.externs[sym] = self._extern(sym, path)
                elif isinstance(sym.type, BlockT):
                    child = sym.type.decl
                    assert isinstance(child, ir.ParserDecl | ir.ControlDecl)
                    if depth >= limits.MAX_INSTANCE_DEPTH:
                        raise UnsupportedError(local.pos, "parser and control instances "
                                               f"nested more than {limits.MAX_INSTANCE_DEPTH} "
                                               "levels deep")
                    inst.children[sym] = self._block(
                        child, local.args, qualify(path, local.annotations, local.name),
                        depth + 1, inst)
            elif isinstance(local, ir.TableDecl):
                inst.tables[self.checked.decl_syms[local]] = qualify(
                    path, local.annotations, local.name)
            elif isinstance(local, ir.ValueSetDecl):
                inst.value_sets[self.checked.decl_syms[local]] = qualify(
                    path, local.annotations, local.name)
        return inst

    def _extern(self, sym: Sym, path: str) -> ExternInst:
        decl: ir.InstanceDecl = sym.decl
        assert isinstance(sym.type, ExternT)
        call = self.checked.ctor_calls[decl]
        info = self.checked.facts.calls[call]
        values = [None if a is None else self.checked.facts.consts.get(a) for a in info.args]
        return ExternInst(sym, sym.type, qualify(path, decl.annotations, decl.name), values,
                          self._py("ext_"))


def elaborate(checked: CheckedProgram) -> Elaborated:
    return Elaborator(checked).run()
