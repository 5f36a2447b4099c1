"""The back end's driver: typed IR to `Lowered` (generated pipeline, the plan
of runtime objects, and the control-plane `ProgramSchema`).

The plan says which tables, registers, counters, meters and value sets the
switch must create and under which Python names the generated code expects
them; the schema names them as p4c's P4Info does.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from p4sim import limits
from p4sim.errors import ControlPlaneError, TypeCheckError, UnsupportedError
from p4sim.frontend import ir
from p4sim.passes import codegen
from p4sim.passes.declcheck import ActionBinding, CheckedProgram, TableFacts, TableImplementation
from p4sim.passes.elaborate import BlockInst, Elaborated, ExternInst, elaborate
from p4sim.passes.resolve import Sym, annotation_int, name_of
from p4sim.runtime import schema as S
from p4sim.runtime.action_profiles import MAX_GROUP_SIZE
from p4sim.runtime.tables import (
    ActionCall,
    ActionSpec,
    Exact,
    FieldMatch,
    KeySpec,
    Lpm,
    MatchTable,
    OptionalMatch,
    RangeMatch,
    TableEntry,
    Ternary,
)
from p4sim.runtime.types import (
    BitT,
    EnumT,
    HeaderT,
    NewT,
    StructT,
    Type,
    TypeVar,
    VarbitT,
    strip_newtype,
    width_of,
)

DEFAULT_TABLE_SIZE = 1024  # p4c's default when a table has no `size`
# `@hidden` stays: P4Info leaves hidden tables and actions out and keeps the
# annotation on other hidden objects (externs), as p4c does.
_STRUCTURAL = {"name", "id", "field_list", "priority", "match"}


@dataclass
class TablePlan:
    py: str
    name: str
    keys: tuple[KeySpec, ...]
    size: int
    default: ActionCall
    default_is_const: bool
    actions: dict[str, ActionSpec]
    is_const_table: bool
    entries: list[tuple[tuple[FieldMatch | None, ...], ActionCall, int]]
    direct_meter_unit: str | None = None
    profile: str | None = None  # the action profile / selector the entries point into


@dataclass
class ProfilePlan:
    """An action profile (`algorithm` None) or selector; `actions` are those
    of the tables it implements, which its members may run."""

    name: str
    size: int
    algorithm: str | None
    max_group_size: int
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    in_place: bool = False  # constructed in a table's `implementation` property
    annotations: tuple[str, ...] = ()
    explicit_id: int | None = None
    size_semantics: str = ""  # @selector_size_semantics's argument
    max_member_weight: int = 0


@dataclass
class ExternPlan:
    """kind: "register", "counter", "meter", "direct_counter", "direct_meter"."""

    py: str
    kind: str
    name: str
    size: int = 0
    width: int = 0
    unit: str = ""


@dataclass
class ValueSetPlan:
    py: str
    name: str
    size: int
    widths: tuple[int, ...]


@dataclass
class Lowered:
    pipeline: codegen.Pipeline
    schema: S.ProgramSchema
    tables: list[TablePlan] = field(default_factory=list)
    externs: list[ExternPlan] = field(default_factory=list)
    value_sets: list[ValueSetPlan] = field(default_factory=list)
    action_profiles: list[ProfilePlan] = field(default_factory=list)


def annotation_strings(notes: list[ir.Annotation] | tuple[ir.Annotation, ...]) -> tuple[str, ...]:
    """Annotations as P4Info carries them: p4c writes an annotation's body as
    its tokens joined by single spaces (`@refers_to(t , f)`, `@a(x >= 1)`)."""
    out = []
    for note in notes:
        if note.name in _STRUCTURAL:
            continue
        body = " ".join(_ANNOTATION_TOKEN.findall(note.raw))
        out.append(f"@{note.name}({body})" if body else f"@{note.name}")
    return tuple(out)


# P4 tokens, as p4c's lexer splits an annotation body (`>>` is two `>`).
_ANNOTATION_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"'
    r"|\d+[wsWS](?:0[xXbBoOdD][0-9a-fA-F_]+|\d[\d_]*)|0[xXbBoOdD][0-9a-fA-F_]+|\d[\d_]*"
    r"|[A-Za-z_][A-Za-z0-9_]*"
    r"|&&&|\.\.|\|\+\||\|-\||<<|<=|>=|==|!=|&&|\|\||\+\+"
    r"|\S"
)


def render_key(e: ir.Expr) -> str:
    """p4c's rendering of a key expression, the default P4Info match field name."""
    if isinstance(e, ir.NameRef):
        return ("." if e.dotted else "") + e.name
    if isinstance(e, ir.Member):
        return f"{render_key(e.expr)}.{e.member}"
    if isinstance(e, ir.Call) and not e.args and isinstance(e.callee, ir.Member) and \
            e.callee.member == "isValid":
        return f"{render_key(e.callee.expr)}.$valid$"  # p4c's name for a validity key
    if isinstance(e, ir.Call) and not e.args:
        return f"{render_key(e.callee)}()"
    if isinstance(e, ir.Slice) and isinstance(e.hi, ir.IntLit) and isinstance(e.lo, ir.IntLit):
        return f"{render_key(e.expr)}[{e.hi.value}:{e.lo.value}]"
    if isinstance(e, ir.Index) and isinstance(e.index, ir.IntLit):
        return f"{render_key(e.expr)}[{e.index.value}]"
    if isinstance(e, ir.IntLit):
        return str(e.value)
    raise UnsupportedError(e.pos, "this key expression needs a @name annotation")


