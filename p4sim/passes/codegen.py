"""Lowering: the elaborated program to one generated Python module plus a
`Plan` of the runtime objects (tables, externs, value sets) it refers to.

Each parser and control instance becomes one Python function. A parser is a
`while` loop over its states with the packet bytes and cursor in locals; a
control is straight-line code with its tables' actions inlined. The module is
compiled once per program (`p4sim.compiler`) and registered with `linecache`
while the program lives, so a traceback through a pipeline shows the generated
line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import CodeType

from p4sim.errors import TypeCheckError, UnsupportedError
from p4sim.frontend import ir
from p4sim.passes.classgen import ClassNames, generate_classes, is_composite
from p4sim.passes.declcheck import CheckedProgram
from p4sim.passes.elaborate import BlockInst, Elaborated
from p4sim.passes.exprgen import Emitter
from p4sim.passes.externgen import ExternGen
from p4sim.passes.resolve import Sym
from p4sim.runtime.types import (
    ExternT,
    StructLikeT,
    StructT,
    Type,
    strip_newtype,
)

V1MODEL_ROLES = ("parser", "verify_checksum", "ingress", "egress", "compute_checksum",
                 "deparser")


@dataclass
class Pipeline:
    """The generated module and how the architecture calls it."""

    source: str
    functions: dict[str, str]  # role -> function name
    headers_class: str
    metadata_class: str
    standard_metadata_class: str
    error_codes: dict[str, int]
    # field list id -> [(root, path)], root 0 = user metadata, 1 = standard_metadata
    field_lists: dict[int, list[tuple[int, tuple[str, ...]]]] = field(default_factory=dict)
    digests: dict[str, StructT] = field(default_factory=dict)
    # The compiled code object, made once per program by p4sim.compiler.
    code: CodeType | None = None
    # Roles whose block does nothing (e.g. an empty egress): the
    # architecture skips calling them.
    empty_roles: frozenset[str] = frozenset()
    # Fields (`f_` attribute names) the blocks ever mention: what no block
    # reads, the architecture need not compute (e.g. timestamps).
    fields_used: frozenset[str] = frozenset()


class BlockGen(ExternGen):
    def __init__(self, checked: CheckedProgram, block: BlockInst, names: dict[Sym, str],
                 class_names: ClassNames,
                 field_lists: dict[int, list[tuple[int, tuple[str, ...]]]],
                 digests: dict[str, StructT], metadata_roots: dict[object, int]) -> None:
        super().__init__(checked, Emitter(1))
        self.block = block
        self.names = names
        self.class_names = class_names
        self.field_lists = field_lists
        self.digests = digests
        self.metadata_roots = metadata_roots
        self.setup_stmt()
        self.const_env.update(block.ctor_values)
        self.in_parser = isinstance(block.decl, ir.ParserDecl)
        self._sm: str | None = None

    def standard_metadata(self) -> str:
        if self._sm is None:
            raise UnsupportedError(self.block.decl.pos, "mark_to_drop() without "
                                   "a standard_metadata parameter")
        return self._sm

    def _params(self) -> list[str]:
        names = []
        for i, p in enumerate(self.block.decl.params):
            sym = self.checked.decl_syms[p]
            t = sym.type
            name = f"a{i}_{p.name}"
            if isinstance(t, ExternT) and t.name == "packet_in":
                name = "pkt"
            elif isinstance(t, ExternT) and t.name == "packet_out":
                name = "pkt_out"
            elif isinstance(t, StructT) and t.name == "standard_metadata_t":
                self._sm = name
            names.append(name)
            self.env[sym] = name
        return names

    def _locals(self) -> None:
        for local in self.block.decl.locals:
            if isinstance(local, ir.VarDecl):
                self.declare_var(self.checked.decl_syms[local], local.init)
            elif isinstance(local, ir.ConstDecl):
                sym = self.checked.decl_syms[local]
                self.const_env[sym] = sym.value

    def _scalar_outs(self) -> list[str]:
        outs = []
        for p in self.block.decl.params:
            sym = self.checked.decl_syms[p]
            assert sym.type is not None
            if p.direction in ("out", "inout") and not is_composite(sym.type) and not \
                    isinstance(sym.type, ExternT):
                outs.append(self.env[sym])
        return outs

    def generate(self) -> str:
        params = self._params()
        em = self.em
        head = f"def {self.block.py}(ctx, {', '.join(params)}):"
        outs = self._scalar_outs()
        self.function_outs = f"({', '.join(outs)},)" if outs else "None"
        if isinstance(self.block.decl, ir.ParserDecl):
            self._parser(self.block.decl)
        else:
            self._control(self.block.decl)
        self.is_empty = [line.strip() for line in em.lines] == ["return None"]
        body = "\n".join(em.lines)
        return f"{head}\n{body}\n"

    def _control(self, decl: ir.ControlDecl) -> None:
        em = self.em
        if any(isinstance(self.checked.decl_syms[p].type, ExternT) and
               self.checked.decl_syms[p].type.name == "packet_out"  # type: ignore[union-attr]
               for p in decl.params):
            em.line("parts = pkt_out.parts")
        self._locals()
        self.ret_stack.append(("function", None))
        self.stmts(decl.body.stmts)
        em.line(f"return {self.function_outs}")

    def _parser(self, decl: ir.ParserDecl) -> None:
        em = self.em
        em.line("data = pkt.data")
        em.line("off = pkt.off")
        self._locals()
        order = sorted(decl.states, key=lambda s: s.name != "start")
        index = {s.name: i for i, s in enumerate(order)}
        cyclic = _has_cycle(decl.states)
        em.line("st = 0")
        if cyclic:
            em.line("steps = 0")
        with em.block("try:"), em.block("while True:"):
            if cyclic:
                em.line("steps += 1")
                with em.block("if steps > 1000:"):
                    em.line(f"raise ParserReject({self.error_code('ParserTimeout')})")
            for i, state in enumerate(order):
                with em.block(f"{'if' if i == 0 else 'elif'} st == {i}:"):
                    self.stmts(state.stmts)
                    self._transition(state, index)
        # A sub-parser with scalar out/inout parameters returns them after
        # its error code; the caller copies them out either way.
        outs = "" if self.function_outs == "None" else f", *{self.function_outs}"
        with em.block("except ParserReject as rej:"):
            em.line("pkt.off = off")
            em.line(f"return {'(rej.code' + outs + ')' if outs else 'rej.code'}")
        em.line("pkt.off = off")
        em.line(f"return {'(0' + outs + ')' if outs else '0'}")

    def _goto(self, name: str, index: dict[str, int]) -> None:
        if name in ("accept", "reject"):
            # p4c's bmv2 back end ends parsing on an explicit `transition reject`
            # without setting an error, exactly as for accept.
            self.em.line("break")
        else:
            self.em.line(f"st = {index[name]}")
            self.em.line("continue")

    def _transition(self, state: ir.ParserState, index: dict[str, int]) -> None:
        tr = state.transition
        em = self.em
        if tr is None:
            self._goto("reject", index)
            return
        if isinstance(tr, ir.DirectTransition):
            self._goto(tr.state, index)
            return
        keys = []
        for e in tr.exprs:
            value = self.ex(e)
            if not value.isidentifier():
                tmp = em.tmp("k")
                em.line(f"{tmp} = {value}")
                value = tmp
            keys.append(value)
        first = True
        for case in tr.cases:
            vs = self.checked.value_set_cases.get(case)
            if vs is not None:
                cond = f"{self.names[vs]}.matches({', '.join(keys)})"
            else:
                tests = []
                for ks, key, e in zip(self.checked.selects[case], keys, tr.exprs, strict=True):
                    test = self._keyset_test(ks, key, e.type)
                    if test is not None:
                        tests.append(test)
                cond = " and ".join(tests) if tests else "True"
            if cond == "True":
                # default (or all don't-cares): later cases can never match
                if first:
                    self._goto(case.state, index)
                else:
                    with em.block("else:"):
                        self._goto(case.state, index)
                return
            with em.block(f"{'if' if first else 'elif'} {cond}:"):
                self._goto(case.state, index)
            first = False
        em.line(f"raise ParserReject({self.error_code('NoMatch')})")

    def _keyset_test(self, ks: ir.Expr, key: str, t: Type) -> str | None:
        from p4sim.passes.exprgen import bits_of

        if isinstance(ks, ir.Default):
            return None
        if isinstance(ks, ir.Mask):
            mask = self.ex(ks.mask)
            value = self.ex(ks.value)
            if ks.value in self.facts.consts and ks.mask in self.facts.consts:
                v, m = self.facts.consts[ks.value], self.facts.consts[ks.mask]
                assert isinstance(v, int) and isinstance(m, int)
                return f"({key} & {m:#x}) == {v & m:#x}"
            return f"({key} & {mask}) == ({value} & {mask})"
        if isinstance(ks, ir.Range):
            lo, hi = self.ex(ks.lo), self.ex(ks.hi)
            b = bits_of(t)
            if b is not None and b.signed:
                s = 1 << (b.width - 1)
                return f"({lo} ^ {s:#x}) <= ({key} ^ {s:#x}) <= ({hi} ^ {s:#x})"
            return f"{lo} <= {key} <= {hi}"
        return f"{key} == {self.ex(ks)}"


def _has_cycle(states: list[ir.ParserState]) -> bool:
    edges: dict[str, list[str]] = {}
    for s in states:
        tr = s.transition
        if isinstance(tr, ir.DirectTransition):
            edges[s.name] = [tr.state]
        elif isinstance(tr, ir.SelectTransition):
            edges[s.name] = [c.state for c in tr.cases]
        else:
            edges[s.name] = []
    color: dict[str, int] = {}

    def visit(n: str) -> bool:
        color[n] = 1
        for m in edges.get(n, []):
            if color.get(m) == 1:
                return True
            if color.get(m) is None and visit(m):
                return True
        color[n] = 2
        return False

    return any(color.get(s.name) is None and visit(s.name) for s in states)


def _struct_types(checked: CheckedProgram) -> list[StructLikeT]:
    out = []
    for sym in checked.top.types.values():
        t = sym.type
        if isinstance(t, StructLikeT) and t not in out:
            out.append(t)
    return out


def generate(checked: CheckedProgram, elab: Elaborated,
             names: dict[int, dict[Sym, str]]) -> Pipeline:
    """Generate the pipeline module for a v1model program."""
    if elab.package != "V1Switch":
        raise UnsupportedError(checked.program.pos,
                               f"architecture package {elab.package}")
    if len(elab.blocks) != 6:
        raise TypeCheckError(checked.program.pos, "V1Switch takes six blocks")
    codes = checked.facts.error_codes
    too_short = codes.get("PacketTooShort", 1)
    oob = codes.get("StackOutOfBounds", 3)
    class_names = ClassNames(_struct_types(checked))
    parts = [
        "# Generated by p4sim from the P4 program; one function per parser/control.",
        generate_classes(class_names, too_short, oob),
    ]
    field_lists: dict[int, list[tuple[int, tuple[str, ...]]]] = {}
    digests: dict[str, StructT] = {}
    # Field-list roots: the user metadata and standard_metadata parameters of
    # the ingress and egress controls.
    roots: dict[object, int] = {}
    for block in (elab.blocks[2], elab.blocks[3]):
        params = block.decl.params
        if len(params) == 3:
            roots[checked.decl_syms[params[1]]] = 0
            roots[checked.decl_syms[params[2]]] = 1
    empty: set[str] = set()
    used: set[str] = set()
    for block in elab.all_blocks:
        gen = BlockGen(checked, block, names[id(block)], class_names, field_lists, digests,
                       roots)
        code = gen.generate()
        parts.append(code)
        used.update(re.findall(r"\bf_\w+", code))
        if gen.is_empty:
            empty.add(block.py)
    hdr_t = strip_newtype(_param_type(checked, elab.blocks[0], 1))
    meta_t = strip_newtype(_param_type(checked, elab.blocks[0], 2))
    sm_t = strip_newtype(_param_type(checked, elab.blocks[0], 3))
    for t in (hdr_t, meta_t, sm_t):
        if not isinstance(t, StructLikeT):
            raise TypeCheckError(elab.blocks[0].decl.pos, f"parser parameter of type {t} "
                                 "must be a struct")
    assert isinstance(hdr_t, StructLikeT) and isinstance(meta_t, StructLikeT)
    assert isinstance(sm_t, StructLikeT)
    _add_annotated_field_lists(checked, meta_t, field_lists)
    return Pipeline(
        source="\n\n".join(parts),
        functions={role: b.py for role, b in zip(V1MODEL_ROLES, elab.blocks, strict=True)},
        headers_class=class_names(hdr_t),
        metadata_class=class_names(meta_t),
        standard_metadata_class=class_names(sm_t),
        error_codes=dict(codes),
        field_lists=field_lists,
        digests=digests,
        empty_roles=frozenset(role for role, b in zip(V1MODEL_ROLES, elab.blocks, strict=True)
                              if b.py in empty),
        fields_used=frozenset(used),
    )


def _param_type(checked: CheckedProgram, block: BlockInst, i: int) -> Type:
    params = block.decl.params
    if len(params) <= i:
        raise TypeCheckError(block.decl.pos, f"{block.decl.name} has too few parameters for "
                             "its V1Switch role")
    t = checked.decl_syms[params[i]].type
    assert t is not None
    return t


def _add_annotated_field_lists(checked: CheckedProgram, meta: StructLikeT,
                               field_lists: dict[int, list[tuple[int, tuple[str, ...]]]]
                               ) -> None:
    """`@field_list(n)` on user metadata fields (nested structs included);
    `n` is a literal or the name of a top-level constant."""

    def index(arg: ir.Expr) -> int:
        if isinstance(arg, ir.IntLit):
            return arg.value
        if isinstance(arg, ir.NameRef):
            sym = checked.top.lookup_value(arg.name)
            if sym is not None and sym.kind == "const" and isinstance(sym.value, int):
                return int(sym.value)
        raise TypeCheckError(arg.pos, "@field_list takes integer constants")

    def walk(t: StructLikeT, path: tuple[str, ...]) -> None:
        for f in t.fields:
            ft = strip_newtype(f.type)
            for note in f.annotations:
                if note.name == "field_list" and note.args:
                    for arg in note.args:
                        field_lists.setdefault(index(arg), []).append((0, (*path, f.name)))
            if isinstance(ft, StructT):
                walk(ft, (*path, f.name))

    walk(meta, ())


__all__ = ["BlockGen", "Pipeline", "generate"]
