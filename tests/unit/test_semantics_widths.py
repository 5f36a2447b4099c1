"""Exact P4 width semantics: every operator at run time (values from the packet)
and folded at compile time (constants) must give the same, expected result."""

from __future__ import annotations

import pytest
from semantics_harness import run, switch

# Operands a, b (unsigned) and sa, sb (signed) come from the packet; results
# land in o<i> fields of the width the expression has.
FIELDS = ("bit<8> a; bit<8> b; int<8> sa; int<8> sb; bit<8> sh; "
          "bit<8> o0; bit<8> o1; bit<8> o2; bit<8> o3; bit<8> o4; bit<8> o5; bit<8> o6; "
          "bit<8> o7; bit<16> w0; bit<16> w1; bit<4> n0; bit<4> n1;")

# (P4 expression over a, b, sa, sb, sh; result field; expected(a, b, sa, sb, sh))
CASES_8 = [
    ("hdr.h.a + hdr.h.b", lambda a, b, sa, sb, sh: (a + b) & 0xFF),
    ("hdr.h.a - hdr.h.b", lambda a, b, sa, sb, sh: (a - b) & 0xFF),
    ("hdr.h.a * hdr.h.b", lambda a, b, sa, sb, sh: (a * b) & 0xFF),
    ("hdr.h.a |+| hdr.h.b", lambda a, b, sa, sb, sh: min(a + b, 255)),
    ("hdr.h.a |-| hdr.h.b", lambda a, b, sa, sb, sh: max(a - b, 0)),
    ("hdr.h.a << hdr.h.sh", lambda a, b, sa, sb, sh: (a << sh) & 0xFF if sh < 8 else 0),
    ("hdr.h.a >> hdr.h.sh", lambda a, b, sa, sb, sh: a >> sh),
    ("~hdr.h.a & 0x0F | hdr.h.b ^ 3", lambda a, b, sa, sb, sh: (~a & 0x0F) | (b ^ 3)),
]


def _signed(v: int) -> int:
    return v - 256 if v & 0x80 else v


def _sat8(v: int) -> int:
    return min(max(v, -128), 127) & 0xFF


CASES_SIGNED = [
    ("(bit<8>)(hdr.h.sa + hdr.h.sb)", lambda a, b, sa, sb, sh: (sa + sb) & 0xFF),
    ("(bit<8>)(hdr.h.sa |+| hdr.h.sb)",
     lambda a, b, sa, sb, sh: _sat8(_signed(sa) + _signed(sb))),
    ("(bit<8>)(hdr.h.sa |-| hdr.h.sb)",
     lambda a, b, sa, sb, sh: _sat8(_signed(sa) - _signed(sb))),
    ("(bit<8>)(hdr.h.sa >> 2)", lambda a, b, sa, sb, sh: (_signed(sa) >> 2) & 0xFF),
    ("(bit<8>)(-hdr.h.sa)", lambda a, b, sa, sb, sh: (-sa) & 0xFF),
]


def _program(cases: list[tuple[str, object]]) -> str:
    return "\n".join(f"hdr.h.o{i} = {expr};" for i, (expr, _) in enumerate(cases))


VALUES = [
    (200, 100, 0x90, 0x85, 3),
    (5, 9, 0x7F, 0x01, 0),
    (255, 255, 0x80, 0xFF, 8),
    (1, 0, 0x10, 0x70, 200),
]


@pytest.mark.parametrize("cases", [CASES_8, CASES_SIGNED], ids=["unsigned", "signed"])
def test_operators_at_run_time_wrap_and_saturate(cases: list) -> None:
    sw = switch(FIELDS, _program(cases))
    for a, b, sa, sb, sh in VALUES:
        out = run(sw, FIELDS, [a, b, sa, sb, sh] + [0] * 12)
        for i, (expr, expected) in enumerate(cases):
            assert out[f"o{i}"] == expected(a, b, sa, sb, sh), (expr, a, b, sa, sb, sh)


