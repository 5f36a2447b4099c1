"""Statements, calls and table applies to Python source.

Actions and functions are inlined at each call site (P4 has no recursion), so
an action body runs with no Python call and sees the control's locals
directly. Copy-in/copy-out follows P4_16: scalar `inout`/`out` arguments go
through temporaries written back after the body (also on `exit`); headers and
structs are passed by reference, an `out` one being invalidated first.
"""

from __future__ import annotations

import dataclasses

from p4sim.errors import TypeCheckError, UnsupportedError
from p4sim.frontend import ir
from p4sim.passes.classgen import ClassNames, is_composite
from p4sim.passes.declcheck import ActionBinding, TableFacts
from p4sim.passes.elaborate import BlockInst
from p4sim.passes.exprgen import ExprGen, bits_of, literal
from p4sim.passes.resolve import Sym
from p4sim.passes.typecheck import CallInfo
from p4sim.runtime.action_profiles import GROUP, MEMBER
from p4sim.runtime.types import (
    ActionRunT,
    BoolT,
    HeaderT,
    HeaderUnionT,
    StructLikeT,
    Type,
    strip_newtype,
    width_of,
)


def _contains(stmts: list[ir.Stmt], kind: type) -> bool:
    for s in stmts:
        if isinstance(s, kind):
            return True
        if isinstance(s, ir.BlockStmt) and _contains(s.stmts, kind):
            return True
        if isinstance(s, ir.IfStmt):
            inner = [s.then] + ([s.otherwise] if s.otherwise is not None else [])
            if _contains(inner, kind):
                return True
        if isinstance(s, ir.SwitchStmt):
            for case in s.cases:
                if case.body is not None and _contains(case.body.stmts, kind):
                    return True
        if isinstance(s, ir.ForStmt) and _contains([*s.init, *s.updates, s.body], kind):
            return True
    return False


