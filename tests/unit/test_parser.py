"""The P4_16 parser: source to ir.Program, with positions, types and errors.

PROGRAM uses every construct of the issue-2 subset once; the tests check the
IR it becomes (node kinds, values, positions) and what users see on errors.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p4sim.errors import P4SimError, ParseError, SourcePos, UnsupportedError
from p4sim.frontend import ir, parse_program, parse_source
from p4sim.frontend.preprocess import BUILTIN_INCLUDE_DIR

PROGRAM = r"""#include <core.p4>
#define V1MODEL_VERSION 20200408
#include <v1model.p4>

typedef bit<48> mac_t;
type bit<32> ip4_t;
const bit<16> ETH_IPV4 = 16w0x0800;
const int<8> NEG = -8s5;
const bit<32> BIG = 1_000_000;

enum Color { RED, GREEN }
enum bit<8> Proto { TCP = 6, UDP = 17, }
error { BadVersion, BadChecksum }
match_kind { custom_kind }

header ethernet_t { mac_t dst; mac_t src; bit<16> ether_type; }
header vlan_t { bit<3> pcp; bit<1> cfi; bit<12> vid; bit<16> ether_type; }
header ipv4_t {
    bit<4> version; bit<4> ihl; bit<8> diffserv; bit<16> total_len;
    bit<16> identification; bit<3> flags; bit<13> frag_offset;
    bit<8> ttl; bit<8> protocol; bit<16> checksum; ip4_t src; ip4_t dst;
}
header opts_t { varbit<320> data; }
header tcp_t { bit<16> sport; bit<16> dport; }
header udp_t { bit<16> sport; bit<16> dport; }
header_union l4_t { tcp_t tcp; udp_t udp; }

@controller_header("packet_in")
header packet_in_t { bit<9> ingress_port; bit<7> pad; }

struct headers_t {
    packet_in_t packet_in;
    ethernet_t ethernet;
    vlan_t[2] vlans;
    ipv4_t ipv4;
    l4_t l4;
}

struct meta_t {
    @field_list(1) bit<32> flow_id;
    bit<16> l4_sport;
    Color color;
    bool seen;
    tuple<bit<8>, bit<16>> pair;
}

extern Checker<T> {
    Checker(bit<32> size);
    T check<U>(in U data);
    abstract bool pick(in T v);
}
extern bit<16> fold<T>(in T data);

bit<16> add_sat(in bit<16> a, in bit<16> b) {
    return a |+| b;
}

parser MyParser(packet_in pkt, out headers_t hdr, inout meta_t meta,
                inout standard_metadata_t std) {
    value_set<bit<16>>(4) custom_types;
    bit<8> scratch = 0;
    state start {
        transition select(std.ingress_port) {
            9w64: parse_cpu;
            default: parse_ethernet;
        }
    }
    state parse_cpu {
        pkt.extract(hdr.packet_in);
        transition parse_ethernet;
    }
    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            0x8100 &&& 0xEFFF: parse_vlan;
            ETH_IPV4: parse_ipv4;
            custom_types: accept;
            0x0000 .. 0x05FF: accept;
            _: reject;
        }
    }
    state parse_vlan {
        pkt.extract(hdr.vlans.next);
        transition select(hdr.vlans.last.ether_type) {
            0x8100: parse_vlan;
            default: parse_ipv4;
        }
    }
    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        verify(hdr.ipv4.version == 4w4, error.BadVersion);
        bit<4> v = pkt.lookahead<bit<4>>();
        pkt.advance(32w0);
        transition select(hdr.ipv4.protocol, hdr.ipv4.frag_offset) {
            (6, 0): parse_tcp;
            (17, _): parse_udp;
            (default, 13w0 &&& 13w0): accept;
        }
    }
    state parse_tcp { pkt.extract(hdr.l4.tcp); transition accept; }
    state parse_udp { pkt.extract(hdr.l4.udp); transition accept; }
}

control MyVerify(inout headers_t hdr, inout meta_t meta) {
    apply {
        verify_checksum(hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.src, hdr.ipv4.dst },
            hdr.ipv4.checksum, HashAlgorithm.csum16);
    }
}

control MyIngress(inout headers_t hdr, inout meta_t meta,
                  inout standard_metadata_t std) {
    counter<bit<32>>(1024, CounterType.packets_and_bytes) port_counter;
    direct_counter(CounterType.packets) fwd_counter;
    register<bit<32>, bit<32>>(1024) flow_reg;
    meter<bit<32>>(64, MeterType.bytes) m;
    bit<32> tmp;
    const bit<8> LIMIT = 8w255;

    action drop() { mark_to_drop(std); }
    action set_port(PortId_t port, in bit<8> unused) {
        std.egress_spec = port;
    }
    @name("ingress.encap")
    action encap_to_backend(bit<32> flow, ip4_t fwd, ip4_t backend) {
        hdr.ipv4.src = fwd;
        hdr.ipv4.dst = backend;
        hdr.l4.tcp.sport = flow[31:16];
        hdr.l4.tcp.dport = flow[15:0];
        meta.flow_id = flow;
        fwd_counter.count();
    }
    table forward {
        key = {
            std.ingress_port: exact @name("port");
            hdr.ipv4.dst: lpm;
            hdr.ipv4.protocol: ternary;
            meta.l4_sport: range;
            hdr.vlans[0].vid: optional;
        }
        actions = {
            set_port;
            drop;
            @defaultonly NoAction;
        }
        default_action = drop();
        size = 1024;
        counters = fwd_counter;
        support_timeout = true;
        @name("impl") implementation = action_selector(HashAlgorithm.crc16, 32w64, 32w14);
    }
    table encap_map {
        key = { hdr.ipv4.src: exact; hdr.ipv4.dst: exact; }
        actions = { encap_to_backend; .NoAction; }
        const default_action = NoAction;
        const entries = {
            (0x0a00010a, 0x0a000064) : encap_to_backend(1, 0x0a000001, 0x0a00020b);
            priority = 10: (_, 0x0a000065 &&& 0xffffffff) : NoAction();
        }
        largest_priority_wins = false;
    }
    apply {
        if (hdr.packet_in.isValid()) {
            hdr.packet_in.setInvalid();
        } else if (!hdr.ethernet.isValid()) {
            exit;
        }
        switch (forward.apply().action_run) {
            set_port:
            drop: { port_counter.count((bit<32>) std.ingress_port); }
            default: {}
        }
        if (encap_map.apply().hit) {
            return;
        } else if (encap_map.apply().miss) { tmp = 0; }
        flow_reg.read(tmp, 32w0);
        flow_reg.write(0, tmp + 1);
        m.execute_meter<bit<2>>(0, meta.color_bits);
        hash(meta.flow_id, HashAlgorithm.crc32, 32w0,
             { hdr.ipv4.src, hdr.ipv4.dst }, 32w65536);
        tmp = (bit<32>) hdr.ipv4.ttl ++ 8w0 ++ 16w0x1F;
        tmp = tmp >> 2 << 1;
        tmp = hdr.ipv4.ttl > 8w2 ? tmp |-| 1 : -tmp;
        meta.seen = tmp < 5 && !(tmp >= 7) || tmp != 3 && tmp <= 10;
        tmp = tmp * 3 / 2 % 7 & 0xff | 0x100 ^ ~tmp;
        hdr.vlans.push_front(1);
        hdr.vlans.pop_front(1);
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
        meta.pair = { 8w1, 16w2 };
        hdr.ethernet = { dst = 48w1, src = 48w2, ether_type = ETH_IPV4 };
        meta.color = Color.GREEN;
        digest<meta_t>(1, meta);
        clone_preserving_field_list(CloneType.I2E, 32w5, 1);
        ;
        { tmp = add_sat(tmp[15:0], b = 16w1) ++ 16w0; }
        @atomic { tmp = .LIMIT; }
        switch (hdr.ipv4.protocol) {
            6: { tmp = 6; }
            17:
            default: { }
        }
    }
}

