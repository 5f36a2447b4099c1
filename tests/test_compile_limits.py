"""p4sim's bounds on a program (p4sim/limits.py): a program at a bound
compiles and runs, one step past it is a compile error at the construct.

P4 source arrives from the network in SetForwardingPipelineConfig, so a
program must never make the compiler or the switch allocate without bound.
"""

from __future__ import annotations

import pytest
from semantics_harness import build, pack, source, switch

from p4sim import limits
from p4sim.compiler import compile_source
from p4sim.errors import ParseError, TypeCheckError


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
    assert len([*ok.registers.values(), *ok.counters.values(), *ok.meters.values()][0]) == \
        limits.MAX_EXTERN_SIZE
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
