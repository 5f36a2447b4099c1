"""Code for extern calls: `packet_in`/`packet_out` (core.p4) and the v1model
externs, with bmv2 simple_switch's behaviour.

Everything architecture-specific that the generated code does inline lives
here; what happens at the end of a pipeline (clone, resubmit, recirculate,
digests, multicast) is in `p4sim/runtime/v1model.py`, which reads the flags
these calls set on the per-packet context `ctx`.
"""

from __future__ import annotations

from p4sim.errors import TypeCheckError, UnsupportedError
from p4sim.frontend import ir
from p4sim.passes.classgen import is_composite, leaves
from p4sim.passes.stmtgen import StmtGen
from p4sim.passes.typecheck import CallInfo
from p4sim.runtime.algorithms import HASH_ALGORITHMS
from p4sim.runtime.types import (
    BitT,
    BoolT,
    EnumT,
    HeaderT,
    StackT,
    StructLikeT,
    StructT,
    VarbitT,
    strip_newtype,
    width_of,
)

DROP_PORT = 511


class ExternGen(StmtGen):
    # Filled by the module generator: field lists from clone3/resubmit/recirculate
    # data arguments get ids after the @field_list ones.
    field_lists: dict[int, list[tuple[int, tuple[str, ...]]]]
    digests: dict[str, StructT]
    in_parser: bool

    def extern_call(self, call: ir.Call, info: CallInfo, *, want_value: bool) -> str:
        if info.kind == "extern_method":
            assert info.extern is not None and info.receiver is not None
            method = getattr(self, f"_m_{info.extern}_{info.name}", None)
            if method is None:
                raise UnsupportedError(call.pos, f"{info.extern}.{info.name}")
        else:
            method = getattr(self, f"_f_{info.name}", None)
            if method is None:
                raise UnsupportedError(call.pos, f"extern function {info.name}")
        result: str = method(call, info)
        return result

    # ---------------------------------------------------------------- helpers

    def _arg(self, info: CallInfo, i: int) -> str:
        a = info.args[i]
        assert a is not None
        return self.ex(a)

    def _enum_name(self, info: CallInfo, i: int, call: ir.Call) -> str:
        a = info.args[i]
        assert a is not None
        value = self.facts.consts.get(a)
        t = a.type
        if not isinstance(t, EnumT) or value is None:
            raise UnsupportedError(call.pos, f"non-constant {info.params[i].name}")
        for name, v in t.members.items():
            if v == value:
                return name
        raise TypeCheckError(a.pos, "unknown enum value")

    def flatten(self, e: ir.Expr) -> list[tuple[str, int | str]]:
        """The (value source, width) list of a field-list argument such as
        `{hdr.ipv4.srcAddr, hdr.ipv4.dstAddr}` or a header or struct. A
        varbit's width is only known at run time: source, not a number."""
        if isinstance(e, ir.ListExpr):
            out: list[tuple[str, int | str]] = []
            for x in e.elements:
                out.extend(self.flatten(x))
            return out
        if isinstance(e, ir.StructInitExpr):
            out = []
            for _, x in e.fields:
                out.extend(self.flatten(x))
            return out
        t = strip_newtype(e.type)
        if isinstance(t, StructLikeT):
            return self._flatten_obj(self.ex(e), t)
        if isinstance(t, BoolT):
            return [(f"int({self.ex(e)})", 1)]
        if isinstance(t, VarbitT):
            v = self.em.tmp("vb")
            self.em.line(f"{v} = {self.ex(e)}")
            return [(f"{v}[1]", f"{v}[0]")]
        return [(self.ex(e), width_of(t))]

    def _flatten_obj(self, obj: str, t: StructLikeT) -> list[tuple[str, int | str]]:
        out: list[tuple[str, int | str]] = []
        for f in t.fields:
            ft = strip_newtype(f.type)
            if isinstance(ft, StructLikeT):
                out.extend(self._flatten_obj(f"{obj}.f_{f.name}", ft))
            elif isinstance(ft, StackT):
                raise UnsupportedError(None, "header stack in a field list")
            elif isinstance(ft, BoolT):
                out.append((f"int({obj}.f_{f.name})", 1))
            elif isinstance(ft, VarbitT):
                out.append((f"{obj}.f_{f.name}[1]", f"{obj}.f_{f.name}[0]"))
            else:
                out.append((f"{obj}.f_{f.name}", width_of(ft)))
        return out

    def _packed(self, e: ir.Expr) -> str:
        """Bytes of a field list as bmv2 packs hash inputs: fields back to
        back, zero-padded at the end to whole bytes (`pack_fields`), inlined."""
        value, nbytes = self._packed_int(e)
        return f"{value}.to_bytes({nbytes}, 'big')" if nbytes else "b''"

    def _packed_int(self, e: ir.Expr) -> tuple[str, int | str]:
        """The bytes `_packed` makes, as one integer and its length in bytes."""
        fields = self.flatten(e)
        if not fields:
            return "0", 0
        if any(isinstance(w, str) for _, w in fields):
            # A varbit: concatenate at run time.
            acc, bits = self.em.tmp("acc"), self.em.tmp("bits")
            self.em.line(f"{acc} = 0")
            self.em.line(f"{bits} = 0")
            for value, width in fields:
                self.em.line(f"{acc} = ({acc} << {width}) | {value}")
                self.em.line(f"{bits} += {width}")
            return f"({acc} << (-{bits} % 8))", f"(({bits} + 7) >> 3)"
        total = sum(w for _, w in fields if isinstance(w, int))
        pad = -total % 8
        shift = total + pad
        terms = []
        for value, width in fields:
            assert isinstance(width, int)
            shift -= width
            terms.append(f"({value} << {shift})" if shift else value)
        return f"({' | '.join(terms)})", (total + pad) // 8

    def _lvalue_paths(self, e: ir.Expr, call: ir.Call) -> list[tuple[int, tuple[str, ...]]]:
        """Metadata paths named by an old-style field list (`clone3(..., {meta.a})`):
        root 0 is the user metadata parameter, 1 is standard_metadata."""
        items = e.elements if isinstance(e, ir.ListExpr) else [e]
        paths = []
        for item in items:
            names: list[str] = []
            cur = item
            while isinstance(cur, ir.Member) and self.facts.members.get(cur) == "field":
                names.append(cur.member)
                cur = cur.expr
            if not isinstance(cur, ir.NameRef):
                raise UnsupportedError(item.pos, "field list entry that is not "
                                       "a metadata field")
            sym = self.facts.refs[cur]
            root = self.metadata_roots.get(sym)
            if root is None:
                raise UnsupportedError(item.pos, "field list entry outside the "
                                       "metadata and standard_metadata parameters")
            paths.append((root, tuple(reversed(names))))
        return paths

    metadata_roots: dict[object, int]

    def _field_list_arg(self, call: ir.Call, info: CallInfo, i: int) -> str:
        a = info.args[i]
        assert a is not None
        index = self.facts.consts.get(a)
        if isinstance(index, int) and not isinstance(index, bool) and isinstance(
                a.type, BitT):
            return f"{index}"
        paths = self._lvalue_paths(a, call)
        new_id = 1000 + len(self.field_lists)
        self.field_lists[new_id] = paths
        return str(new_id)

    # ----------------------------------------------------------- packet_in

    def _m_packet_in_extract(self, call: ir.Call, info: CallInfo) -> str:
        target = info.args[0]
        if target is None:
            # `extract<T>(_)`: the header is read into a temporary and dropped.
            tt = next(iter(info.bindings.values()), None) if info.bindings else None
            if tt is None or not isinstance(strip_newtype(tt), HeaderT):
                raise UnsupportedError(call.pos, "extract into _ without a header type")
            t = strip_newtype(tt)
            assert isinstance(t, HeaderT)
            h = self.em.tmp("h")
            self.em.line(f"{h} = {self.class_names(t)}()")
            dest = h
        else:
            t = strip_newtype(target.type)
            if not isinstance(t, HeaderT):
                raise UnsupportedError(call.pos, f"extract into {t}")
            dest = ""
        nbytes = t.width // 8
        sized = len(info.args) > 1 and info.args[1] is not None
        if sized != (t.varbit is not None):
            raise TypeCheckError(call.pos, "extract with a size needs a header with a varbit"
                                 " field, and such a header needs the size"
                                 if sized else f"header {t.name} has a varbit field: "
                                 "extract it with a size in bits")
        union_next = None  # `extract(hs.next.m)` on a stack of header_unions
        if target is not None and isinstance(target, ir.Member) and \
                self.facts.members.get(target) == "next":
            stack = self.ex(target.expr)
            dest = self.em.tmp("h")
            self.em.line(f"{dest} = {stack}.nxt()")
        elif isinstance(target, ir.Member) and isinstance(target.expr, ir.Member) and \
                self.facts.members.get(target.expr) == "next":
            stack = self.ex(target.expr.expr)
            union_next = self.em.tmp("u")
            self.em.line(f"{union_next} = {stack}.nxt()")
            dest = f"{union_next}.f_{target.member}"
        elif target is not None:
            dest = self.ex(target)
        if sized:
            vb = t.varbit
            assert vb is not None and isinstance(vb.type, VarbitT)
            n = self.em.tmp("n")
            self.em.line(f"{n} = {self._arg(info, 1)}")
            # bmv2's extract_VL: a length that is not whole bytes, then one
            # beyond the field's maximum, then too few bytes left.
            with self.em.block(f"if {n} & 7:"):
                self.em.line(f"raise ParserReject({self.error_code('ParserInvalidArgument')})")
            with self.em.block(f"if {n} > {vb.type.max_width}:"):
                self.em.line(f"raise ParserReject({self.error_code('HeaderTooShort')})")
            with self.em.block(f"if off + (({t.width} + {n}) >> 3) > len(data):"):
                self.em.line(f"raise ParserReject({self.error_code('PacketTooShort')})")
            self.em.line(f"{dest}.extv(data, off, {n})")
        else:
            self.em.line(f"{dest}.ext(data, off)")
        if target is not None and isinstance(target, ir.Member) and \
                self.facts.members.get(target) == "next":
            self.em.line(f"{self.ex(target.expr)}.nxt_i += 1")
        elif union_next is not None:
            assert isinstance(target, ir.Member) and isinstance(target.expr, ir.Member)
            self.em.line(f"{union_next}.only({target.member!r})")
            self.em.line(f"{self.ex(target.expr.expr)}.nxt_i += 1")
        elif target is not None:
            self.union_exclusive(target)
        self.em.line(f"off += {f'({t.width} + {n}) >> 3' if sized else nbytes}")
        return "None"

    def _m_packet_in_lookahead(self, call: ir.Call, info: CallInfo) -> str:
        t = strip_newtype(info.result)
        too_short = self.error_code("PacketTooShort")
        if isinstance(t, BitT):
            return f"lookahead(data, off, {t.width}, {too_short})"
        if isinstance(t, EnumT) and t.underlying is not None:
            return f"lookahead(data, off, {t.underlying.width}, {too_short})"
        if isinstance(t, BoolT):
            return f"bool(lookahead(data, off, 1, {too_short}))"
        if isinstance(t, HeaderT):
            h = self.em.tmp("la")
            self.em.line(f"{h} = {self.class_names(t)}()")
            self.em.line(f"{h}.ext(data, off)")
            return h
        fields = leaves(t) if isinstance(t, StructT) else []
        if fields and all(isinstance(strip_newtype(ft), BitT | BoolT | EnumT)
                          for _, ft in fields):
            # The struct's fields in order, as a header would lay them out.
            assert isinstance(t, StructT)
            width = width_of(t)
            bits, obj = self.em.tmp("la"), self.em.tmp("la")
            self.em.line(f"{bits} = lookahead(data, off, {width}, {too_short})")
            self.em.line(f"{obj} = {self.class_names(t)}()")
            for path, ft in leaves(t, obj):
                w = width_of(ft)
                width -= w
                value = f"{bits} >> {width} & {(1 << w) - 1:#x}"
                is_bool = isinstance(strip_newtype(ft), BoolT)
                self.em.line(f"{path} = {f'bool({value})' if is_bool else value}")
            return obj
        raise UnsupportedError(call.pos, f"lookahead of {t}")

    def _m_packet_in_advance(self, call: ir.Call, info: CallInfo) -> str:
        bits = self._arg(info, 0)
        with self.em.block(f"if off + ({bits} >> 3) > len(data):"):
            self.em.line(f"raise ParserReject({self.error_code('PacketTooShort')})")
        self.em.line(f"off += {bits} >> 3")
        return "None"

    def _m_packet_in_length(self, call: ir.Call, info: CallInfo) -> str:
        return "len(data)"

    def _m_packet_out_emit(self, call: ir.Call, info: CallInfo) -> str:
        a = info.args[0]
        assert a is not None
        if not is_composite(a.type):
            raise UnsupportedError(call.pos, "emit of a non-header value")
        self.em.line(f"{self.ex(a)}.emit(parts)")
        return "None"

    # ---------------------------------------------------------------- core

    def _f_verify(self, call: ir.Call, info: CallInfo) -> str:
        if not self.in_parser:
            raise TypeCheckError(call.pos, "verify() can only be called in a parser")
        with self.em.block(f"if not {self._arg(info, 0)}:"):
            self.em.line(f"raise ParserReject({self._arg(info, 1)})")
        return "None"

    # ------------------------------------------------------------- v1model

    def _f_mark_to_drop(self, call: ir.Call, info: CallInfo) -> str:
        # bmv2's mark_to_drop sets egress_spec to the drop port and clears mcast_grp.
        sm = self._arg(info, 0) if info.args else self.standard_metadata()
        self.em.line(f"{sm}.f_egress_spec = {DROP_PORT}")
        self.em.line(f"{sm}.f_mcast_grp = 0")
        return "None"

    def standard_metadata(self) -> str:
        raise NotImplementedError

    def _algorithm(self, info: CallInfo, i: int, call: ir.Call) -> str:
        algo = self._enum_name(info, i, call)
        if algo not in HASH_ALGORITHMS:
            raise UnsupportedError(call.pos, f"hash algorithm {algo}")
        return algo

    def _f_hash(self, call: ir.Call, info: CallInfo) -> str:
        algo = self._algorithm(info, 1, call)
        out = info.args[0]
        assert out is not None and info.args[3] is not None
        out_bits = strip_newtype(out.type)
        assert isinstance(out_bits, BitT)
        base, data, size = self._arg(info, 2), self._packed(info.args[3]), self._arg(info, 4)
        h = self.em.tmp("hash")
        self.em.line(f"{h} = HASH[{algo!r}]({data})")
        # bmv2: result = base + (hash % max); a max of 0 leaves the hash unreduced.
        self.store(out, f"(({base} + ({h} % {size} if {size} else {h})) & {out_bits.mask:#x})")
        return "None"

    def _checksum_value(self, call: ir.Call, info: CallInfo, payload: bool) -> str:
        algo = self._algorithm(info, 3, call)
        a = info.args[1]
        assert a is not None
        if algo == "csum16":  # the usual IPv4/TCP/UDP checksum: no bytes needed
            value, nbytes = self._packed_int(a)
            if not payload:
                return f"csum16_int({value}, {nbytes})"
            return (f"csum16_int(({value} << (8 * len(ctx.payload))) | "
                    f"int.from_bytes(ctx.payload, 'big'), {nbytes} + len(ctx.payload))")
        data = self._packed(a)
        if payload:
            data = f"{data} + ctx.payload"
        return f"HASH[{algo!r}]({data})"

    def _verify_checksum(self, call: ir.Call, info: CallInfo, payload: bool) -> str:
        value = self._checksum_value(call, info, payload)
        with self.em.block(f"if {self._arg(info, 0)} and {value} != {self._arg(info, 2)}:"):
            self.em.line("ctx.checksum_error = 1")
        return "None"

    def _update_checksum(self, call: ir.Call, info: CallInfo, payload: bool) -> str:
        target = info.args[2]
        assert target is not None
        bits = strip_newtype(target.type)
        assert isinstance(bits, BitT)
        with self.em.block(f"if {self._arg(info, 0)}:"):
            self.store(target, f"({self._checksum_value(call, info, payload)} & "
                               f"{bits.mask:#x})")
        return "None"

    def _f_verify_checksum(self, call: ir.Call, info: CallInfo) -> str:
        return self._verify_checksum(call, info, False)

    def _f_verify_checksum_with_payload(self, call: ir.Call, info: CallInfo) -> str:
        return self._verify_checksum(call, info, True)

    def _f_update_checksum(self, call: ir.Call, info: CallInfo) -> str:
        return self._update_checksum(call, info, False)

    def _f_update_checksum_with_payload(self, call: ir.Call, info: CallInfo) -> str:
        return self._update_checksum(call, info, True)

    def _f_random(self, call: ir.Call, info: CallInfo) -> str:
        out = info.args[0]
        assert out is not None
        lo, hi = self._arg(info, 1), self._arg(info, 2)
        self.store(out, f"ctx.random({lo}, {hi})")
        return "None"

    def _f_digest(self, call: ir.Call, info: CallInfo) -> str:
        data = info.args[1]
        assert data is not None
        t = strip_newtype(data.type)
        if not isinstance(t, StructT):
            raise UnsupportedError(call.pos, "digest of a non-struct type")
        self.digests[t.name] = t
        # The values are taken when digest() runs (p4c copies the argument in).
        if isinstance(data, ir.ListExpr | ir.StructInitExpr):
            items = data.elements if isinstance(data, ir.ListExpr) else [
                x for _, x in data.fields]
            values = []
            for x in items:
                if isinstance(strip_newtype(x.type), VarbitT):
                    values.append(self.ex(x))  # (length, value), kept whole
                else:
                    values.extend(v for v, _ in self.flatten(x))
        else:
            obj = self.ex(data)
            values = [f"{obj}.f_{f.name}" for f in t.fields]
        self.em.line(f"ctx.digests.append(({t.name!r}, ({''.join(v + ', ' for v in values)})))")
        return "None"

    def _f_clone(self, call: ir.Call, info: CallInfo) -> str:
        self.em.line(f"ctx.clone = ({self._arg(info, 1)}, 0)")
        return "None"

    def _f_clone3(self, call: ir.Call, info: CallInfo) -> str:
        self.em.line(f"ctx.clone = ({self._arg(info, 1)}, "
                     f"{self._field_list_arg(call, info, 2)})")
        return "None"

    _f_clone_preserving_field_list = _f_clone3

    def _f_resubmit(self, call: ir.Call, info: CallInfo) -> str:
        fl = self._field_list_arg(call, info, 0) if info.args else "0"
        self.em.line(f"ctx.resubmit = ({fl},)")
        return "None"

    _f_resubmit_preserving_field_list = _f_resubmit

    def _f_recirculate(self, call: ir.Call, info: CallInfo) -> str:
        fl = self._field_list_arg(call, info, 0) if info.args else "0"
        self.em.line(f"ctx.recirculate = ({fl},)")
        return "None"

    _f_recirculate_preserving_field_list = _f_recirculate

    def _f_truncate(self, call: ir.Call, info: CallInfo) -> str:
        self.em.line(f"ctx.truncate = {self._arg(info, 0)}")
        return "None"

    def _f_log_msg(self, call: ir.Call, info: CallInfo) -> str:
        values = ""
        if len(info.args) > 1 and info.args[1] is not None:
            values = "".join(v + ", " for v, _ in self.flatten(info.args[1]))
        self.em.line(f"ctx.log_msg({self._arg(info, 0)}, ({values}))")
        return "None"

    def _f_assert(self, call: ir.Call, info: CallInfo) -> str:
        with self.em.block(f"if not {self._arg(info, 0)}:"):
            self.em.line(f"raise AssertFailed({str(call.pos)!r})")
        return "None"

    _f_assume = _f_assert

    # ------------------------------------------------------- extern objects

    def _obj(self, info: CallInfo, call: ir.Call) -> str:
        receiver = info.receiver
        if isinstance(receiver, ir.NameRef):
            sym = self.facts.refs.get(receiver)
            if sym is not None and sym in self.names:
                return self.names[sym]
        raise UnsupportedError(call.pos, "extern object used this way")

    def _m_counter_count(self, call: ir.Call, info: CallInfo) -> str:
        self.em.line(f"{self._obj(info, call)}.count({self._arg(info, 0)}, ctx.length)")
        return "None"

    def _m_direct_counter_count(self, call: ir.Call, info: CallInfo) -> str:
        return "None"  # bmv2 counts every hit of the table that owns the counter

    def _m_register_read(self, call: ir.Call, info: CallInfo) -> str:
        out = info.args[0]
        assert out is not None
        self.store(out, f"{self._obj(info, call)}.load({self._arg(info, 1)})")
        return "None"

    def _m_register_write(self, call: ir.Call, info: CallInfo) -> str:
        self.em.line(f"{self._obj(info, call)}.store({self._arg(info, 0)}, "
                     f"{self._arg(info, 1)})")
        return "None"

    def _m_meter_execute_meter(self, call: ir.Call, info: CallInfo) -> str:
        out = info.args[1]
        assert out is not None
        self.store(out, f"{self._obj(info, call)}.execute({self._arg(info, 0)}, ctx.now_ns, "
                        "ctx.length)")
        return "None"

    def _m_direct_meter_read(self, call: ir.Call, info: CallInfo) -> str:
        out = info.args[0]
        assert out is not None
        receiver = info.receiver
        sym = self.facts.refs.get(receiver) if isinstance(receiver, ir.NameRef) else None
        if self.entry_var is None or sym is not self.direct_meter_sym:
            # Not in an action run by the table that owns this meter: GREEN.
            self.store(out, "0")
            return "None"
        meter = self.em.tmp("m")
        self.em.line(f"{meter} = {self.entry_var}.meter")
        self.store(out, f"({meter}.execute(ctx.now_ns, ctx.length) if {meter} is not None else 0)")
        return "None"