class Lowerer:
    def __init__(self, checked: CheckedProgram) -> None:
        self.checked = checked
        self.facts = checked.facts
        self.schema = S.ProgramSchema()
        self.out_tables: list[TablePlan] = []
        self.out_externs: list[ExternPlan] = []
        self.out_value_sets: list[ValueSetPlan] = []
        self.action_infos: dict[str, S.ActionInfo] = {}
        self._newtypes: dict[str, ir.TypedefDecl] | None = None
        # struct name -> the typedef name a `digest<T>` call wrote for it
        self.digest_typedefs: dict[str, str] = {}
        # Serializable enums typing an action's parameters, per action.
        self.action_enums: dict[str, list[EnumT]] = {}
        # direct counter/meter instance name -> table name (per instance: a
        # control instantiated twice has a counter per instance)
        self.direct_owner: dict[str, str] = {}
        self.profiles: dict[str, ProfilePlan] = {}
        self.named_profiles: list[str] = []  # declared instances, in declaration order
        self.elab: Elaborated | None = None

    @staticmethod
    def _flatten(elab: Elaborated) -> list[list[tuple[BlockInst, ir.Decl]]]:
        """Each package argument's declarations with its sub-parser and
        sub-control instances replaced by their own declarations, in place
        (recursively): the order in which p4c, having inlined them, lists
        tables, externs and actions."""
        seen: set[int] = set()

        def walk(block: BlockInst, out: list[tuple[BlockInst, ir.Decl]]) -> None:
            seen.add(id(block))
            for local in block.decl.locals:
                child = None
                if isinstance(local, ir.InstanceDecl):
                    child = next((c for sym, c in block.children.items()
                                  if sym.decl is local and id(c) not in seen), None)
                if child is not None:
                    walk(child, out)
                else:
                    out.append((block, local))

        roots: list[list[tuple[BlockInst, ir.Decl]]] = []
        for block in [*elab.blocks, *elab.all_blocks]:
            if id(block) not in seen:
                roots.append([])
                walk(block, roots[-1])
        return roots

    def _p4c_action_order(self, flat: list[list[tuple[BlockInst, ir.Decl]]]) -> dict[str, int]:
        """Where p4c lists each action: control by control (sub-controls
        inlined in place), first the top-level actions the control uses (p4c
        copies them into the control, in the order it meets them: tables'
        action lists and defaults, with a table's implicit NoAction, then
        calls), then the control's own actions in declaration order."""
        order: dict[str, int] = {}
        top_level = {d for d in self.checked.program.decls if isinstance(d, ir.ActionDecl)}

        def add(name: str) -> None:
            order.setdefault(name, len(order))

        for decls in flat:
            if not decls or not isinstance(decls[0][0].decl, ir.ControlDecl):
                continue
            used: list[tuple[BlockInst, Sym]] = []
            for block, local in decls:
                facts = self.checked.tables.get(local) if isinstance(local, ir.TableDecl) \
                    else None
                if facts is not None:
                    used.extend((block, b.sym) for b in facts.actions)
                    if facts.default is not None:
                        used.append((block, facts.default.sym))
                    else:  # p4c's implicit `default_action = NoAction()`
                        noaction = self.checked.top.lookup_value("NoAction")
                        if noaction is not None and noaction.kind == "action":
                            used.append((block, noaction))
            bodies: list[tuple[BlockInst, ir.Node]] = [
                (b, d.body) for b, d in decls if isinstance(d, ir.ActionDecl)]
            blocks = list(dict.fromkeys(b for b, _ in decls))
            bodies += [(b, b.decl.body) for b in blocks if isinstance(b.decl, ir.ControlDecl)]
            for block, body in bodies:
                todo: list[object] = [body]
                while todo:  # depth first, in source order
                    node = todo.pop(0)
                    if isinstance(node, list | tuple):
                        todo[:0] = list(node)
                        continue
                    if not isinstance(node, ir.Node):
                        continue
                    if isinstance(node, ir.Call):
                        info = self.facts.calls.get(node)
                        if info is not None and info.kind == "action" and \
                                info.target is not None:
                            used.append((block, info.target))
                    todo[:0] = [getattr(node, f.name) for f in dataclasses.fields(node)]
            for block, sym in used:
                if sym.decl in top_level:
                    add(block.action_name(sym))
            for block, local in decls:
                if isinstance(local, ir.ActionDecl):
                    add(block.action_name(self.checked.decl_syms[local]))
        return order

    def _p4c_digest_order(self, flat: list[list[tuple[BlockInst, ir.Decl]]]) -> dict[str, int]:
        """Where p4c lists each digest: in the order it meets the `digest`
        calls, control by control (sub-controls inlined), the actions'
        bodies first, then the apply blocks."""
        order: dict[str, int] = {}
        for decls in flat:
            bodies: list[ir.Node] = [d.body for _, d in decls if isinstance(d, ir.ActionDecl)]
            blocks = list(dict.fromkeys(b for b, _ in decls))
            bodies += [b.decl.body for b in blocks if isinstance(b.decl, ir.ControlDecl)]
            todo: list[object] = list(bodies)
            while todo:  # depth first, in source order
                node = todo.pop(0)
                if isinstance(node, list | tuple):
                    todo[:0] = list(node)
                    continue
                if not isinstance(node, ir.Node):
                    continue
                if isinstance(node, ir.Call):
                    info = self.facts.calls.get(node)
                    if info is not None and info.kind == "extern_function" and \
                            info.name == "digest" and len(info.args) > 1 and \
                            info.args[1] is not None:
                        t = strip_newtype(info.args[1].type)
                        if isinstance(t, StructT):
                            order.setdefault(t.name, len(order))
                            written = node.type_args[0] if node.type_args else None
                            if isinstance(written, ir.NamedTypeRef) and written.name != t.name:
                                self.digest_typedefs.setdefault(t.name, written.name)
                todo[:0] = [getattr(node, f.name) for f in dataclasses.fields(node)]
        return order

    def _live_references(self, elab: Elaborated) -> tuple[set[str], set[str]]:
        """The tables applied and the actions called directly in the apply
        blocks, leaving out branches a constant condition never takes (p4c
        folds them away before it decides what is unused)."""
        tables: set[str] = set()
        actions: set[str] = set()
        for block in elab.all_blocks:
            if not isinstance(block.decl, ir.ControlDecl):
                continue
            todo: list[object] = [block.decl.body]
            while todo:
                node = todo.pop()
                if isinstance(node, list | tuple):
                    todo.extend(node)
                    continue
                if not isinstance(node, ir.Node):
                    continue
                if isinstance(node, ir.IfStmt | ir.Ternary):
                    cond: object = self.facts.consts.get(node.cond)
                    if cond is None and isinstance(node.cond, ir.NameRef):
                        # a constructor parameter: constant in this instance
                        ref = self.facts.refs.get(node.cond)
                        cond = block.ctor_values.get(ref) if ref is not None else None
                    if isinstance(cond, bool):
                        taken = node.then if cond else node.otherwise
                        todo.append(taken)
                        continue
                if isinstance(node, ir.Call):
                    info = self.facts.calls.get(node)
                    if info is not None and info.target is not None:
                        if info.kind == "table_apply" and info.target in block.tables:
                            tables.add(block.tables[info.target])
                        elif info.kind == "action":
                            actions.add(block.action_name(info.target))
                todo.extend(getattr(node, f.name) for f in dataclasses.fields(node))
        return tables, actions

    def _calls_extern_function(self, block: BlockInst) -> bool:
        """Whether a control's apply block, or an action declared in it, calls
        an extern function (the places p4c's P4Info generator looks)."""
        decl = block.decl
        if not isinstance(decl, ir.ControlDecl):
            return False
        todo: list[object] = [decl.body, *(a.body for a in decl.locals
                                          if isinstance(a, ir.ActionDecl))]
        while todo:
            node = todo.pop()
            if isinstance(node, list | tuple):
                todo.extend(node)
                continue
            if not isinstance(node, ir.Node):
                continue
            if isinstance(node, ir.Call):
                info = self.facts.calls.get(node)
                if info is not None and info.kind == "extern_function":
                    return True
            todo.extend(getattr(node, f.name) for f in dataclasses.fields(node))
        return False

    def run(self) -> Lowered:
        elab = self.elab = elaborate(self.checked)
        top_names: dict[Sym, str] = {}
        for sym, ext in elab.top_externs.items():
            top_names[sym] = ext.py
        names_per_block: dict[int, dict[Sym, str]] = {
            id(block): dict(top_names) for block in elab.all_blocks}
        flat = self._flatten(elab)
        for decls in flat:
            for block, local in decls:
                names = names_per_block[id(block)]
                local_sym = self.checked.decl_syms.get(local)
                if local_sym is None:
                    continue
                if local_sym in block.tables:
                    names[local_sym] = f"T_{len(self.out_tables)}"
                    self._table(block, local_sym, block.tables[local_sym], names[local_sym])
                elif local_sym in block.value_sets:
                    names[local_sym] = f"VS_{len(self.out_value_sets)}"
                    self._value_set(local_sym, block.value_sets[local_sym], names[local_sym])
        for decls in flat:
            for block, local in decls:
                local_sym = self.checked.decl_syms.get(local)
                if local_sym is not None and local_sym in block.externs:
                    ext = block.externs[local_sym]
                    names_per_block[id(block)][local_sym] = ext.py
                    self._extern(ext)
        for ext in elab.top_externs.values():
            self._extern(ext)
        for block in elab.all_blocks:
            self._direct_actions(block)
        pipeline = codegen.generate(self.checked, elab, names_per_block)
        # p4c folds constant conditions, then drops tables and actions nothing
        # uses any more: they stay in the pipeline but not in P4Info.
        live_tables, live_actions = self._live_references(elab)
        self.schema.tables = [t for t in self.schema.tables if t.name in live_tables]
        live_actions |= {r.action for t in self.schema.tables for r in t.action_refs}
        for name in list(self.action_infos):
            if name not in live_actions:
                del self.action_infos[name]
        self.schema.has_type_info = bool(elab.top_externs) or bool(self.schema.tables) or any(
            b.externs or self._calls_extern_function(b) for b in elab.all_blocks)
        # An action no table lists is only called directly: p4c binds its
        # parameters at the call and lists it without them.
        in_tables = {r.action for t in self.schema.tables for r in t.action_refs}
        for name, info in list(self.action_infos.items()):
            if name not in in_tables and info.params:
                self.action_infos[name] = dataclasses.replace(info, params=())
        # p4c describes the serializable enums typing the parameters of the
        # actions it lists (after the tables' keys).
        for name in sorted(in_tables & set(self.action_infos)):
            for enum in self.action_enums.get(name, ()):
                self._serializable_enum(enum)
        rank = self._p4c_action_order(flat)
        self.schema.actions = sorted(self.action_infos.values(),
                                     key=lambda a: (rank.get(a.name, len(rank)), a.name))
        digest_rank = self._p4c_digest_order(flat)
        for name, t in sorted(pipeline.digests.items(),
                              key=lambda d: (digest_rank.get(d[0], len(digest_rank)), d[0])):
            self.schema.digests.append(S.DigestInfo(
                name, tuple(_member_info(f.name, f.type) for f in t.fields),
                p4info_name=self.digest_typedefs.get(name)))
            for f in t.fields:  # p4c describes a digest member's serializable enum
                self._new_type(f.type)
                member_type = strip_newtype(f.type)
                if isinstance(member_type, EnumT) and member_type.underlying is not None:
                    self._serializable_enum(member_type)
        self._controller_headers()
        # p4c meets a declared profile where it is declared and one built in a
        # table's `implementation` with its table (sub-controls inlined).
        where: dict[str, int] = {}
        for decls in flat:
            for block, local in decls:
                local_sym = self.checked.decl_syms.get(local)
                if local_sym in block.tables:
                    where.setdefault(block.tables[local_sym], len(where))
                elif local_sym in block.externs:
                    where.setdefault(block.externs[local_sym].name, len(where))
        profiles = [p for p in self.profiles.values() if p.in_place] + [
            self.profiles[n] for n in self.named_profiles]
        profiles.sort(key=lambda p: where.get(p.tables[0] if p.in_place and p.tables
                                              else p.name, -1))
        for p in profiles:
            self.schema.action_profiles.append(S.ActionProfileInfo(
                p.name, tuple(p.tables), p.size, with_selector=p.algorithm is not None,
                max_group_size=p.max_group_size, annotations=p.annotations,
                explicit_id=p.explicit_id, size_semantics=p.size_semantics,
                max_member_weight=p.max_member_weight))
        return Lowered(pipeline, self.schema, self.out_tables, self.out_externs,
                       self.out_value_sets, profiles)

    # --------------------------------------------------------------- tables

    def _action(self, block: BlockInst, binding: ActionBinding) -> str:
        name = block.action_name(binding.sym)
        if name not in self.action_infos:
            decl: ir.ActionDecl = binding.sym.decl
            params = []
            for p in decl.params:
                if p.direction is None:
                    t = self.checked.decl_syms[p].type
                    assert t is not None
                    enum = strip_newtype(t)
                    if isinstance(enum, EnumT) and enum.underlying is not None:
                        self.action_enums.setdefault(name, []).append(enum)
                    params.append(S.ActionParamInfo(p.name, width_of(t),
                                                    annotation_strings(p.annotations),
                                                    type_name=self._new_type(t)))
            self.action_infos[name] = S.ActionInfo(
                name, tuple(params), annotation_strings(decl.annotations),
                annotation_int(decl.annotations, "id"))
        return name

    def _new_type(self, t: Type) -> str | None:
        """The name of `t` when it is a `type` (P4Info's type_name), recorded
        with its `@p4runtime_translation` in the schema's new_types."""
        if not isinstance(t, NewT):
            return None
        if t.name not in self.schema.new_types:
            decl = self._newtype_decls().get(t.name)
            note = ir.find_annotation(decl.annotations, "p4runtime_translation") \
                if decl is not None else None
            uri, translated = _translation(note.raw) if note is not None else (None, None)
            self.schema.new_types[t.name] = S.NewTypeInfo(
                t.name, width_of(strip_newtype(t)), uri, translated)
        return t.name

    def _newtype_decls(self) -> dict[str, ir.TypedefDecl]:
        if self._newtypes is None:
            self._newtypes = {d.name: d for d in self.checked.program.decls
                              if isinstance(d, ir.TypedefDecl) and d.is_newtype}
        return self._newtypes

    def _serializable_enum(self, enum: EnumT) -> None:
        assert enum.underlying is not None
        self.schema.serializable_enums.setdefault(
            enum.name, (enum.underlying.width, tuple(enum.members.items())))

    def _direct_actions(self, block: BlockInst) -> None:
        """Actions a control's apply block calls directly are in p4c's P4Info
        (its bmv2 back end runs them from synthesized hidden tables)."""
        if not isinstance(block.decl, ir.ControlDecl):
            return
        stack: list[object] = [block.decl.body]
        while stack:
            node = stack.pop()
            if isinstance(node, list | tuple):
                stack.extend(node)
            elif isinstance(node, ir.Node):
                if isinstance(node, ir.Call):
                    info = self.facts.calls.get(node)
                    if info is not None and info.kind == "action" and info.target is not None:
                        self._action(block, ActionBinding(info.target, []))
                stack.extend(getattr(node, f.name) for f in dataclasses.fields(node))

    def _noaction(self) -> str:
        sym = self.checked.top.lookup_value("NoAction")
        if sym is None or sym.kind != "action":
            raise TypeCheckError(None, "a table without default_action needs NoAction "
                                 "(declared in core.p4)")
        name = "NoAction"
        if name not in self.action_infos:
            self.action_infos[name] = S.ActionInfo(
                name, (), annotation_strings(sym.decl.annotations),
                annotation_int(sym.decl.annotations, "id"))
        return name

    def _const_args(self, binding: ActionBinding) -> tuple[int, ...]:
        decl: ir.ActionDecl = binding.sym.decl
        values = []
        for p, a in zip(decl.params, binding.args, strict=True):
            if p.direction is None:
                assert a is not None
                v = self.facts.consts[a]
                values.append(int(v))
        return tuple(values)

    def _table(self, block: BlockInst, sym: Sym, qname: str, py: str) -> None:
        decl: ir.TableDecl = sym.decl
        facts = self.checked.tables[decl]
        keys = []
        fields = []
        for k, t in zip(decl.keys, facts.key_types, strict=True):
            note = ir.find_annotation(k.annotations, "name")
            if note is not None and note.args and isinstance(note.args[0], ir.StringLit):
                kname = note.args[0].value
            else:
                kname = render_key(k.expr)
            width = width_of(strip_newtype(t))
            enum = strip_newtype(t)
            if isinstance(enum, EnumT) and enum.underlying is not None:
                self._serializable_enum(enum)
            if k.match_kind != "selector":  # selector keys feed the hash, not the match
                keys.append(KeySpec(kname, k.match_kind, width))
            fields.append(S.MatchFieldInfo(kname, k.match_kind, width,
                                           annotation_strings(k.annotations),
                                           type_name=self._new_type(t)))
        specs: dict[str, ActionSpec] = {}
        refs = []
        for ref, binding in zip(decl.actions, facts.actions, strict=True):
            name = self._action(block, binding)
            scope = "TABLE_AND_DEFAULT"
            if ir.find_annotation(ref.annotations, "defaultonly") is not None:
                scope = "DEFAULT_ONLY"
            elif ir.find_annotation(ref.annotations, "tableonly") is not None:
                scope = "TABLE_ONLY"
            widths = tuple(p.bitwidth for p in self.action_infos[name].params)
            specs[name] = ActionSpec(widths, scope)
            refs.append(S.ActionRefInfo(name, scope, annotation_strings(ref.annotations)))
        if facts.default is not None:
            default = ActionCall(self._action(block, facts.default),
                                 self._const_args(facts.default))
        else:
            default = ActionCall(self._noaction())
            if "NoAction" not in specs:
                # p4c adds the implied default to the actions, default-only.
                specs["NoAction"] = ActionSpec((), "DEFAULT_ONLY")
                refs.append(S.ActionRefInfo("NoAction", "DEFAULT_ONLY"))
        entries = self._entries(block, decl, facts, keys)
        size = facts.size if facts.size is not None else DEFAULT_TABLE_SIZE
        if facts.size_param is not None:  # a constructor parameter: this instance's value
            assert decl.size is not None
            value = block.ctor_values.get(facts.size_param)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeCheckError(decl.size.pos,
                                     "table size must be a compile-time integer constant")
            limits.check_count("table size", value, 0, limits.MAX_TABLE_SIZE, decl.size.pos)
            size = value
        _check_entries(decl, qname, keys, size, default, specs, entries)
        counter = meter = None
        meter_unit = None
        if facts.direct_counter is not None:
            counter = self._direct_name(block, facts.direct_counter, qname)
        if facts.direct_meter is not None:
            meter = self._direct_name(block, facts.direct_meter, qname)
            ext_decl: ir.InstanceDecl = facts.direct_meter.decl
            meter_unit = self._unit(ext_decl, 0, "MeterType")
        profile = None
        if facts.implementation is not None:
            profile = self._profile(block, facts.implementation, qname, specs)
        self.out_tables.append(TablePlan(
            py, qname, tuple(keys), size, default, decl.default_action_is_const, specs,
            decl.entries_are_const, entries, meter_unit, profile))
        self.schema.tables.append(S.TableInfo(
            qname, tuple(fields), tuple(refs), size,
            const_default_action=default.action if decl.default_action_is_const else None,
            default_action=default.action,
            default_action_args=default.args,
            idle_timeout=facts.support_timeout,
            is_const_table=decl.entries_are_const,
            has_initial_entries=bool(entries),
            direct_counter=counter, direct_meter=meter, implementation=profile,
            annotations=annotation_strings(decl.annotations),
            explicit_id=annotation_int(decl.annotations, "id")))

    def _profile(self, block: BlockInst, impl: TableImplementation, table: str,
                 specs: dict[str, ActionSpec]) -> str:
        """The profile a table's entries point into, created on first use.

        A declared instance has its qualified name (`MyIngress.ecmp`); one
        constructed in the property takes its `@name` as written, without
        the control's prefix, as p4c does (else the table's name)."""
        if impl.sym is not None:
            assert self.elab is not None
            ext = block.externs.get(impl.sym) or self.elab.top_externs.get(impl.sym)
            if ext is None:
                raise UnsupportedError(impl.decl.pos, "an action profile declared outside "
                                       "the table's control and the top level")
            name = ext.name
        else:
            name = name_of(impl.annotations, table).lstrip(".")
        plan = self.profiles.get(name)
        if plan is None:
            plan = self.profiles[name] = self._profile_plan(name, impl)
            plan.in_place = impl.sym is None
        elif impl.sym is None:
            raise TypeCheckError(impl.decl.pos, f"action profile name {name} is used twice")
        for action, spec in specs.items():
            plan.actions.setdefault(action, spec)
        plan.tables.append(table)
        return name

    @staticmethod
    def _profile_plan(name: str, impl: TableImplementation) -> ProfilePlan:
        max_group_size = 0
        if impl.with_selector:
            max_group_size = annotation_int(impl.annotations, "max_group_size") or 0
            if not 0 <= max_group_size <= MAX_GROUP_SIZE:
                note = ir.find_annotation(impl.annotations, "max_group_size")
                raise UnsupportedError(note.pos if note else impl.decl.pos,
                                       f"@max_group_size({max_group_size}): p4sim groups "
                                       f"hold at most {MAX_GROUP_SIZE} weighted members")
        # p4c turns these into P4Info fields, not annotations.
        fields = {"max_group_size", "selector_size_semantics", "max_member_weight"}
        notes = [n for n in impl.annotations if n.name not in fields]
        semantics = ir.find_annotation(impl.annotations, "selector_size_semantics")
        size_semantics = ""
        if impl.with_selector and semantics is not None and semantics.args and \
                isinstance(semantics.args[0], ir.StringLit):
            size_semantics = semantics.args[0].value
        return ProfilePlan(name, impl.size, impl.algorithm, max_group_size,
                           annotations=annotation_strings(notes),
                           explicit_id=annotation_int(impl.annotations, "id"),
                           size_semantics=size_semantics,
                           max_member_weight=annotation_int(impl.annotations,
                                                            "max_member_weight") or 0)

    def _direct_name(self, block: BlockInst, sym: Sym, table: str) -> str:
        ext = block.externs.get(sym)
        if ext is None:
            raise UnsupportedError(sym.decl.pos, "a direct counter or meter "
                                   "declared outside the table's control")
        if ext.name in self.direct_owner:
            raise TypeCheckError(sym.decl.pos, f"{ext.name} is used by two tables")
        self.direct_owner[ext.name] = table
        return ext.name

    def _entries(self, block: BlockInst, decl: ir.TableDecl, facts: TableFacts,
                 keys: list[KeySpec]) -> list[tuple[tuple[FieldMatch | None, ...],
                                                    ActionCall, int]]:
        out = []
        needs_priority = any(k.match_kind in ("ternary", "range", "optional") for k in keys)
        # bmv2's priority of each entry (the smaller wins): `@priority(n)`, else
        # its position from 1, as p4c's bmv2 back end writes them; P4Runtime's
        # larger-wins priority is then the distance from the largest.
        ranks = [i + 1 if (n := _priority_annotation(d)) is None else n
                 for i, d in enumerate(decl.entries or [])]
        top = max(ranks, default=0) + 1
        for i, (keysets, binding, priority) in enumerate(facts.entries):
            matches = tuple(self._match(ks, spec) for ks, spec in zip(keysets, keys,
                                                                         strict=True))
            if not needs_priority:
                priority = 0  # exact and lpm matches need no priority
            elif priority is None:
                priority = top - ranks[i]
            action = ActionCall(block.action_name(binding.sym), self._const_args(binding))
            out.append((matches, action, priority))
        return out

    def _match(self, ks: ir.Expr, spec: KeySpec) -> FieldMatch | None:
        consts = self.facts.consts
        full = (1 << spec.width) - 1
        kind = spec.match_kind
        if isinstance(ks, ir.Default):
            if kind == "exact":
                raise TypeCheckError(ks.pos, "an exact key cannot be _ (don't care) in a "
                                     "table entry")
            return None
        if isinstance(ks, ir.Mask):
            v, m = int(consts[ks.value]), int(consts[ks.mask])
            if kind == "ternary":
                return None if m == 0 else Ternary(v & m, m)
            if kind == "lpm":
                plen = bin(m).count("1")
                if m != (full >> (spec.width - plen)) << (spec.width - plen):
                    raise TypeCheckError(ks.pos, "an lpm entry mask must be a prefix")
                return None if plen == 0 else Lpm(v & m, plen)
            raise TypeCheckError(ks.pos, f"&&& is not allowed for {_a(kind)} key")
        if isinstance(ks, ir.Range):
            if kind != "range":
                raise TypeCheckError(ks.pos, f".. is not allowed for {_a(kind)} key")
            return RangeMatch(int(consts[ks.lo]), int(consts[ks.hi]))
        v = int(consts[ks])
        if kind == "exact":
            return Exact(v)
        if kind == "lpm":
            return Lpm(v, spec.width)
        if kind == "ternary":
            return Ternary(v, full)
        if kind == "range":
            return RangeMatch(v, v)
        return OptionalMatch(v)

    # -------------------------------------------------------------- externs

    def _unit(self, decl: ir.InstanceDecl, index: int, enum_name: str) -> str:
        call = self.checked.ctor_calls[decl]
        info = self.facts.calls[call]
        arg = info.args[index]
        assert arg is not None
        t = arg.type
        value = self.facts.consts.get(arg)
        if not isinstance(t, EnumT):
            raise TypeCheckError(arg.pos, f"expected a {enum_name} value")
        member = next((n for n, v in t.members.items() if v == value), "")
        return {"packets": "PACKETS", "bytes": "BYTES",
                "packets_and_bytes": "BOTH"}.get(member, member.upper())

    def _extern(self, ext: ExternInst) -> None:
        decl: ir.InstanceDecl = ext.sym.decl
        kind = ext.type.name
        notes = annotation_strings(decl.annotations)
        explicit = annotation_int(decl.annotations, "id")
        args = ext.ctor_args
        if kind == "register":
            t = ext.type.type_args[0] if ext.type.type_args else None
            if t is None or isinstance(t, TypeVar):
                raise TypeCheckError(decl.pos, "register needs its element type")
            bits = strip_newtype(t)
            width = width_of(bits) if isinstance(bits, BitT) else 0
            if not width:
                raise UnsupportedError(decl.pos, f"register of {t}")
            size = _int_arg(args, decl)
            self.out_externs.append(ExternPlan(ext.py, kind, ext.name, size, width))
            self.schema.registers.append(S.RegisterInfo(
                ext.name, width, size, notes, explicit,
                signed=isinstance(bits, BitT) and bits.signed))
        elif kind == "counter":
            size = _int_arg(args, decl)
            unit = self._unit(decl, 1, "CounterType")
            self.out_externs.append(ExternPlan(ext.py, kind, ext.name, size, unit=unit))
            self.schema.counters.append(S.CounterInfo(ext.name, unit, size, None, notes,
                                                      explicit))
        elif kind == "direct_counter":
            unit = self._unit(decl, 0, "CounterType")
            table = self.direct_owner.get(ext.name)
            if table is None:
                raise TypeCheckError(decl.pos, f"direct_counter {ext.name} is not attached "
                                     "to a table")
            self.schema.counters.append(S.CounterInfo(ext.name, unit, 0, table, notes,
                                                      explicit))
        elif kind == "meter":
            size = _int_arg(args, decl)
            unit = self._unit(decl, 1, "MeterType")
            self.out_externs.append(ExternPlan(ext.py, kind, ext.name, size, unit=unit))
            self.schema.meters.append(S.MeterInfo(ext.name, unit, size, None, notes, explicit))
        elif kind in ("action_profile", "action_selector"):
            if ext.name not in self.profiles:
                impl = self.checked.implementations[decl]
                self.profiles[ext.name] = self._profile_plan(ext.name, impl)
            self.named_profiles.append(ext.name)
        elif kind == "direct_meter":
            unit = self._unit(decl, 0, "MeterType")
            table = self.direct_owner.get(ext.name)
            if table is None:
                raise TypeCheckError(decl.pos, f"direct_meter {ext.name} is not attached "
                                     "to a table")
            self.schema.meters.append(S.MeterInfo(ext.name, unit, 0, table, notes, explicit))
        else:
            raise UnsupportedError(decl.pos, f"extern {kind}")

    def _value_set(self, sym: Sym, qname: str, py: str) -> None:
        t = strip_newtype(sym.type) if sym.type is not None else None
        if isinstance(t, StructT):
            members = [(f.name, width_of(f.type)) for f in t.fields]
        elif t is not None:
            members = [("", width_of(t))]
        else:
            members = []
        size = int(sym.value)
        self.out_value_sets.append(ValueSetPlan(py, qname, size, tuple(w for _, w in members)))
        self.schema.value_sets.append(S.ValueSetInfo(qname, size, tuple(
            S.MatchFieldInfo(n, "exact", w) for n, w in members)))

    def _controller_headers(self) -> None:
        for sym in self.checked.top.types.values():
            t = sym.type
            if not isinstance(t, HeaderT):
                continue
            note = ir.find_annotation(list(t.annotations), "controller_header")
            if note is None or not note.args or not isinstance(note.args[0], ir.StringLit):
                continue
            meta = []
            for i, f in enumerate(t.fields):
                fid = annotation_int(list(f.annotations), "id") or i + 1
                meta.append((fid, f.name, width_of(f.type)))
            others = [n for n in t.annotations if n.name != "controller_header"]
            self.schema.controller_headers.append(S.ControllerHeaderInfo(
                note.args[0].value, tuple(meta), annotation_strings(others),
                type_name=name_of(list(t.annotations), t.name),
                metadata_type_names=tuple(self._new_type(f.type) for f in t.fields)))


