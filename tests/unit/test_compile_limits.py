"""p4sim's bounds on a program (p4sim/limits.py): a program at a bound
compiles and runs, one step past it is a compile error at the construct.

P4 source arrives from the network in SetForwardingPipelineConfig, so a
program must never make the compiler or the switch allocate without bound.
"""

from __future__ import annotations

import sys

import pytest
from semantics_harness import build, pack, source, switch

from p4sim import limits
from p4sim.compiler import compile_source
from p4sim.errors import ParseError, PreprocessorError, TypeCheckError, UnsupportedError
from p4sim.runtime.externs import CounterArray, MeterArray, RegisterArray


def _refused(text: str, error: str) -> None:
    """`text` is refused with a message starting `test.p4:<line>:<col>: error: <error>`."""
    with pytest.raises(TypeCheckError) as info:
        compile_source(text, "test.p4")
    message = str(info.value)
    assert message.startswith("test.p4:"), message
    assert f": error: {error}" in message, message


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# ------------------------------------------------------------------ widths


def test_the_widest_field_parses_computes_and_deparses() -> None:
    fields = f"bit<{limits.MAX_BIT_WIDTH}> a;"
    sw = switch(fields, "hdr.h.a = hdr.h.a + 1;")
    top = (1 << limits.MAX_BIT_WIDTH) - 1
    assert sw.process(0, pack(fields, [top - 1])) == [(1, pack(fields, [top]))]
    assert sw.process(0, pack(fields, [top])) == [(1, pack(fields, [0]))]


@pytest.mark.parametrize(("fields", "ingress", "needle", "error"), [
    (f"bit<8> a; bit<{limits.MAX_BIT_WIDTH + 8}> b;", "", "bit<2056>",
     "width must be 1..2048, not 2056"),
    ("bit<8> a; bit<4294967296> b;", "", "bit<4294967296>",
     "width must be 1..2048, not 4294967296"),
    ("bit<8> a;", "int<0> x = 0;", "int<0>", "width must be 1..2048, not 0"),
    ("bit<8> a;", "hdr.h.a = (bit<8>)2049w1;", "2049w1",
     "the width of a literal must be 1..2048, not 2049"),
    ("bit<8> a;", "bit<2048> x = 1; bit<8> y = (bit<8>)(x ++ hdr.h.a);", "x ++",
     "the width of a ++ result must be 1..2048, not 2056"),
], ids=["field", "field-2^32", "zero", "literal", "concatenation"])
def test_widths_past_the_bound_are_refused(fields: str, ingress: str, needle: str,
                                           error: str) -> None:
    text = source(fields, "        " + ingress)
    _refused(text, error)
    with pytest.raises(TypeCheckError) as info:
        compile_source(text, "test.p4")
    assert info.value.pos is not None and info.value.pos.line == _line(text, needle)


def test_compile_time_integers_are_bounded_before_they_are_computed() -> None:
    fields = "bit<8> a;"
    half = f"(1 << {limits.MAX_INT_BITS - 1})"
    top = f"const int TOP = {half} - 1 + {half};"
    build(fields, "hdr.h.a = (bit<8>)(TOP >> 4088);", decls=top)
    _refused(source(fields, decls=f"const int X = 1 << {limits.MAX_INT_BITS};"),
             "integer constant of 4097 bits: p4sim computes with at most 4096-bit constants")
    _refused(source(fields, decls="const int X = 1 << 100000000000;"),
             "shift by 100000000000: p4sim computes with at most 4096-bit constants")
    _refused(source(fields, decls="const int X = 1 << 4000; const int Y = X * X;"),
             "integer constant of 8001 bits")
    _refused(source(fields, decls="const int X = 0x" + "f" * 1025 + ";"),
             "integer constant of 4100 bits")


def test_a_literal_python_could_not_read_is_refused_by_length() -> None:
    text = source("bit<8> a;", decls="const int X = " + "9" * 5000 + ";")
    with pytest.raises(ParseError) as info:
        compile_source(text, "test.p4")
    assert "integer literal of 5000 digits" in str(info.value)
    assert len(str(info.value)) < 200


# ------------------------------------------------------------ composite values


