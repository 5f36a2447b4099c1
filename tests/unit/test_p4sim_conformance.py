"""P4_16 constructs p4sim runs for conformance with p4c's corpus (issue 12),
and the errors they give when misused. Behaviour is covered by STF cases in
tests/stf (compound_assign, for_loops, ...); these are the refusals."""

from __future__ import annotations

import pytest
from semantics_harness import build, run, source, switch

from p4sim.compiler import compile_source
from p4sim.errors import P4SourceError, ParseError, TypeCheckError, UnsupportedError

FIELDS = "bit<8> a; bit<8> b;"


@pytest.mark.parametrize(("ingress", "error", "message"), [
    ("break;", TypeCheckError, "break outside a for loop"),
    ("if (hdr.h.a == 0) { continue; }", TypeCheckError, "continue outside a for loop"),
    ("for (bit<8> i = 0; i; i = i + 1) { }", TypeCheckError,
     "for condition: cannot convert bit<8> to bool"),
    ("for (bit<8> i in 0 .. 3) { }", UnsupportedError, "for-in loop"),
    ("hdr.h.a += true;", TypeCheckError, r"operator \+ cannot combine bit<8> and bool"),
    ("hdr.h.isValid() += 1;", ParseError, "unexpected '\\+='"),
])
def test_loops_and_compound_assignments_are_checked(
        ingress: str, error: type[P4SourceError], message: str) -> None:
    text = source(FIELDS, "    " + ingress)
    with pytest.raises(error, match=message) as info:
        compile_source(text, "prog.p4")
    assert str(info.value).startswith("prog.p4:")


def test_loop_variable_is_scoped_to_its_loop() -> None:
    with pytest.raises(TypeCheckError, match="'i' is not declared"):
        build(FIELDS, "for (bit<8> i = 0; i < 2; i = i + 1) { } hdr.h.a = i;")


def test_return_inside_nested_loops_of_an_action_leaves_the_action() -> None:
    sw = switch(FIELDS, "a();", ingress_decls="""
        action a() {
            for (bit<8> i = 0; i < 4; i = i + 1) {
                for (bit<8> j = 0; j < 4; j = j + 1) {
                    if (i * 4 + j == hdr.h.a) { return; }
                    hdr.h.b = hdr.h.b + 1;
                }
            }
            hdr.h.b = 0xEE;
        }""")
    assert run(sw, FIELDS, [6, 0])["b"] == 6
    assert run(sw, FIELDS, [16, 0])["b"] == 0xEE


def test_loop_in_a_function_returns_from_the_function() -> None:
    sw = switch(FIELDS, "hdr.h.b = first_at_least(hdr.h.a);", decls="""
        bit<8> first_at_least(in bit<8> n) {
            for (bit<8> i = 0; i < 100; i = i + 10) { if (i >= n) { return i; } }
            return 255;
        }""")
    assert run(sw, FIELDS, [25, 0])["b"] == 30
    assert run(sw, FIELDS, [101, 0])["b"] == 255