control MyEgress(inout headers_t hdr, inout meta_t meta,
                 inout standard_metadata_t std)(bit<8> ttl_floor) {
    action rewrite(bit<8> type) { hdr.ipv4.diffserv = type; }
    table acl {
        key = { hdr.ipv4.diffserv: exact; }
        actions = { rewrite; NoAction; }
        entries = {
            const 1 : rewrite(2);
            2 : NoAction;
        }
    }
    apply { acl.apply(); }
}

control MyCompute(inout headers_t hdr, inout meta_t meta) {
    apply {
        update_checksum(hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl },
            hdr.ipv4.checksum, HashAlgorithm.csum16);
    }
}

control MyDeparser(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.packet_in);
        pkt.emit(hdr.ethernet);
        pkt.emit(hdr.vlans);
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.l4);
    }
}

V1Switch(MyParser(), MyVerify(), MyIngress(), MyEgress(8w1), MyCompute(), MyDeparser()) main;
"""

FILE = "all.p4"
N = TypeVar("N", bound=ir.Node)


def where(snippet: str, offset: int = 0, text: str = PROGRAM, file: str = FILE) -> SourcePos:
    """The position of a snippet that occurs once in `text`."""
    assert text.count(snippet) == 1, f"{snippet!r} is not unique"
    index = text.index(snippet) + offset
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return SourcePos(file, line, col)


@pytest.fixture(scope="module")
def program() -> ir.Program:
    return parse_source(PROGRAM, FILE)


def decl(program: ir.Program, name: str, kind: type[N]) -> N:
    found = [d for d in program.decls if d.name == name and isinstance(d, kind)]
    assert len(found) == 1, f"{kind.__name__} {name}: {len(found)} found"
    return found[0]


def local(container: ir.ControlDecl | ir.ParserDecl, name: str, kind: type[N]) -> N:
    found = [d for d in container.locals if d.name == name and isinstance(d, kind)]
    assert len(found) == 1
    return found[0]


def member_path(expr: ir.Expr) -> str:
    """`hdr.ipv4.dst` back as text, for compact assertions."""
    if isinstance(expr, ir.NameRef):
        return ("." if expr.dotted else "") + expr.name
    if isinstance(expr, ir.Member):
        return f"{member_path(expr.expr)}.{expr.member}"
    if isinstance(expr, ir.Index):
        return f"{member_path(expr.expr)}[{member_path(expr.index)}]"
    if isinstance(expr, ir.IntLit):
        return str(expr.value)
    raise AssertionError(f"not a path: {expr!r}")


def int_of(expr: Any) -> tuple[int, int | None, bool | None]:
    assert isinstance(expr, ir.IntLit), expr
    return expr.value, expr.width, expr.signed


def bits(type_ref: Any) -> int:
    assert isinstance(type_ref, ir.BitTypeRef) and not type_ref.signed, type_ref
    return int_of(type_ref.width)[0]


def stmts_of(control: ir.ControlDecl) -> list[ir.Stmt]:
    return control.body.stmts


# ------------------------------------------------------------- declarations


def test_program_keeps_declarations_in_order_with_the_included_architecture(
    program: ir.Program,
) -> None:
    names = [d.name for d in program.decls]
    # core.p4 first, then v1model.p4, then the program's own declarations.
    assert names.index("packet_in") < names.index("V1Switch") < names.index("mac_t")
    assert names[-1] == "main"
    v1switch = decl(program, "V1Switch", ir.PackageTypeDecl)
    assert v1switch.pos.file == str(BUILTIN_INCLUDE_DIR / "v1model.p4")


def test_typedef_newtype_and_constants(program: ir.Program) -> None:
    mac = decl(program, "mac_t", ir.TypedefDecl)
    assert (mac.is_newtype, bits(mac.type), mac.pos) == (False, 48, where("typedef bit<48>"))
    ip4 = decl(program, "ip4_t", ir.TypedefDecl)
    assert ip4.is_newtype and bits(ip4.type) == 32
    eth = decl(program, "ETH_IPV4", ir.ConstDecl)
    assert int_of(eth.value) == (0x0800, 16, False)
    assert eth.value.pos == where("16w0x0800")
    neg = decl(program, "NEG", ir.ConstDecl)
    assert isinstance(neg.type, ir.BitTypeRef) and neg.type.signed
    assert isinstance(neg.value, ir.Unary) and neg.value.op == "-"
    assert int_of(neg.value.operand) == (5, 8, True)
    assert int_of(decl(program, "BIG", ir.ConstDecl).value) == (1_000_000, None, None)


def test_enums_errors_and_match_kinds(program: ir.Program) -> None:
    color = decl(program, "Color", ir.EnumDecl)
    assert color.underlying is None
    assert [(m.name, m.value) for m in color.members] == [("RED", None), ("GREEN", None)]
    proto = decl(program, "Proto", ir.EnumDecl)
    assert bits(proto.underlying) == 8
    assert [(m.name, int_of(m.value)[0]) for m in proto.members] == [("TCP", 6), ("UDP", 17)]
    assert proto.members[1].pos == where("UDP = 17")
    errors = [d for d in program.decls if isinstance(d, ir.ErrorDecl)]
    assert [m.name for m in errors[0].members][:3] == ["NoError", "PacketTooShort", "NoMatch"]
    assert [m.name for m in errors[-1].members] == ["BadVersion", "BadChecksum"]
    assert errors[-1].members[1].pos == where("BadChecksum")
    kinds = [m.name for d in program.decls if isinstance(d, ir.MatchKindDecl) for m in d.members]
    assert kinds == ["exact", "ternary", "lpm", "range", "optional", "selector", "custom_kind"]


def test_headers_unions_structs_and_stacks(program: ir.Program) -> None:
    ipv4 = decl(program, "ipv4_t", ir.HeaderDecl)
    assert [f.name for f in ipv4.fields][:3] == ["version", "ihl", "diffserv"]
    dst = ipv4.fields[-1]
    assert isinstance(dst.type, ir.NamedTypeRef) and dst.type.name == "ip4_t"
    assert dst.pos == where("ip4_t dst")
    opts = decl(program, "opts_t", ir.HeaderDecl)
    assert isinstance(opts.fields[0].type, ir.VarbitTypeRef)
    assert int_of(opts.fields[0].type.max_width)[0] == 320
    union = decl(program, "l4_t", ir.HeaderUnionDecl)
    assert [f.name for f in union.fields] == ["tcp", "udp"]
    packet_in = decl(program, "packet_in_t", ir.HeaderDecl)
    annotation = ir.find_annotation(packet_in.annotations, "controller_header")
    assert annotation is not None and annotation.raw == '"packet_in"'
    assert isinstance(annotation.args, list) and isinstance(annotation.args[0], ir.StringLit)
    assert annotation.args[0].value == "packet_in"
    assert annotation.args[0].pos == where('"packet_in")')
    headers = decl(program, "headers_t", ir.StructDecl)
    vlans = headers.fields[2].type
    assert isinstance(vlans, ir.StackTypeRef)
    assert isinstance(vlans.element, ir.NamedTypeRef) and vlans.element.name == "vlan_t"
    assert int_of(vlans.size)[0] == 2
    meta = decl(program, "meta_t", ir.StructDecl)
    flow_id = meta.fields[0]
    field_list = ir.find_annotation(flow_id.annotations, "field_list")
    assert field_list is not None and field_list.args is not None
    assert int_of(field_list.args[0])[0] == 1
    assert isinstance(meta.fields[3].type, ir.BoolTypeRef)
    pair = meta.fields[4].type
    assert isinstance(pair, ir.TupleTypeRef)
    assert [bits(t) for t in pair.elements] == [8, 16]


def test_extern_objects_functions_and_p4_functions(program: ir.Program) -> None:
    checker = decl(program, "Checker", ir.ExternDecl)
    assert checker.type_params == ["T"]
    ctor, check, pick = checker.methods
    assert (ctor.name, ctor.return_type, ctor.pos) == ("Checker", None, where("Checker(bit"))
    assert check.type_params == ["U"]
    assert isinstance(check.return_type, ir.NamedTypeRef) and check.return_type.name == "T"
    param = check.params[0]
    assert (param.direction, param.name) == ("in", "data")
    assert isinstance(param.type, ir.NamedTypeRef) and param.type.name == "U"
    assert pick.is_abstract and isinstance(pick.return_type, ir.BoolTypeRef)
    fold = decl(program, "fold", ir.ExternFunctionDecl)
    assert fold.type_params == ["T"] and bits(fold.return_type) == 16
    add_sat = decl(program, "add_sat", ir.FunctionDecl)
    ret = add_sat.body.stmts[0]
    assert isinstance(ret, ir.ReturnStmt) and isinstance(ret.value, ir.Binary)
    assert ret.value.op == "|+|" and ret.pos == where("return a |+| b")


def test_v1model_declares_the_bmv2_api(program: ir.Program) -> None:
    std = decl(program, "standard_metadata_t", ir.StructDecl)
    widths = {
        f.name: (bits(f.type) if isinstance(f.type, ir.BitTypeRef) else f.type)
        for f in std.fields
    }
    assert widths["instance_type"] == 32 and widths["packet_length"] == 32
    assert widths["enq_qdepth"] == 19 and widths["ingress_global_timestamp"] == 48
    assert widths["mcast_grp"] == 16 and widths["egress_rid"] == 16
    assert widths["checksum_error"] == 1 and widths["priority"] == 3
    assert isinstance(widths["parser_error"], ir.ErrorTypeRef)
    # V1MODEL_VERSION 20200408 (defined by PROGRAM) gives PortId_t ports...
    assert isinstance(widths["egress_spec"], ir.NamedTypeRef)
    assert widths["egress_spec"].name == "PortId_t"
    # ...and registers indexed by a type parameter.
    register = decl(program, "register", ir.ExternDecl)
    assert register.type_params == ["T", "I"]
    names = {d.name for d in program.decls}
    assert {
        "counter", "direct_counter", "meter", "direct_meter", "action_profile",
        "action_selector", "Checksum16", "random", "digest", "mark_to_drop", "hash",
        "verify_checksum", "update_checksum", "verify_checksum_with_payload",
        "update_checksum_with_payload", "clone", "clone3", "resubmit", "recirculate",
        "clone_preserving_field_list", "resubmit_preserving_field_list",
        "recirculate_preserving_field_list", "truncate", "assert", "assume", "log_msg",
        "Parser", "VerifyChecksum", "Ingress", "Egress", "ComputeChecksum", "Deparser",
        "V1Switch", "HashAlgorithm", "CloneType", "CounterType", "MeterType", "NoAction",
        "verify", "packet_out", "static_assert",
    } <= names
    v1switch = decl(program, "V1Switch", ir.PackageTypeDecl)
    assert v1switch.type_params == ["H", "M"]
    assert [p.name for p in v1switch.params] == ["p", "vr", "ig", "eg", "ck", "dep"]
    deparser = v1switch.params[-1].type
    assert isinstance(deparser, ir.NamedTypeRef) and deparser.name == "Deparser"
    assert [t.name for t in deparser.type_args if isinstance(t, ir.NamedTypeRef)] == ["H"]
    hash_algorithms = decl(program, "HashAlgorithm", ir.EnumDecl)
    assert [m.name for m in hash_algorithms.members] == [
        "crc32", "crc32_custom", "crc16", "crc16_custom", "random", "identity", "csum16",
        "xor16",
    ]


def test_v1model_default_version_uses_bit32_indexes_and_bit9_ports() -> None:
    program = parse_source("#include <v1model.p4>\n")
    register = decl(program, "register", ir.ExternDecl)
    assert register.type_params == ["T"]
    read = register.methods[1]
    assert bits(read.params[1].type) == 32
    std = decl(program, "standard_metadata_t", ir.StructDecl)
    assert bits(std.fields[1].type) == 9
    version = decl(program, "__v1model_version", ir.ConstDecl)
    assert int_of(version.value)[0] == 20180101


# ------------------------------------------------------------------- parsers


def test_parser_locals_states_and_select(program: ir.Program) -> None:
    parser = decl(program, "MyParser", ir.ParserDecl)
    assert [(p.direction, p.name) for p in parser.params] == [
        (None, "pkt"), ("out", "hdr"), ("inout", "meta"), ("inout", "std"),
    ]
    value_set = local(parser, "custom_types", ir.ValueSetDecl)
    assert bits(value_set.element_type) == 16 and int_of(value_set.size)[0] == 4
    assert int_of(local(parser, "scratch", ir.VarDecl).init)[0] == 0
    assert [s.name for s in parser.states] == [
        "start", "parse_cpu", "parse_ethernet", "parse_vlan", "parse_ipv4", "parse_tcp",
        "parse_udp",
    ]
    states = {s.name: s for s in parser.states}
    assert states["start"].pos == where("state start")
    cpu = states["parse_cpu"].transition
    assert isinstance(cpu, ir.DirectTransition) and cpu.state == "parse_ethernet"
    eth = states["parse_ethernet"].transition
    assert isinstance(eth, ir.SelectTransition)
    assert [member_path(e) for e in eth.exprs] == ["hdr.ethernet.ether_type"]
    assert [c.state for c in eth.cases] == [
        "parse_vlan", "parse_ipv4", "accept", "accept", "reject",
    ]
    mask, const, value_set_ref, rng, dont_care = (c.keysets[0] for c in eth.cases)
    assert isinstance(mask, ir.Mask)
    assert (int_of(mask.value)[0], int_of(mask.mask)[0]) == (0x8100, 0xEFFF)
    assert mask.pos == where("0x8100 &&&")
    assert isinstance(const, ir.NameRef) and const.name == "ETH_IPV4"
    assert isinstance(value_set_ref, ir.NameRef) and value_set_ref.name == "custom_types"
    assert isinstance(rng, ir.Range)
    assert (int_of(rng.lo)[0], int_of(rng.hi)[0]) == (0, 0x05FF)
    assert isinstance(dont_care, ir.Default)
    start = states["start"].transition
    assert isinstance(start, ir.SelectTransition)
    assert int_of(start.cases[0].keysets[0]) == (64, 9, False)
    assert isinstance(start.cases[1].keysets[0], ir.Default)


def test_tuple_keysets_keep_one_keyset_per_select_expression(program: ir.Program) -> None:
    parser = decl(program, "MyParser", ir.ParserDecl)
    ipv4 = next(s for s in parser.states if s.name == "parse_ipv4")
    select = ipv4.transition
    assert isinstance(select, ir.SelectTransition) and len(select.exprs) == 2
    tcp, udp, other = select.cases
    assert [int_of(k)[0] for k in tcp.keysets] == [6, 0]
    assert int_of(udp.keysets[0])[0] == 17 and isinstance(udp.keysets[1], ir.Default)
    assert isinstance(other.keysets[0], ir.Default) and isinstance(other.keysets[1], ir.Mask)


def test_parser_statements_extract_verify_lookahead_advance(program: ir.Program) -> None:
    parser = decl(program, "MyParser", ir.ParserDecl)
    stmts = next(s for s in parser.states if s.name == "parse_ipv4").stmts
    extract, verify, peek, advance = stmts
    assert isinstance(extract, ir.CallStmt)
    assert member_path(extract.call.callee) == "pkt.extract"
    assert member_path(extract.call.args[0].value) == "hdr.ipv4"
    assert isinstance(verify, ir.CallStmt)
    error_ref = verify.call.args[1].value
    assert member_path(error_ref) == "error.BadVersion"
    assert isinstance(peek, ir.VarDecl) and isinstance(peek.init, ir.Call)
    assert member_path(peek.init.callee) == "pkt.lookahead"
    assert [bits(t) for t in peek.init.type_args] == [4] and peek.init.args == []
    assert isinstance(advance, ir.CallStmt)
    assert int_of(advance.call.args[0].value) == (0, 32, False)
    vlan = next(s for s in parser.states if s.name == "parse_vlan")
    first = vlan.stmts[0]
    assert isinstance(first, ir.CallStmt)
    assert member_path(first.call.args[0].value) == "hdr.vlans.next"
    assert isinstance(vlan.transition, ir.SelectTransition)
    assert member_path(vlan.transition.exprs[0]) == "hdr.vlans.last.ether_type"


# ------------------------------------------------------------------ controls


def test_control_locals_instances_and_variables(program: ir.Program) -> None:
    ingress = decl(program, "MyIngress", ir.ControlDecl)
    counter = local(ingress, "port_counter", ir.InstanceDecl)
    assert isinstance(counter.type, ir.NamedTypeRef) and counter.type.name == "counter"
    assert [bits(t) for t in counter.type.type_args] == [32]
    assert int_of(counter.args[0].value)[0] == 1024
    assert member_path(counter.args[1].value) == "CounterType.packets_and_bytes"
    register = local(ingress, "flow_reg", ir.InstanceDecl)
    assert isinstance(register.type, ir.NamedTypeRef)
    assert [bits(t) for t in register.type.type_args] == [32, 32]
    assert register.pos == where("register<bit<32>, bit<32>>(1024)")
    assert local(ingress, "tmp", ir.VarDecl).init is None
    limit = local(ingress, "LIMIT", ir.ConstDecl)
    assert int_of(limit.value) == (255, 8, False)


def test_actions_with_directional_and_directionless_params(program: ir.Program) -> None:
    ingress = decl(program, "MyIngress", ir.ControlDecl)
    set_port = local(ingress, "set_port", ir.ActionDecl)
    assert [(p.direction, p.name) for p in set_port.params] == [(None, "port"), ("in", "unused")]
    encap = local(ingress, "encap_to_backend", ir.ActionDecl)
    name = ir.find_annotation(encap.annotations, "name")
    assert name is not None and name.args is not None
    assert isinstance(name.args[0], ir.StringLit) and name.args[0].value == "ingress.encap"
    assert encap.pos == where('@name("ingress.encap")')
    sport = encap.body.stmts[2]
    assert isinstance(sport, ir.AssignStmt)
    assert member_path(sport.lhs) == "hdr.l4.tcp.sport"
    assert isinstance(sport.rhs, ir.Slice)
    assert (int_of(sport.rhs.hi)[0], int_of(sport.rhs.lo)[0]) == (31, 16)
    assert sport.pos == where("hdr.l4.tcp.sport")


def test_table_properties(program: ir.Program) -> None:
    ingress = decl(program, "MyIngress", ir.ControlDecl)
    forward = local(ingress, "forward", ir.TableDecl)
    assert [(member_path(k.expr), k.match_kind) for k in forward.keys] == [
        ("std.ingress_port", "exact"), ("hdr.ipv4.dst", "lpm"),
        ("hdr.ipv4.protocol", "ternary"), ("meta.l4_sport", "range"),
        ("hdr.vlans[0].vid", "optional"),
    ]
    port_name = ir.find_annotation(forward.keys[0].annotations, "name")
    assert port_name is not None and port_name.raw == '"port"'
    assert [a.name for a in forward.actions] == ["set_port", "drop", "NoAction"]
    assert ir.find_annotation(forward.actions[2].annotations, "defaultonly") is not None
    assert forward.default_action is not None
    assert (forward.default_action.name, forward.default_action.args) == ("drop", [])
    assert not forward.default_action_is_const
    assert int_of(forward.size)[0] == 1024
    assert forward.entries is None
    assert set(forward.properties) == {"counters", "support_timeout", "implementation"}
    assert member_path(forward.properties["counters"]) == "fwd_counter"
    support_timeout = forward.properties["support_timeout"]
    assert isinstance(support_timeout, ir.BoolLit) and support_timeout.value
    selector = forward.properties["implementation"]
    assert isinstance(selector, ir.Call) and member_path(selector.callee) == "action_selector"
    assert [int_of(a.value)[0] for a in selector.args[1:]] == [64, 14]


def test_const_entries_with_priorities_and_const_default_action(program: ir.Program) -> None:
    ingress = decl(program, "MyIngress", ir.ControlDecl)
    encap = local(ingress, "encap_map", ir.TableDecl)
    assert encap.actions[1].dotted and encap.actions[1].name == "NoAction"
    assert encap.default_action is not None and encap.default_action_is_const
    assert encap.default_action.name == "NoAction"
    assert encap.entries_are_const and encap.entries is not None
    first, second = encap.entries
    assert first.is_const and second.is_const
    assert [int_of(k)[0] for k in first.keysets] == [0x0A00010A, 0x0A000064]
    assert first.priority is None
    assert first.action.name == "encap_to_backend"
    assert [int_of(a.value)[0] for a in first.action.args] == [1, 0x0A000001, 0x0A00020B]
    assert int_of(second.priority)[0] == 10
    assert isinstance(second.keysets[0], ir.Default)
    assert isinstance(second.keysets[1], ir.Mask)
    assert second.pos == where("priority = 10")
    assert encap.properties.keys() == {"largest_priority_wins"}


def test_non_const_entries_mark_const_ones_individually(program: ir.Program) -> None:
    egress = decl(program, "MyEgress", ir.ControlDecl)
    assert [p.name for p in egress.ctor_params] == ["ttl_floor"]
    acl = local(egress, "acl", ir.TableDecl)
    assert not acl.entries_are_const and acl.entries is not None
    assert [e.is_const for e in acl.entries] == [True, False]
    assert acl.entries[1].action.name == "NoAction" and acl.entries[1].action.args == []
    rewrite = local(egress, "rewrite", ir.ActionDecl)
    assert rewrite.params[0].name == "type"  # a contextual keyword works as a name
    assign = rewrite.body.stmts[0]
    assert isinstance(assign, ir.AssignStmt) and member_path(assign.rhs) == "type"


def test_if_else_exit_return_and_validity_calls(program: ir.Program) -> None:
    body = stmts_of(decl(program, "MyIngress", ir.ControlDecl))
    first = body[0]
    assert isinstance(first, ir.IfStmt) and isinstance(first.cond, ir.Call)
    assert member_path(first.cond.callee) == "hdr.packet_in.isValid"
    assert isinstance(first.then, ir.BlockStmt)
    set_invalid = first.then.stmts[0]
    assert isinstance(set_invalid, ir.CallStmt)
    assert member_path(set_invalid.call.callee) == "hdr.packet_in.setInvalid"
    nested = first.otherwise
    assert isinstance(nested, ir.IfStmt) and nested.otherwise is None
    assert isinstance(nested.cond, ir.Unary) and nested.cond.op == "!"
    assert isinstance(nested.then, ir.BlockStmt)
    assert isinstance(nested.then.stmts[0], ir.ExitStmt)
    hit = body[2]
    assert isinstance(hit, ir.IfStmt) and isinstance(hit.cond, ir.Member)
    assert hit.cond.member == "hit" and isinstance(hit.cond.expr, ir.Call)
    assert member_path(hit.cond.expr.callee) == "encap_map.apply"
    assert isinstance(hit.then, ir.BlockStmt)
    assert isinstance(hit.then.stmts[0], ir.ReturnStmt)
    assert isinstance(hit.otherwise, ir.IfStmt)
    assert isinstance(hit.otherwise.cond, ir.Member) and hit.otherwise.cond.member == "miss"


def test_switch_on_action_run_groups_fallthrough_labels(program: ir.Program) -> None:
    body = stmts_of(decl(program, "MyIngress", ir.ControlDecl))
    switch = body[1]
    assert isinstance(switch, ir.SwitchStmt) and isinstance(switch.expr, ir.Member)
    assert switch.expr.member == "action_run"
    grouped, default = switch.cases
    assert [member_path(label) for label in grouped.labels] == ["set_port", "drop"]
    assert grouped.body is not None and grouped.pos == where("set_port:")
    count = grouped.body.stmts[0]
    assert isinstance(count, ir.CallStmt)
    cast = count.call.args[0].value
    assert isinstance(cast, ir.Cast) and bits(cast.target) == 32
    assert member_path(cast.expr) == "std.ingress_port"
    assert isinstance(default.labels[0], ir.Default)
    value_switch = body[-1]
    assert isinstance(value_switch, ir.SwitchStmt)
    six, rest = value_switch.cases
    assert int_of(six.labels[0])[0] == 6
    assert int_of(rest.labels[0])[0] == 17 and isinstance(rest.labels[1], ir.Default)


def test_trailing_fallthrough_label_has_no_body() -> None:
    program = parse_source(
        "control c(inout bit<8> x) { apply { switch (x) { 1: { x = 2; } 2: } } }"
    )
    control = decl(program, "c", ir.ControlDecl)
    switch = control.body.stmts[0]
    assert isinstance(switch, ir.SwitchStmt)
    assert switch.cases[1].body is None and int_of(switch.cases[1].labels[0])[0] == 2


def test_extern_method_calls_generic_calls_and_stack_operations(program: ir.Program) -> None:
    body = stmts_of(decl(program, "MyIngress", ir.ControlDecl))
    calls = [s.call for s in body if isinstance(s, ir.CallStmt)]
    by_callee = {member_path(c.callee): c for c in calls}
    meter = by_callee["m.execute_meter"]
    assert [bits(t) for t in meter.type_args] == [2]
    digest = by_callee["digest"]
    assert [t.name for t in digest.type_args if isinstance(t, ir.NamedTypeRef)] == ["meta_t"]
    hash_call = by_callee["hash"]
    data = hash_call.args[3].value
    assert isinstance(data, ir.ListExpr)
    assert [member_path(e) for e in data.elements] == ["hdr.ipv4.src", "hdr.ipv4.dst"]
    assert int_of(by_callee["hdr.vlans.push_front"].args[0].value)[0] == 1
    assert int_of(by_callee["hdr.vlans.pop_front"].args[0].value)[0] == 1
    clone = by_callee["clone_preserving_field_list"]
    assert member_path(clone.args[0].value) == "CloneType.I2E"


def test_struct_and_list_initializers_named_args_and_dotted_names(program: ir.Program) -> None:
    body = stmts_of(decl(program, "MyIngress", ir.ControlDecl))
    assigns = [s for s in body if isinstance(s, ir.AssignStmt)]
    by_lhs = {member_path(a.lhs): a.rhs for a in assigns}
    pair = by_lhs["meta.pair"]
    assert isinstance(pair, ir.ListExpr)
    assert [int_of(e)[:2] for e in pair.elements] == [(1, 8), (2, 16)]
    eth = by_lhs["hdr.ethernet"]
    assert isinstance(eth, ir.StructInitExpr)
    assert [name for name, _ in eth.fields] == ["dst", "src", "ether_type"]
    assert member_path(by_lhs["meta.color"]) == "Color.GREEN"
    assert isinstance(body[-4], ir.EmptyStmt)
    block = body[-3]
    assert isinstance(block, ir.BlockStmt) and not block.annotations
    inner = block.stmts[0]
    assert isinstance(inner, ir.AssignStmt) and isinstance(inner.rhs, ir.Binary)
    add_sat = inner.rhs.left
    assert isinstance(add_sat, ir.Call)
    assert [a.name for a in add_sat.args] == [None, "b"]
    atomic = body[-2]
    assert isinstance(atomic, ir.BlockStmt)
    assert [a.name for a in atomic.annotations] == ["atomic"]
    dotted = atomic.stmts[0]
    assert isinstance(dotted, ir.AssignStmt) and isinstance(dotted.rhs, ir.NameRef)
    assert dotted.rhs.dotted and dotted.rhs.name == "LIMIT"


def test_main_instantiates_the_package_with_constructor_calls(program: ir.Program) -> None:
    main = decl(program, "main", ir.InstanceDecl)
    assert isinstance(main.type, ir.NamedTypeRef) and main.type.name == "V1Switch"
    callees = []
    for arg in main.args:
        assert isinstance(arg.value, ir.Call)
        callees.append(member_path(arg.value.callee))
    assert callees == [
        "MyParser", "MyVerify", "MyIngress", "MyEgress", "MyCompute", "MyDeparser",
    ]
    egress = main.args[3].value
    assert isinstance(egress, ir.Call) and int_of(egress.args[0].value) == (1, 8, False)
    assert main.pos == where("V1Switch(MyParser()")


# --------------------------------------------------------------- expressions


def expr_of(source: str) -> ir.Expr:
    """The initializer of `x` in `const ... x = <source>;`."""
    program = parse_source(
        "enum E { A }\nconst bit<8> x = " + source + ";", "expr.p4"
    )
    value = decl(program, "x", ir.ConstDecl).value
    return value


def shape(expr: ir.Expr) -> str:
    """Fully parenthesised text of an expression, to check precedence."""
    if isinstance(expr, ir.Binary):
        return f"({shape(expr.left)} {expr.op} {shape(expr.right)})"
    if isinstance(expr, ir.Unary):
        return f"({expr.op}{shape(expr.operand)})"
    if isinstance(expr, ir.Ternary):
        return f"({shape(expr.cond)} ? {shape(expr.then)} : {shape(expr.otherwise)})"
    if isinstance(expr, ir.Cast):
        return f"(cast {shape(expr.expr)})"
    if isinstance(expr, ir.Slice):
        return f"{shape(expr.expr)}[{shape(expr.hi)}:{shape(expr.lo)}]"
    if isinstance(expr, ir.IntLit):
        return str(expr.value)
    if isinstance(expr, ir.BoolLit):
        return str(expr.value).lower()
    return member_path(expr)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a + b * c", "(a + (b * c))"),
        ("a - b - c", "((a - b) - c)"),
        ("a << 1 + 2", "(a << (1 + 2))"),
        ("a >> 1 >> 2", "((a >> 1) >> 2)"),
        ("a & b == c", "((a & b) == c)"),
        ("a | b < c ^ d", "((a | b) < (c ^ d))"),
        ("a < b && c >= d || e != f", "(((a < b) && (c >= d)) || (e != f))"),
        ("a ? b : c ? d : e", "(a ? b : (c ? d : e))"),
        ("a ++ b |+| c |-| d", "(((a ++ b) |+| c) |-| d)"),
        ("-a * ~b", "((-a) * (~b))"),
        ("!a && b", "((!a) && b)"),
        ("+a", "a"),
        ("(bit<8>) a + b", "((cast a) + b)"),
        ("(E) a", "(cast a)"),
        ("a[7:4] % 3 / 2", "((a[7:4] % 3) / 2)"),
        ("a >> b < c", "((a >> b) < c)"),
        ("E.A", "E.A"),
        ("a < E.A", "(a < E.A)"),
        ("8w0b1010_1010", "170"),
        ("0o17 + 0d99 + 0XfF", "((15 + 99) + 255)"),
        ("true && false", "(true && false)"),
    ],
)
def test_operator_precedence_and_literals(source: str, expected: str) -> None:
    assert shape(expr_of(source)) == expected


def test_width_prefixed_literals_keep_width_and_sign() -> None:
    assert int_of(expr_of("16w0x1F")) == (0x1F, 16, False)
    assert int_of(expr_of("8s5")) == (5, 8, True)
    assert int_of(expr_of("4w1_0")) == (10, 4, False)
    assert int_of(expr_of("0x1F")) == (0x1F, None, None)


def test_string_literals_are_unescaped() -> None:
    program = parse_source('@name("a\\"b") const bit<8> x = 1;')
    annotation = decl(program, "x", ir.ConstDecl).annotations[0]
    assert annotation.args is not None and isinstance(annotation.args[0], ir.StringLit)
    assert annotation.args[0].value == 'a"b'


def test_binary_nodes_sit_at_their_first_token() -> None:
    value = expr_of("(a) + b")
    assert isinstance(value, ir.Binary)
    assert value.pos == SourcePos("expr.p4", 2, 18)  # the parenthesis
    assert value.left.pos == SourcePos("expr.p4", 2, 19)
    assert value.right.pos == SourcePos("expr.p4", 2, 24)


# ---------------------------------------------------------- type names, >>


def test_shift_right_and_nested_generic_closers() -> None:
    program = parse_source(
        "#include <v1model.p4>\n"
        "struct s { tuple<bit<8>, tuple<bit<8>, bit<8>>> t; }\n"
        "control c(inout bit<32> x) {\n"
        "    register<bit<32>>(1024) r;\n"
        "    apply { x = x >> 2; x = x>>3; }\n"
        "}\n"
    )
    field = decl(program, "s", ir.StructDecl).fields[0].type
    assert isinstance(field, ir.TupleTypeRef) and isinstance(field.elements[1], ir.TupleTypeRef)
    control = decl(program, "c", ir.ControlDecl)
    register = local(control, "r", ir.InstanceDecl)
    assert isinstance(register.type, ir.NamedTypeRef)
    assert [bits(t) for t in register.type.type_args] == [32]
    shifts = [s.rhs for s in control.body.stmts if isinstance(s, ir.AssignStmt)]
    assert [shape(e) for e in shifts] == ["(x >> 2)", "(x >> 3)"]


def test_type_parameters_are_types_only_inside_their_declaration() -> None:
    program = parse_source(
        "#include <v1model.p4>\n"
        "T pick<T>(in T a, in T b) { return a > b ? a : b; }\n"
        "control c(inout bit<8> x) {\n"
        "    apply {\n"
        "        bit<8> T = 1; bit<8> H = 2;\n"
        "        x = pick<bit<8>>(T, H) + pick(H, T);\n"
        "        x = (T < H) ? T : H;\n"
        "    }\n"
        "}\n"
    )
    pick = decl(program, "pick", ir.FunctionDecl)
    assert pick.type_params == ["T"]
    assert isinstance(pick.return_type, ir.NamedTypeRef) and pick.return_type.name == "T"
    assert isinstance(pick.params[0].type, ir.NamedTypeRef)
    control = decl(program, "c", ir.ControlDecl)
    first, second = (s.rhs for s in control.body.stmts if isinstance(s, ir.AssignStmt))
    assert isinstance(first, ir.Binary) and isinstance(first.left, ir.Call)
    assert [bits(t) for t in first.left.type_args] == [8]
    assert shape(second) == "((T < H) ? T : H)"


def test_generic_call_type_arguments_with_constant_widths() -> None:
    program = parse_source(
        "#include <core.p4>\n"
        "const bit<32> W = 8;\n"
        "parser P(packet_in pkt) {\n"
        "    state start {\n"
        "        bit<W> x = pkt.lookahead<bit<W>>();\n"
        "        bit<(W + 8)> y = pkt.lookahead<bit<(W + 8)>>();\n"
        "        bool z = W < W;\n"
        "        transition accept;\n"
        "    }\n"
        "}\n"
    )
    start = decl(program, "P", ir.ParserDecl).states[0]
    x, y, z = start.stmts
    assert isinstance(x, ir.VarDecl) and isinstance(x.init, ir.Call)
    width = x.init.type_args[0]
    assert isinstance(width, ir.BitTypeRef) and member_path(width.width) == "W"
    assert isinstance(y, ir.VarDecl) and isinstance(y.init, ir.Call)
    wide = y.init.type_args[0]
    assert isinstance(wide, ir.BitTypeRef) and shape(wide.width) == "(W + 8)"
    assert isinstance(z, ir.VarDecl) and isinstance(z.init, ir.Binary)
    assert shape(z.init) == "(W < W)"


def test_casts_to_named_types_and_declarations_with_them() -> None:
    program = parse_source(
        "typedef bit<48> mac_t;\n"
        "header h_t { mac_t a; }\n"
        "struct s { .h_t h; h_t[4] st; }\n"
        "control c(inout s x) {\n"
        "    apply { mac_t m = (mac_t) 48w1; x.h.a = (mac_t) (bit<48>) m; x.st[1].a = m; }\n"
        "}\n"
    )
    fields = decl(program, "s", ir.StructDecl).fields
    assert isinstance(fields[0].type, ir.NamedTypeRef) and fields[0].type.dotted
    assert isinstance(fields[1].type, ir.StackTypeRef)
    control = decl(program, "c", ir.ControlDecl)
    var, assign, stack_assign = control.body.stmts
    assert isinstance(var, ir.VarDecl) and isinstance(var.init, ir.Cast)
    assert isinstance(var.init.target, ir.NamedTypeRef) and var.init.target.name == "mac_t"
    assert isinstance(assign, ir.AssignStmt) and isinstance(assign.rhs, ir.Cast)
    assert isinstance(assign.rhs.expr, ir.Cast)
    assert isinstance(stack_assign, ir.AssignStmt)
    assert member_path(stack_assign.lhs) == "x.st[1].a"


def test_direct_application_and_instance_apply() -> None:
    program = parse_source(
        "control inner(inout bit<8> x) { apply { x = 1; } }\n"
        "control outer(inout bit<8> x) {\n"
        "    inner() i;\n"
        "    apply { i.apply(x); inner.apply(x); }\n"
        "}\n"
    )
    outer = decl(program, "outer", ir.ControlDecl)
    instance = local(outer, "i", ir.InstanceDecl)
    assert isinstance(instance.type, ir.NamedTypeRef) and instance.type.name == "inner"
    by_instance, direct = outer.body.stmts
    assert isinstance(by_instance, ir.CallStmt) and isinstance(direct, ir.CallStmt)
    assert member_path(by_instance.call.callee) == "i.apply"
    # p4c's InstantiateDirectCalls: an implicit instance named `inner` for the
    # control plane.
    assert member_path(direct.call.callee) == "inner_inst.apply"
    implicit = local(outer, "inner_inst", ir.InstanceDecl)
    assert isinstance(implicit.type, ir.NamedTypeRef) and implicit.type.name == "inner"
    assert [(a.name, a.raw) for a in implicit.annotations] == [("name", '"inner"')]


# ------------------------------------------------------------ annotations


def test_annotation_bodies_parsed_when_they_are_expressions() -> None:
    program = parse_source(
        '@id(7) @name(".t", 2 + 3)\n'
        "@structured[k = 1, s = \"v\"]\n"
        "@free(one two (three))\n"
        "@empty()\n"
        "@hidden\n"
        "const bit<8> x = 1;\n",
        "ann.p4",
    )
    ann = {a.name: a for a in decl(program, "x", ir.ConstDecl).annotations}
    assert ann["id"].args is not None and int_of(ann["id"].args[0])[0] == 7
    name_args = ann["name"].args
    assert name_args is not None and len(name_args) == 2
    assert shape(name_args[1]) == "(2 + 3)"
    assert name_args[1].pos == SourcePos("ann.p4", 1, 20)
    assert ann["structured"].args is None
    assert ann["structured"].raw == 'k = 1, s = "v"'
    assert ann["free"].args is None and ann["free"].raw == "one two (three)"
    assert ann["empty"].args == [] and ann["empty"].raw == ""
    assert ann["hidden"].args is None and ann["hidden"].raw == ""
    assert ann["hidden"].pos == SourcePos("ann.p4", 5, 1)


# ---------------------------------------------------------- positions, files


def test_positions_point_into_included_files(tmp_path: Path) -> None:
    headers = tmp_path / "include" / "headers.p4"
    headers.parent.mkdir()
    headers.write_text("// shared headers\n#define W 16\nheader h_t {\n    bit<W> f;\n}\n")
    main = tmp_path / "main.p4"
    main.write_text('#include "include/headers.p4"\nstruct s { h_t h; }\n')
    program = parse_program(main)
    header = decl(program, "h_t", ir.HeaderDecl)
    assert header.pos == SourcePos(str(headers), 3, 1)
    field = header.fields[0]
    assert field.pos == SourcePos(str(headers), 4, 5)
    assert isinstance(field.type, ir.BitTypeRef)
    # The width came from the macro W: it sits where W was written.
    assert field.type.width.pos == SourcePos(str(headers), 4, 9)
    assert decl(program, "s", ir.StructDecl).pos == SourcePos(str(main), 2, 1)


def test_syntax_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.p4"
    bad.write_text("header h_t {\n    bit<8> f\n}\n")
    main = tmp_path / "main.p4"
    main.write_text('#include "bad.p4"\n')
    with pytest.raises(ParseError) as info:
        parse_program(main)
    assert str(info.value) == f"{bad}:3:1: error: syntax error: unexpected '}}', expected ';'"


def test_defines_reach_the_program(tmp_path: Path) -> None:
    main = tmp_path / "main.p4"
    main.write_text("const bit<32> size = TABLE_SIZE;\n")
    program = parse_program(main, defines={"TABLE_SIZE": "4096"})
    assert int_of(decl(program, "size", ir.ConstDecl).value)[0] == 4096


# -------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("header h { bit<8> a }", "e.p4:1:21: error: syntax error: unexpected '}', expected ';'"),
        (
            "control c() { apply { x = 1 $ 2; } }",
            "e.p4:1:29: error: syntax error: unexpected character '$'",
        ),
        ("header h { bit<8> a;", "e.p4:1:21: error: syntax error: unexpected end of file"),
        (
            "struct s { out_t out; }",
            "e.p4:1:12: error: syntax error: unexpected 'out_t': "
            "not a type declared before this point",
        ),
        (
            "header h { bit<8> out; }",
            "e.p4:1:19: error: syntax error: unexpected keyword 'out'",
        ),
        (
            "control c() {\n  apply {\n    for (bit<8> i in 0 .. 3) { }\n  }\n}",
            "e.p4:3:5: unsupported: for-in loop",
        ),
        ("control c() { apply { this.x = 1; } }", "e.p4:1:23: unsupported: 'this'"),
        ("header h<T> { T a; }", "e.p4:1:1: unsupported: generic header type 'h'"),
        (
            "control c() { table t { size = 1; size = 2; } apply {} }",
            "e.p4:1:35: error: table 't' sets property 'size' twice",
        ),
        (
            "control c() { table t { default_action = 1 + 2; } apply {} }",
            "e.p4:1:25: error: default_action must name an action, as in 'a' or 'a(1)'",
        ),
    ],
)
def test_error_messages(source: str, message: str) -> None:
    with pytest.raises((ParseError, UnsupportedError)) as info:
        parse_source(source, "e.p4")
    assert str(info.value) == message


def test_expected_tokens_are_listed_only_when_few() -> None:
    with pytest.raises(ParseError) as info:
        parse_source("const bit<8> x = ;", "e.p4")
    assert str(info.value) == "e.p4:1:18: error: syntax error: unexpected ';'"


_SPLICES = ["<", ">", ">>", "(", ")", "{", "}", ";", ":", "@x(", "#if 1\n", '"', "/*", "type",
            "extern", "struct", "<T>", "_", "..", "&&&", "T", "$", "\\\n"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_programs_fail_with_p4sim_errors_only(data: st.DataObject) -> None:
    """Whatever is cut out or spliced in, the user gets a positioned p4sim error
    (or a parse), never a traceback from lark or the front end."""
    text = PROGRAM
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(text) - 1))
        cut = data.draw(st.integers(0, 12))
        splice = data.draw(st.sampled_from(["", *_SPLICES]))
        text = text[:start] + splice + text[start + cut :]
    try:
        parse_source(text, FILE)
    except P4SimError as error:
        assert str(error)


# --------------------------------------------------------------------- speed


def test_v1model_and_a_500_line_program_parse_well_under_a_second() -> None:
    parts = [
        "#include <v1model.p4>\n"
        "header h_t { bit<8> a; bit<16> b; bit<32> c; }\n"
        "struct hs { h_t h; }\nstruct m_t { bit<32> x; }\n"
    ]
    i = 0
    while sum(p.count("\n") for p in parts) < 500:
        parts.append(
            f"control C{i}(inout hs hdr, inout m_t meta, inout standard_metadata_t sm) {{\n"
            f"    action set{i}(bit<9> port, bit<32> v) {{\n"
            f"        sm.egress_spec = port; meta.x = v + 32w{i};\n    }}\n"
            f"    action drop{i}() {{ mark_to_drop(sm); }}\n"
            f"    table t{i} {{\n"
            f"        key = {{ hdr.h.a: exact; hdr.h.c: lpm; }}\n"
            f"        actions = {{ set{i}; drop{i}; NoAction; }}\n"
            f"        default_action = drop{i}();\n        size = 1024;\n    }}\n"
            f"    apply {{\n"
            f"        if (hdr.h.isValid() && hdr.h.b > 16w{i}) {{ t{i}.apply(); }}\n"
            f"        else {{ meta.x = (meta.x << 2) + (bit<32>) hdr.h.a; }}\n"
            f"    }}\n}}\n"
        )
        i += 1
    source = "".join(parts)
    parse_source(source)  # the first parse may build the parser tables
    start = time.perf_counter()
    program = parse_source(source)
    elapsed = time.perf_counter() - start
    assert len([d for d in program.decls if isinstance(d, ir.ControlDecl)]) == i
    assert elapsed < 1.0, f"parsing took {elapsed:.2f}s"