@pytest.mark.parametrize("cases", [CASES_8, CASES_SIGNED], ids=["unsigned", "signed"])
def test_constant_folding_agrees_with_run_time(cases: list) -> None:
    a, b, sa, sb, sh = VALUES[0]
    consts = (f"const bit<8> A = {a}; const bit<8> B = {b}; const int<8> SA = {_signed(sa)};"
              f" const int<8> SB = {_signed(sb)}; const bit<8> SH = {sh};")
    folded = [(e.replace("hdr.h.sa", "SA").replace("hdr.h.sb", "SB").replace("hdr.h.sh", "SH")
               .replace("hdr.h.a", "A").replace("hdr.h.b", "B"), f) for e, f in cases]
    sw = switch(FIELDS, _program(folded), decls=consts)
    out = run(sw, FIELDS, [0] * 17)
    for i, (expr, expected) in enumerate(cases):
        assert out[f"o{i}"] == expected(a, b, sa, sb, sh), expr


def test_signed_comparisons_use_twos_complement() -> None:
    sw = switch(FIELDS, """
        hdr.h.o0 = hdr.h.sa < hdr.h.sb ? 8w1 : 8w0;
        hdr.h.o1 = hdr.h.a < hdr.h.b ? 8w1 : 8w0;
        hdr.h.o2 = hdr.h.sa >= 0 ? 8w1 : 8w0;
    """)
    out = run(sw, FIELDS, [0x90, 0x10, 0x90, 0x10, 0] + [0] * 12)  # sa = -112, sb = 16
    assert (out["o0"], out["o1"], out["o2"]) == (1, 0, 0)


def test_concatenation_slices_and_casts() -> None:
    sw = switch(FIELDS, """
        hdr.h.w0 = hdr.h.a ++ hdr.h.b;
        hdr.h.w1 = (bit<16>)hdr.h.sa;
        hdr.h.n0 = hdr.h.a[7:4];
        hdr.h.n1 = (bit<4>)hdr.h.b;
        hdr.h.o0 = (bit<8>)(int<8>)(int<4>)hdr.h.n1;
        hdr.h.o1 = (bit<8>)((bit<16>)((int<16>)hdr.h.sa));
        hdr.h.o2 = (bit<8>)(bit<1>)(bool)hdr.h.a[0:0];
        hdr.h.o3 = (bit<8>)(hdr.h.a == hdr.h.b ? 8w7 : 8w9);
        hdr.h.o4[3:0] = hdr.h.a[7:4];
        hdr.h.o4[7:7] = 1;
    """)
    out = run(sw, FIELDS, [0xAB, 0xCE, 0x85, 0, 0] + [0] * 12)
    assert out["w0"] == 0xABCE
    assert out["w1"] == 0xFF85  # int<8> -123 widened keeps its value, then wraps to 16 bits
    assert out["n0"] == 0xA
    assert out["n1"] == 0xE
    assert out["o0"] == 0xFE  # bit<4> 0xE is int<4> -2, sign-extended to int<8>
    assert out["o1"] == 0x85
    assert out["o2"] == 1
    assert out["o3"] == 9
    assert out["o4"] == 0x8A


def test_int_literals_take_the_width_of_their_context() -> None:
    sw = switch(FIELDS, """
        hdr.h.o0 = hdr.h.a + 300;      // 300 becomes 8w44
        hdr.h.o1 = 1 << 3;
        hdr.h.w0 = 0xFFFF + 2;         // folded as int, then wrapped
        hdr.h.o2 = hdr.h.a << 8;       // shift by at least the width gives 0
        hdr.h.o3 = 8w255 + 8w1;
    """)
    out = run(sw, FIELDS, [1] + [0] * 16)
    assert (out["o0"], out["o1"], out["w0"], out["o2"], out["o3"]) == (45, 8, 1, 0, 0)


def test_shift_by_huge_run_time_amount_is_zero() -> None:
    fields = "bit<32> v; bit<32> amount; bit<32> res;"
    sw = switch(fields, "hdr.h.res = hdr.h.v << hdr.h.amount;")
    assert run(sw, fields, [7, 0xFFFFFFFF, 0])["res"] == 0
    assert run(sw, fields, [7, 31, 0])["res"] == 0x80000000