def test_stack_sizes_are_bounded() -> None:
    build("bit<8> a;", more_headers=f"h_t[{limits.MAX_STACK_SIZE}] s;")
    _refused(source("bit<8> a;", more_headers=f"h_t[{limits.MAX_STACK_SIZE + 1}] s;"),
             "stack size must be 1..1024, not 1025")


def test_types_that_double_at_each_level_are_refused_at_the_declaration() -> None:
    levels = "".join(f"struct s{i} {{ {'h_t' if i == 0 else f's{i - 1}'} a; "
                     f"{'h_t' if i == 0 else f's{i - 1}'} b; }}\n" for i in range(20))
    text = source("bit<8> a;", late_decls=levels)
    _refused(text, "a value of s15 would hold 131071 headers, structs and stack elements; "
             "p4sim allows 65536")
    with pytest.raises(TypeCheckError) as info:
        compile_source(text, "test.p4")
    assert info.value.pos is not None and info.value.pos.line == _line(text, "struct s15 ")


def test_struct_nesting_is_bounded() -> None:
    def chain(n: int) -> str:
        return "struct s0 { bit<8> a; }\n" + "".join(
            f"struct s{i} {{ s{i - 1} a; }}\n" for i in range(1, n))

    deepest = limits.MAX_TYPE_NESTING - 1
    sw = switch("bit<8> a;", f"s{deepest} v; v{'.a' * deepest}.a = hdr.h.a + 1; "
                f"hdr.h.a = v{'.a' * deepest}.a;", late_decls=chain(limits.MAX_TYPE_NESTING))
    assert sw.process(0, b"\x07") == [(1, b"\x08")]
    _refused(source("bit<8> a;", late_decls=chain(limits.MAX_TYPE_NESTING + 1)),
             "s32 nests structs and headers 33 levels deep; p4sim allows 32")


# ----------------------------------------------------- control-plane objects


@pytest.mark.parametrize("extern", [
    "register<bit<8>>({n}) x;",
    "counter({n}, CounterType.packets) x;",
    "meter({n}, MeterType.packets) x;",
])
def test_extern_arrays_are_bounded(extern: str) -> None:
    ok = switch("bit<8> a;", ingress_decls=extern.format(n=limits.MAX_EXTERN_SIZE))
    arrays: list[RegisterArray | CounterArray | MeterArray] = [
        *ok.registers.values(), *ok.counters.values(), *ok.meters.values()]
    assert [len(a) for a in arrays] == [limits.MAX_EXTERN_SIZE]
    _refused(source("bit<8> a;", ingress_decls=extern.format(n="32w4000000000")),
             "x: size must be 1..1048576, not 4000000000")
    _refused(source("bit<8> a;", ingress_decls=extern.format(n=limits.MAX_EXTERN_SIZE + 1)),
             "x: size must be 1..1048576, not 1048577")


TABLE = """
    action a() {{ }}
    table t {{ key = {{ hdr.h.a: exact; }} actions = {{ a; }} size = {size}; }}
"""


def test_table_and_value_set_sizes_are_bounded() -> None:
    program = build("bit<8> a;", "t.apply();",
                    ingress_decls=TABLE.format(size=limits.MAX_TABLE_SIZE))
    assert program.schema.tables[0].size == limits.MAX_TABLE_SIZE
    _refused(source("bit<8> a;", "t.apply();", ingress_decls=TABLE.format(size="1 << 40")),
             "table size must be 0..16777216, not 1099511627776")
    _refused(source("bit<8> a;", "t.apply();", ingress_decls=TABLE.format(size=-1)),
             "table size must be 0..16777216, not -1")
    parser = """
    value_set<bit<8>>({n}) vs;
    state start {{
        pkt.extract(hdr.h);
        transition select(hdr.h.a) {{ vs: accept; default: accept; }}
    }}
"""
    build("bit<8> a;", parser=parser.format(n=limits.MAX_TABLE_SIZE))
    _refused(source("bit<8> a;", parser=parser.format(n=0)),
             "value_set size must be 1..16777216, not 0")
    _refused(source("bit<8> a;", parser=parser.format(n="32w4000000000")),
             "value_set size must be 1..16777216, not 4000000000")


# ------------------------------------------------------------------ nesting


def _nested_ifs(n: int, inner: str) -> str:
    return "if (hdr.h.a != 0) { " * n + inner + " }" * n