def _int_arg(args: list[int | bool | str | None], decl: ir.InstanceDecl) -> int:
    size = args[0] if args else None
    if not isinstance(size, int) or size <= 0:
        raise TypeCheckError(decl.pos, f"{decl.name}: size must be a positive constant")
    limits.check_count(f"{decl.name}: size", size, 1, limits.MAX_EXTERN_SIZE, decl.pos)
    return size


def _priority_annotation(entry: ir.TableEntryDecl) -> int | None:
    """The value of an entry's `@priority(n)` (a bmv2 extension p4c honours)."""
    note = ir.find_annotation(entry.annotations, "priority")
    if note is None or not note.args or not isinstance(note.args[0], ir.IntLit):
        return None
    return note.args[0].value


def lower(checked: CheckedProgram) -> Lowered:
    return Lowerer(checked).run()


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _check_entries(decl: ir.TableDecl, qname: str, keys: list[KeySpec], size: int,
                   default: ActionCall, specs: dict[str, ActionSpec],
                   entries: list[tuple[tuple[FieldMatch | None, ...], ActionCall, int]]) -> None:
    """Load the initial entries into a scratch table as the switch will, so
    that an entry the table refuses (a duplicate key, an empty range, more
    entries than `size`) is a compile error at that entry, not a failure
    when the switch starts."""
    table = MatchTable(qname, keys, size, default, decl.default_action_is_const,
                       actions=specs, is_const_table=decl.entries_are_const)
    for entry_decl, (matches, action, priority) in zip(decl.entries or [], entries,
                                                       strict=True):
        try:
            table.insert(TableEntry(matches, action, priority,
                                    is_const=decl.entries_are_const))
        except ControlPlaneError as err:
            raise TypeCheckError(entry_decl.pos, err.message) from None


__all__ = ["ExternPlan", "Lowered", "ProfilePlan", "TablePlan", "ValueSetPlan", "lower"]


def _translation(raw: str) -> tuple[str | None, int | None]:
    """`@p4runtime_translation("uri", bit<W> | string | W)`: (uri, W or None)."""
    m = re.fullmatch(r'\s*"((?:[^"\\]|\\.)*)"\s*(?:,\s*(.*?))?\s*', raw, re.S)
    if m is None:
        return raw.strip(), None
    target = (m.group(2) or "").replace(" ", "")
    width = re.fullmatch(r"bit<(\d+)>|(\d+)", target)
    if width is not None:
        return m.group(1), int(width.group(1) or width.group(2))
    return m.group(1), None


def _member_info(name: str, t: Type) -> S.StructMemberInfo:
    if isinstance(t, NewT):
        return S.StructMemberInfo(name, width_of(t), new_type=t.name)
    base = strip_newtype(t)
    if isinstance(base, VarbitT):
        return S.StructMemberInfo(name, base.max_width, varbit=True)
    if isinstance(base, EnumT) and base.underlying is not None:
        return S.StructMemberInfo(name, width_of(t), enum=base.name)
    return S.StructMemberInfo(name, width_of(t))