class StmtGen(ExprGen):
    block: BlockInst
    names: dict[Sym, str]
    class_names: ClassNames

    def setup_stmt(self) -> None:
        # (mode, result variable): mode "loop" (return = break), "tail"
        # (return is the last statement) or "function" (a Python return).
        self.ret_stack: list[tuple[str, str | None]] = []
        self.function_outs = "None"
        self.applied: dict[ir.Call, tuple[str, str]] = {}
        self.entry_var: str | None = None
        self.direct_meter_sym: Sym | None = None
        # Per enclosing P4 for loop of the body being inlined: the flag its
        # `return` sets (see for_loop), None when the body's return needs none.
        self.loop_returns: list[str | None] = []
        self.names_used: dict[ir.BlockStmt, frozenset[Sym]] = {}

    def fresh(self, sym: Sym) -> str:
        name = self.em.tmp("v")
        return f"{name}_{sym.name}"

    # ----------------------------------------------------------- statements

    def stmts(self, stmts: list[ir.Stmt]) -> None:
        for s in stmts:
            self.stmt(s)

    def stmt(self, s: ir.Stmt) -> None:
        em = self.em
        outer = em.where
        em.where = s.pos
        self.enter(s.pos)
        if isinstance(s, ir.AssignStmt):
            self.assign(s.lhs, s.rhs)
        elif isinstance(s, ir.CallStmt):
            self.call_stmt(s.call)
        elif isinstance(s, ir.IfStmt):
            cond = self.ex(s.cond)
            with em.block(f"if {cond}:"):
                self.branch(s.then)
            if s.otherwise is not None:
                with em.block("else:"):
                    self.branch(s.otherwise)
        elif isinstance(s, ir.BlockStmt):
            self.stmts(s.stmts)
        elif isinstance(s, ir.SwitchStmt):
            self.switch(s)
        elif isinstance(s, ir.ForStmt):
            self.for_loop(s)
        elif isinstance(s, ir.BreakStmt):
            em.line("break")
        elif isinstance(s, ir.ContinueStmt):
            em.line("continue")
        elif isinstance(s, ir.ExitStmt):
            em.line("raise ExitSignal()")
        elif isinstance(s, ir.ReturnStmt):
            self.ret(s)
        elif isinstance(s, ir.VarDecl):
            sym = self.checked.decl_syms[s]
            self.declare_var(sym, s.init)
        elif isinstance(s, ir.ConstDecl):
            sym = self.checked.decl_syms[s]
            self.const_env[sym] = sym.value
        elif isinstance(s, ir.EmptyStmt):
            em.line("pass")
        else:
            raise UnsupportedError(s.pos, f"statement {type(s).__name__}")
        self.depth -= 1
        em.where = outer

    def branch(self, s: ir.Stmt) -> None:
        """An `if` branch: braces are one nesting level with their `if`, as
        p4sim/limits.py counts them."""
        if isinstance(s, ir.BlockStmt):
            self.stmts(s.stmts)
        else:
            self.stmt(s)

    def for_loop(self, s: ir.ForStmt) -> None:
        """A Python `while True` whose first step skips the updates, so P4's
        `break` and `continue` are Python's. In an inlined body whose
        `return` is a Python `break` out of `for _ in ONCE`, a return inside
        the loop sets a flag that each enclosing loop passes on with a break."""
        flag = None
        if self.ret_stack and self.ret_stack[-1][0] == "loop" and _contains([s.body],
                                                                            ir.ReturnStmt):
            flag = self.loop_returns[-1] if self.loop_returns else None
            if flag is None:
                flag = self.em.tmp("returned")
                self.em.line(f"{flag} = False")
        self.stmts(s.init)
        first = self.em.tmp("first")
        if s.updates:
            self.em.line(f"{first} = True")
        self.loop_returns.append(flag)
        with self.em.block("while True:"):
            if s.updates:
                with self.em.block(f"if not {first}:"):
                    self.stmts(s.updates)
                self.em.line(f"{first} = False")
            with self.em.block(f"if not {self.ex(s.cond)}:"):
                self.em.line("break")
            self.branch(s.body)
        self.loop_returns.pop()
        if flag is not None:
            with self.em.block(f"if {flag}:"):
                self.em.line("break")

    def declare_var(self, sym: Sym, init: ir.Expr | None) -> None:
        assert sym.type is not None
        name = self.fresh(sym)
        self.env[sym] = name
        oob = self.error_code("StackOutOfBounds")
        self.em.line(f"{name} = {self.class_names.default_value(sym.type, oob)}")
        if init is not None:
            self.store_expr(name, sym.type, init)

    def ret(self, s: ir.ReturnStmt) -> None:
        mode, result = self.ret_stack[-1]
        if s.value is not None:
            assert result is not None
            if is_composite(s.value.type):
                self.store_expr(result, s.value.type, s.value)
            else:
                self.em.line(f"{result} = {self.ex(s.value)}")
        if mode == "loop":
            if self.loop_returns and self.loop_returns[-1] is not None:
                self.em.line(f"{self.loop_returns[-1]} = True")
            self.em.line("break")
        elif mode == "function":
            self.em.line(f"return {self.function_outs}")

    def switch(self, s: ir.SwitchStmt) -> None:
        value = self.ex(s.expr)
        if not value.isidentifier():
            tmp = self.em.tmp("s")
            self.em.line(f"{tmp} = {value}")
            value = tmp
        is_action = isinstance(s.expr.type, ActionRunT)
        pending: list[ir.Expr] = []
        first = True
        for case in s.cases:
            pending.extend(case.labels)
            if case.body is None:
                continue
            tests = []
            default = False
            for label in pending:
                if isinstance(label, ir.Default):
                    default = True
                elif is_action:
                    sym = self.checked.switch_actions[label]
                    tests.append(f"{value} == {self.block.action_name(sym)!r}")
                else:
                    tests.append(f"{value} == {self.ex(label)}")
            pending = []
            if default:
                header = "else:" if not first else "if True:"
            else:
                header = f"{'if' if first else 'elif'} {' or '.join(tests)}:"
            with self.em.block(header):
                self.stmts(case.body.stmts)
            first = False
            if default:
                break

    # ---------------------------------------------------------- assignment

    def assign(self, lhs: ir.Expr, rhs: ir.Expr) -> None:
        compound = isinstance(rhs, ir.Binary) and isinstance(rhs.left, ir.LValueRead)
        if isinstance(lhs, ir.Slice):
            if compound:
                self.lvalue_reads[lhs] = self.ex(lhs)
            self.store(lhs, self.ex(rhs))
            return
        target = self.ex(lhs)
        if compound:
            self.lvalue_reads[lhs] = target
        self.store_expr(target, lhs.type, rhs)
        if isinstance(strip_newtype(lhs.type), HeaderT):
            self.union_exclusive(lhs, only_if_valid=True)

    def union_exclusive(self, header: ir.Expr, *, only_if_valid: bool = False) -> None:
        """After `header` became valid: if it is a header_union member, its
        siblings become invalid."""
        if not (isinstance(header, ir.Member) and isinstance(header.expr.type, HeaderUnionT)):
            return
        union = self.ex(header.expr)
        if only_if_valid:
            with self.em.block(f"if {union}.f_{header.member}._v:"):
                self.em.line(f"{union}.only({header.member!r})")
        else:
            self.em.line(f"{union}.only({header.member!r})")

    def store_expr(self, target: str, t: Type, rhs: ir.Expr) -> None:
        """`target = rhs` where target is Python lvalue source of type `t`."""
        if is_composite(t):
            if isinstance(rhs, ir.ListExpr | ir.StructInitExpr):
                self.store_initializer(target, strip_newtype(t), rhs)
            else:
                self.em.line(f"{target}.assign({self.ex(rhs)})")
            return
        self.em.line(f"{target} = {self.ex(rhs)}")

    def store_initializer(self, target: str, t: Type, rhs: ir.ListExpr | ir.StructInitExpr
                          ) -> None:
        if not isinstance(t, StructLikeT):
            raise UnsupportedError(rhs.pos, f"initializer for {t}")
        if isinstance(rhs, ir.ListExpr):
            pairs = list(zip([f.name for f in t.fields], rhs.elements, strict=True))
        else:
            pairs = list(rhs.fields)
        # Evaluate every value first: `h = {h.b, h.a}` swaps.
        values: list[tuple[str, Type, ir.Expr, str | None]] = []
        for name, value in pairs:
            f = t.get_field(name)
            assert f is not None
            if is_composite(f.type) and isinstance(value, ir.ListExpr | ir.StructInitExpr):
                values.append((name, f.type, value, None))
                continue
            src = self.ex(value)
            if is_composite(f.type):
                tmp = self.em.tmp("i")
                self.em.line(f"{tmp} = {src}.copy()")
                src = tmp
            elif not (src.isidentifier() or _is_literal(src)):
                tmp = self.em.tmp("i")
                self.em.line(f"{tmp} = {src}")
                src = tmp
            values.append((name, f.type, value, src))
        for name, ftype, value, computed in values:
            if computed is None:
                assert isinstance(value, ir.ListExpr | ir.StructInitExpr)
                self.store_initializer(f"{target}.f_{name}", strip_newtype(ftype), value)
            elif is_composite(ftype):
                self.em.line(f"{target}.f_{name}.assign({computed})")
            else:
                self.em.line(f"{target}.f_{name} = {computed}")
        if isinstance(t, HeaderT):
            self.em.line(f"{target}._v = True")

    def store(self, lhs: ir.Expr, value: str) -> None:
        """Write the Python value `value` to the P4 lvalue `lhs`."""
        if isinstance(lhs, ir.Slice):
            hi, lo = self.facts.consts[lhs.hi], self.facts.consts[lhs.lo]
            assert isinstance(hi, int) and isinstance(lo, int)
            base_bits = bits_of(lhs.expr.type)
            assert base_bits is not None
            mask = (1 << (hi - lo + 1)) - 1
            keep = base_bits.mask ^ (mask << lo)
            if isinstance(lhs.expr, ir.Slice):
                base_value = self.ex(lhs.expr)
                tmp = self.em.tmp("w")
                self.em.line(f"{tmp} = ({base_value} & {keep:#x}) | (({value} & {mask:#x})"
                             f" << {lo})")
                self.store(lhs.expr, tmp)
                return
            base = self.ex(lhs.expr)
            self.em.line(f"{base} = ({base} & {keep:#x}) | (({value} & {mask:#x}) << {lo})")
            return
        target = self.ex(lhs)
        if is_composite(lhs.type):
            self.em.line(f"{target}.assign({value})")
        else:
            self.em.line(f"{target} = {value}")

    # ---------------------------------------------------------------- calls

    def call_stmt(self, call: ir.Call) -> None:
        info = self.facts.calls[call]
        kind = info.kind
        if kind == "header_method":
            assert info.receiver is not None
            h = self.ex(info.receiver)
            if info.name == "setValid":
                self.em.line(f"{h}.setValid()")
                self.union_exclusive(info.receiver)
            elif info.name == "setInvalid":
                self.em.line(f"{h}._v = False")
        elif kind == "stack_method":
            assert info.receiver is not None and info.args[0] is not None
            self.em.line(f"{self.ex(info.receiver)}.{info.name}({self.ex(info.args[0])})")
        elif kind == "table_apply":
            self.table_result(call)
        elif kind == "block_apply":
            self.apply_block(call, info)
        elif kind == "action":
            assert info.target is not None
            decl: ir.ActionDecl = info.target.decl
            self.inline(decl.params, info.args, decl.body, None)
        elif kind == "function":
            self.call_value(call)
        elif kind != "size_method":  # a compile-time constant: nothing to run
            self.extern_call(call, info, want_value=False)

    def call_value(self, e: ir.Call) -> str:
        info = self.facts.calls[e]
        if info.kind == "header_method" and info.name == "isValid":
            assert info.receiver is not None
            return f"{self.ex(info.receiver)}._v"
        if info.kind == "function":
            assert info.target is not None
            fdecl: ir.FunctionDecl = info.target.decl
            result = self.em.tmp("r")
            self.em.line(f"{result} = {self.class_names.default_value(info.result, 0)}")
            self.inline(fdecl.params, info.args, fdecl.body, result)
            return result
        if info.kind in ("extern_function", "extern_method"):
            return self.extern_call(e, info, want_value=True)
        raise UnsupportedError(e.pos, f"{info.name}() used as a value")

    def extern_call(self, call: ir.Call, info: CallInfo, *, want_value: bool) -> str:
        raise NotImplementedError  # provided by externgen

    def inline(self, params: list[ir.Param], args: list[ir.Expr | None], body: ir.BlockStmt,
               result: str | None, preset: dict[Sym, str] | None = None) -> None:
        saved_env = dict(self.env)
        copyouts: list[tuple[ir.Expr, str]] = []
        for p, a in zip(params, args, strict=True):
            sym = self.checked.decl_syms[p]
            if preset is not None and sym in preset:
                self.env[sym] = preset[sym]
                continue
            t = sym.type
            assert t is not None
            direction = p.direction or "in"
            if a is None:
                tmp = self.em.tmp("p")
                self.em.line(f"{tmp} = {self.class_names.default_value(t, 0)}")
                self.env[sym] = tmp
            elif is_composite(t) and isinstance(a, ir.ListExpr | ir.StructInitExpr):
                tmp = self.em.tmp("p")
                self.em.line(f"{tmp} = {self.class_names.default_value(t, 0)}")
                self.store_initializer(tmp, strip_newtype(t), a)
                self.env[sym] = tmp
            elif is_composite(t) and self._aliased(a, body):
                # The body also reaches the argument another way: copy in and
                # out, as P4_16 6.7 says (gauntlet_indirect_hdr_assign).
                tmp = self.em.tmp("p")
                if direction == "out":
                    self.em.line(f"{tmp} = {self.class_names.default_value(t, 0)}")
                    self.em.line(f"{tmp}.invalidate()")
                else:
                    self.em.line(f"{tmp} = {self.ex(a)}.copy()")
                self.env[sym] = tmp
                if direction in ("out", "inout"):
                    copyouts.append((a, tmp))
            elif is_composite(t):
                obj = self.ex(a)
                if not obj.replace(".", "").replace("_", "").isalnum():
                    tmp = self.em.tmp("p")
                    self.em.line(f"{tmp} = {obj}")
                    obj = tmp
                if direction == "out":
                    self.em.line(f"{obj}.invalidate()")
                self.env[sym] = obj
            elif direction == "in" and a in self.facts.consts:
                self.env[sym] = literal(self.facts.consts[a])
            else:
                tmp = self.em.tmp("p")
                self.em.line(f"{tmp} = {self.ex(a) if direction != 'out' else '0'}")
                self.env[sym] = tmp
                if direction in ("out", "inout"):
                    copyouts.append((a, tmp))
        self.enter(body.pos)  # the body's nesting adds to the caller's
        saved_loops, self.loop_returns = self.loop_returns, []
        loop = _has_early_return(body.stmts)
        self.ret_stack.append(("loop" if loop else "tail", result))
        guarded = bool(copyouts) and _contains(body.stmts, ir.ExitStmt)
        if guarded:
            self.em.line("try:")
            self.em.deeper()
        if loop:
            with self.em.block("for _ in ONCE:"):
                self.stmts(body.stmts)
        else:
            self.stmts(body.stmts)
            self.em.line("pass")
        if guarded:
            self.em.indent -= 1
            self.em.line("finally:")
            self.em.deeper()
        for lhs, tmp in copyouts:
            self.store(lhs, tmp)
        if guarded:
            self.em.line("pass")
            self.em.indent -= 1
        self.ret_stack.pop()
        self.loop_returns = saved_loops
        self.env = saved_env
        self.depth -= 1

    def _aliased(self, arg: ir.Expr, body: ir.BlockStmt) -> bool:
        """Whether `body` (or an action or function it calls) names the
        variable `arg` is part of, so passing `arg` by reference could show
        the body's writes through the parameter, or the reverse."""
        root = arg
        while isinstance(root, ir.Member | ir.Index | ir.Slice):
            root = root.expr
        sym = self.facts.refs.get(root) if isinstance(root, ir.NameRef) else None
        if sym is None:
            return True
        return sym in self._names_used(body)

    def _names_used(self, body: ir.BlockStmt) -> frozenset[Sym]:
        """Every symbol a NameRef in `body` resolves to, through the bodies of
        the actions and functions it calls (iterative: bodies can be deep)."""
        cached = self.names_used.get(body)
        if cached is not None:
            return cached
        used: set[Sym] = set()
        seen: set[int] = set()
        stack: list[object] = [body]
        while stack:
            node = stack.pop()
            if isinstance(node, list | tuple):
                stack.extend(node)
                continue
            if not isinstance(node, ir.Node) or id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, ir.NameRef):
                ref = self.facts.refs.get(node)
                if ref is not None:
                    used.add(ref)
            if isinstance(node, ir.Call):
                info = self.facts.calls.get(node)
                if info is not None and info.kind in ("action", "function") and \
                        info.target is not None:
                    stack.append(info.target.decl.body)
            stack.extend(getattr(node, f.name) for f in dataclasses.fields(node))
        result = frozenset(used)
        self.names_used[body] = result
        return result

    def apply_block(self, call: ir.Call, info: CallInfo) -> None:
        assert isinstance(info.receiver, ir.NameRef)
        sym = self.facts.refs[info.receiver]
        child = self.block.children.get(sym)
        if child is None:
            raise UnsupportedError(call.pos, "applying this instance here")
        is_parser = isinstance(child.decl, ir.ParserDecl)
        if is_parser and not self.in_parser:
            raise TypeCheckError(call.pos, "a parser can only be applied from a parser")
        args = []
        copyouts = []
        # The instance's own parameters: `info.params` may be those of the
        # parser/control type a constructor parameter declares.
        for p, a in zip(child.decl.params, info.args, strict=True):
            t = self.checked.decl_syms[p].type
            assert t is not None
            if a is None:
                args.append(self.class_names.default_value(t, 0))
            elif is_composite(t):
                obj = self.ex(a)
                if p.direction == "out":
                    self.em.line(f"{obj}.invalidate()")
                args.append(obj)
            else:
                args.append(self.ex(a) if p.direction != "out" else "0")
                if p.direction in ("out", "inout"):
                    copyouts.append(a)
        text = f"{child.py}(ctx, {', '.join(args)})"
        if is_parser:
            # The sub-parser reads the shared cursor; its error ends this parser
            # too. Scalar outs are copied out even when it rejects, as bmv2
            # shows the writes of p4c's inlined sub-parser.
            err = self.em.tmp("perr")
            outs = [self.em.tmp("o") for _ in copyouts]
            self.em.line("pkt.off = off")
            self.em.line(f"{''.join(x + ', ' for x in [err, *outs])}= {text}" if outs
                         else f"{err} = {text}")
            self.em.line("off = pkt.off")
            for lhs, tmp in zip(copyouts, outs, strict=True):
                self.store(lhs, tmp)
            with self.em.block(f"if {err}:"):
                self.em.line(f"raise ParserReject({err})")
            return
        if copyouts:
            outs = [self.em.tmp("o") for _ in copyouts]
            self.em.line(f"{', '.join(outs)}, = {text}")
            for lhs, tmp in zip(copyouts, outs, strict=True):
                self.store(lhs, tmp)
        else:
            self.em.line(text)

    # --------------------------------------------------------------- tables

    def table_result(self, call: ir.Call) -> tuple[str, str]:
        """Apply the table once; the names of its hit flag and action name."""
        if call in self.applied:
            return self.applied[call]
        info = self.facts.calls[call]
        assert info.target is not None
        tsym = info.target
        decl: ir.TableDecl = tsym.decl
        facts = self.checked.tables[decl]
        table = self.names[tsym]
        em = self.em
        keys = []
        for k in decl.keys:
            if k.match_kind == "selector":  # read only when a group is hit
                continue
            v = self.ex(k.expr)
            keys.append(f"int({v})" if _is_bool(k.expr.type) else v)
        entry = em.tmp("e")
        hit = em.tmp("hit")
        action = em.tmp("act")
        args = em.tmp("args")
        if len(keys) == 1:
            em.line(f"{entry} = {table}.lookup_one({keys[0]})")
        else:
            em.line(f"{entry} = {table}.lookup(({''.join(k + ', ' for k in keys)}))")
        with em.block(f"if {entry} is None:"):
            em.line(f"{entry} = {table}.default")
            em.line(f"{hit} = False")
        with em.block("else:"):
            em.line(f"{hit} = True")
            if facts.direct_counter is not None:
                em.line(f"{entry}.packets += 1")
                em.line(f"{entry}.bytes += ctx.length")
            if facts.support_timeout:
                em.line(f"{entry}.last_hit_ns = ctx.now_ns")
        em.line(f"{action}, {args} = {entry}.action_name, {entry}.action_args")
        if facts.implementation is not None:
            self._resolve_indirect(decl, facts, table, action, args)
        saved_entry, saved_meter = self.entry_var, self.direct_meter_sym
        self.entry_var, self.direct_meter_sym = entry, facts.direct_meter
        first = True
        for binding in facts.actions:
            name = self.block.action_name(binding.sym)
            with em.block(f"{'if' if first else 'elif'} {action} == {name!r}:"):
                self._run_bound_action(binding, args)
            first = False
        self.entry_var, self.direct_meter_sym = saved_entry, saved_meter
        self.applied[call] = (hit, action)
        return hit, action

    def _resolve_indirect(self, decl: ir.TableDecl, facts: TableFacts, table: str,
                          action: str, args: str) -> None:
        """An indirect entry names a member or group: replace it by the
        member's action (for a group, the member the selector keys' hash
        picks, as `ActionProfile.pick` describes)."""
        impl = facts.implementation
        assert impl is not None
        em = self.em
        with em.block(f"if {action} == {MEMBER!r}:"):
            em.line(f"{action}, {args} = {table}.profile.member_action({args}[0])")
        if not impl.with_selector:
            return
        with em.block(f"elif {action} == {GROUP!r}:"):
            fields = []
            for k, t in zip(decl.keys, facts.key_types, strict=True):
                if k.match_kind == "selector":
                    v = self.ex(k.expr)
                    fields.append((f"int({v})" if _is_bool(k.expr.type) else v,
                                   width_of(strip_newtype(t))))
            total = sum(w for _, w in fields)
            shift = total + (-total % 8)
            terms = []
            for value, width in fields:
                shift -= width
                terms.append(f"({value} << {shift})" if shift else value)
            nbytes = (total + 7) // 8
            data = f"({' | '.join(terms)}).to_bytes({nbytes}, 'big')" if terms else "b''"
            em.line(f"{action}, {args} = {table}.profile.pick("
                    f"{args}[0], HASH[{impl.algorithm!r}]({data}))")

    def _run_bound_action(self, binding: ActionBinding, args: str) -> None:
        decl: ir.ActionDecl = binding.sym.decl
        preset: dict[Sym, str] = {}
        cp = [p for p in decl.params if p.direction is None]
        if cp:
            names = [self.em.tmp("a") for _ in cp]
            self.em.line(f"{', '.join(names)}, = {args}")
            for p, n in zip(cp, names, strict=True):
                preset[self.checked.decl_syms[p]] = n
        self.inline(decl.params, binding.args, decl.body, None, preset)


def _is_bool(t: Type) -> bool:
    return isinstance(strip_newtype(t), BoolT)


def _is_literal(src: str) -> bool:
    return src in ("True", "False") or (src.lstrip("-").replace("x", "").isalnum() and \
        src.lstrip("-")[:1].isdigit())


def _has_early_return(stmts: list[ir.Stmt]) -> bool:
    if not stmts:
        return False
    if _contains(stmts[:-1], ir.ReturnStmt):
        return True
    last = stmts[-1]
    if isinstance(last, ir.ReturnStmt):
        return False
    return _contains([last], ir.ReturnStmt)


__all__ = ["StmtGen"]