def _unsupported(text: str, needle: str, error: str) -> None:
    with pytest.raises(UnsupportedError) as info:
        compile_source(text, "test.p4")
    assert info.value.pos is not None
    assert info.value.pos.line == _line(text, needle), str(info.value)
    assert str(info.value).endswith(f"unsupported: {error}")


def test_expression_nesting_is_bounded() -> None:
    # `hdr.h.a` is two levels (two member accesses), each `+` one more.
    terms = limits.MAX_EXPRESSION_DEPTH - 1
    sw = switch("bit<8> a;", "hdr.h.a = " + " + ".join(["hdr.h.a"] * terms) + ";")
    assert sw.process(0, b"\x03") == [(1, bytes([3 * terms % 256]))]
    text = source("bit<8> a;", "hdr.h.a = " + " + ".join(["hdr.h.a"] * (terms + 1)) + ";")
    _unsupported(text, "hdr.h.a = hdr.h.a +", "expression nested more than 64 levels deep")


def test_statement_nesting_is_bounded() -> None:
    depth = limits.MAX_STATEMENT_DEPTH
    sw = switch("bit<8> a;", _nested_ifs(depth, "hdr.h.a = hdr.h.a + 1;"))
    assert sw.process(0, b"\x05") == [(1, b"\x06")]
    chain = "if (hdr.h.a == 0) { hdr.h.a = 9; } else " * (depth - 1) + "{ hdr.h.a = 1; }"
    switch("bit<8> a;", chain)
    blocks = "{" * (depth + 1) + " hdr.h.a = 1; " + "}" * (depth + 1)
    _unsupported(source("bit<8> a;", blocks), "{{{{", "statements nested more than 32 levels deep")
    _unsupported(source("bit<8> a;", _nested_ifs(depth + 1, "hdr.h.a = 1;")), "if (hdr.h.a",
                 "statements nested more than 32 levels deep")


def test_the_deepest_code_within_the_bounds_compiles_and_runs() -> None:
    """Every statement level and every expression level used at once, with
    the operator whose Python is most deeply bracketed (signed `>>`)."""
    shifts = limits.MAX_EXPRESSION_DEPTH - 2
    chain = "hdr.h.s = " + "(" * shifts + "hdr.h.s" + " >> 1)" * shifts + ";"
    fields = "bit<8> a; int<8> s;"
    sw = switch(fields, _nested_ifs(limits.MAX_STATEMENT_DEPTH - 1, chain))
    assert sw.process(0, b"\x01\x80") == [(1, b"\x01\xff")]
    assert sw.process(0, b"\x01\x7f") == [(1, b"\x01\x00")]


def test_type_argument_nesting_is_bounded() -> None:
    def tuples(n: int) -> str:
        return "tuple<" * n + "bit<8>" + ">" * n + " t;"

    build("bit<8> a;", tuples(limits.MAX_TYPE_DEPTH))
    _unsupported(source("bit<8> a;", tuples(limits.MAX_TYPE_DEPTH + 1)), "tuple<",
                 "type arguments nested more than 16 levels deep")


def _action_chain(n: int) -> str:
    return "action a0() { hdr.h.a = hdr.h.a + 1; }\n" + "".join(
        f"action a{i}() {{ a{i - 1}(); }}\n" for i in range(1, n))


def test_inlined_calls_add_up_to_a_bound() -> None:
    sw = switch("bit<8> a;", "a39();", ingress_decls=_action_chain(40))
    assert sw.process(0, b"\x05") == [(1, b"\x06")]
    text = source("bit<8> a;", "a99();", ingress_decls=_action_chain(100))
    with pytest.raises(UnsupportedError) as info:
        compile_source(text, "test.p4")
    assert "code nested more than 128 levels deep once actions and functions are inlined" \
        in str(info.value)
    assert info.value.pos is not None and info.value.pos.file == "test.p4"


def test_instance_nesting_is_bounded() -> None:
    def chain(n: int) -> str:
        return "control K0(inout bit<8> x) { apply { x = x + 1; } }\n" + "".join(
            f"control K{i}(inout bit<8> x) {{ K{i - 1}() k; apply {{ k.apply(x); }} }}\n"
            for i in range(1, n))

    deepest = limits.MAX_INSTANCE_DEPTH - 1  # under the ingress control
    sw = switch("bit<8> a;", "k.apply(hdr.h.a);", late_decls=chain(deepest),
                ingress_decls=f"K{deepest - 1}() k;")
    assert sw.process(0, b"\x05") == [(1, b"\x06")]
    text = source("bit<8> a;", "k.apply(hdr.h.a);", late_decls=chain(deepest + 1),
                  ingress_decls=f"K{deepest}() k;")
    _unsupported(text, "control K1(", "parser and control instances nested more than 32 "
                 "levels deep")


# ---------------------------------------------------------- preprocessor


def _preprocessor_error(text: str, error: str) -> None:
    with pytest.raises(PreprocessorError) as info:
        compile_source(text, "test.p4")
    assert f"error: {error}" in str(info.value)


def test_if_expressions_are_bounded_and_computed_in_64_bits() -> None:
    depth = limits.MAX_EXPRESSION_DEPTH
    sw = switch("bit<8> a;", f"""
#if {"(" * depth}1{")" * depth} && (1 << 100000000000) == 0 && 0x7fffffffffffffff + 1 < 0
        hdr.h.a = 1;
#endif
""")
    assert sw.process(0, b"\x05") == [(1, b"\x01")]
    _preprocessor_error(source("bit<8> a;", f"\n#if {'(' * (depth + 1)}1{')' * (depth + 1)}"
                               "\n#endif\n"), "#if expression nested more than 64 levels deep")
    _preprocessor_error(source("bit<8> a;", "\n#if 1 << -1\n#endif\n"),
                        "shift by a negative amount in #if expression")
    _preprocessor_error(source("bit<8> a;", "\n#if 0x10000000000000000\n#endif\n"),
                        "integer '0x10000000000000000' in #if expression is too large for 64 "
                        "bits")


def test_macro_expansion_is_bounded_in_depth_and_size() -> None:
    def chain(n: int) -> str:
        return "#define M0 1\n" + "".join(f"#define M{i} M{i - 1}\n" for i in range(1, n))

    depth = limits.MAX_MACRO_DEPTH
    build("bit<8> a;", f"hdr.h.a = M{depth - 1};", decls=chain(depth))
    _preprocessor_error(source("bit<8> a;", f"hdr.h.a = M{depth};", decls=chain(depth + 1)),
                        "macro 'M0' nests too deeply (more than 64 macros inside macros)")
    doubling = "#define A0 x\n" + "".join(f"#define A{i} A{i - 1} A{i - 1}\n"
                                          for i in range(1, 31))
    _preprocessor_error(source("bit<8> a;", "A30", decls=doubling),
                        "macro expansion produces more than 1048576 tokens")


# ------------------------------------------------------------ last resorts


def test_a_caller_short_of_stack_gets_a_compile_error() -> None:
    """The bounds keep p4sim well inside Python's stack; a caller that used
    most of it already still gets a P4SimError, never a RecursionError."""
    text = source("bit<8> a;", "hdr.h.a = hdr.h.a + 1;")

    def down(levels: int) -> None:
        if levels:
            down(levels - 1)
        else:
            compile_source(text, "test.p4")

    depth, frame = 0, sys._getframe()
    while frame.f_back is not None:
        depth, frame = depth + 1, frame.f_back
    with pytest.raises(UnsupportedError, match=r"test\.p4:1:1: unsupported: program nested "
                       "too deeply for the Python stack left to p4sim"):
        down(sys.getrecursionlimit() - depth - 30)


def test_generated_code_past_pythons_own_bounds_is_a_compile_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With p4sim's bounds lifted, 120 nested ifs reach Python's limit of 100
    indentation levels: still a P4SimError naming the program."""
    monkeypatch.setattr(limits, "MAX_STATEMENT_DEPTH", 1000)
    monkeypatch.setattr(limits, "MAX_GENERATED_INDENT", 1000)
    monkeypatch.setattr(limits, "MAX_CODE_DEPTH", 1000)
    with pytest.raises(UnsupportedError, match="program test: the generated pipeline exceeds "
                       "Python's limits"):
        build("bit<8> a;", _nested_ifs(120, "hdr.h.a = 1;"))
