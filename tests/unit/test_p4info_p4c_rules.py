"""p4c's P4Info rules p4sim follows, on small programs checked against p4c
1.2.5.16's output: P4Info has a `type_info` (empty when nothing goes in it)
once p4c meets a table, an extern instance, or an extern function called in
a control's apply block or in an action declared in a control (a parser's
calls, `verify`, do not count); actions are listed in p4c's order."""

from __future__ import annotations

import pytest

from p4sim.compiler import compile_source
from p4sim.p4info.generate import p4info_to_text

TEMPLATE = """
#include <core.p4>
#include <v1model.p4>
header h_t {{ bit<8> a; bit<16> c; }}
struct hs_t {{ h_t h; }}
struct m_t {{ }}
{top}
parser P(packet_in pkt, out hs_t hdr, inout m_t m, inout standard_metadata_t sm) {{
    state start {{ pkt.extract(hdr.h); {parser} transition accept; }}
}}
control VC(inout hs_t hdr, inout m_t m) {{ apply {{ }} }}
control I(inout hs_t hdr, inout m_t m, inout standard_metadata_t sm) {{
    {locals}
    apply {{ sm.egress_spec = 1; {apply} }}
}}
control E(inout hs_t hdr, inout m_t m, inout standard_metadata_t sm) {{ apply {{ }} }}
control CC(inout hs_t hdr, inout m_t m) {{ apply {{ }} }}
control D(packet_out pkt, in hs_t hdr) {{ apply {{ pkt.emit(hdr.h); }} }}
V1Switch(P(), VC(), I(), E(), CC(), D()) main;
"""

CHECKSUM = "hash(hdr.h.c, HashAlgorithm.crc16, 16w0, { hdr.h.a }, 16w8);"


@pytest.mark.parametrize(("parts", "has_type_info"), [
    ({}, False),
    ({"parser": "verify(hdr.h.a == 1, error.NoMatch);"}, False),
    ({"apply": "mark_to_drop(sm);"}, True),
    ({"apply": CHECKSUM}, True),
    ({"locals": f"action a() {{ {CHECKSUM} }}", "apply": "a();"}, True),
    ({"locals": "register<bit<8>>(4) r;"}, True),
    ({"locals": "action a() { } table t { key = { hdr.h.a: exact; } actions = { a; } }",
      "apply": "t.apply();"}, True),
])
def test_type_info_is_written_where_p4c_writes_it(parts: dict[str, str],
                                                  has_type_info: bool) -> None:
    fill = {"top": "", "parser": "", "locals": "", "apply": ""} | parts
    text = p4info_to_text(compile_source(TEMPLATE.format(**fill), "t.p4").p4info)
    assert ("\ntype_info {" in text) == has_type_info


def test_actions_in_p4c_order() -> None:
    """p4c lists actions control by control: the top-level ones a control uses
    first (a table without default_action uses NoAction), then the control's
    own in declaration order, not by name."""
    locals_ = """
        action z_last() { }
        action a_first(bit<8> v) { hdr.h.a = v; }
        table t { key = { hdr.h.a: exact; } actions = { a_first; z_last; } }
    """
    fill = {"top": "", "parser": "", "locals": locals_, "apply": "t.apply();"}
    p4info = compile_source(TEMPLATE.format(**fill), "t.p4").p4info
    assert [a.preamble.name for a in p4info.actions] == ["NoAction", "I.z_last", "I.a_first"]


NESTED = """
#include <core.p4>
#include <v1model.p4>
@controller_header("packet_in")
header packet_in_t { bit<9> port; bit<7> pad; }
@controller_header("packet_out")
header packet_out_t { bit<9> port; bit<7> pad; }
header h_t { bit<8> a; bit<8> b; }
struct hs_t { packet_out_t po; h_t h; }
struct m_t { }
struct d2_t { bit<8> a; }
struct d1_t { bit<8> b; }
action top1() { }
action top2() { }
parser P(packet_in pkt, out hs_t hdr, inout m_t m, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.h); transition accept; }
}
control VC(inout hs_t hdr, inout m_t m) { apply { } }
control Sub1(inout hs_t hdr) {
    action s1a() { hdr.h.a = 1; }
    table t1 { key = { hdr.h.a: exact; } actions = { s1a; top2; } }
    apply { t1.apply(); }
}
control Sub2(inout hs_t hdr) {
    action s2a() { hdr.h.a = 2; }
    table t2 { key = { hdr.h.b: exact; } actions = { s2a; top1; } default_action = top1();
               @name("sub_profile") implementation = action_profile(32w4); }
    apply { t2.apply(); }
}
control I(inout hs_t hdr, inout m_t m, inout standard_metadata_t sm) {
    action ia() { hdr.h.b = 3; }
    action report(bit<8> v) { digest<d1_t>(1, { v }); }
    action_profile(32w8) ap;
    Sub1() sub1;
    table ti { key = { hdr.h.b: exact; } actions = { ia; NoAction; } default_action = ia();
               implementation = ap; }
    Sub2() sub2;
    apply {
        sub1.apply(hdr); ti.apply(); sub2.apply(hdr);
        digest<d2_t>(1, { hdr.h.a });
        report(hdr.h.b);
    }
}
control E(inout hs_t hdr, inout m_t m, inout standard_metadata_t sm) { apply { } }
control CC(inout hs_t hdr, inout m_t m) { apply { } }
control D(packet_out pkt, in hs_t hdr) { apply { pkt.emit(hdr.h); } }
V1Switch(P(), VC(), I(), E(), CC(), D()) main;
"""


def test_sub_controls_are_listed_as_p4c_inlines_them() -> None:
    """Tables, actions, action profiles and digests come in the order of the
    control with its sub-controls' declarations in place of their
    instances; an action only called directly has no parameters in P4Info;
    a controller header's id hashes its type's name. (As p4c 1.2.5.16
    writes them for this program.)"""
    p4info = compile_source(NESTED, "nested.p4").p4info
    assert [t.preamble.name for t in p4info.tables] == ["I.sub1.t1", "I.ti", "I.sub2.t2"]
    assert [a.preamble.name for a in p4info.actions] == [
        "top2", "NoAction", "top1", "I.ia", "I.report", "I.sub1.s1a", "I.sub2.s2a"]
    assert [p.preamble.name for p in p4info.action_profiles] == ["I.ap", "sub_profile"]
    assert [d.preamble.name for d in p4info.digests] == ["d1_t", "d2_t"]
    report = next(a for a in p4info.actions if a.preamble.name == "I.report")
    assert not report.params
    assert [(c.preamble.name, c.preamble.id) for c in p4info.controller_packet_metadata] == [
        ("packet_in", 80671331), ("packet_out", 75327753)]


def test_a_serializable_enum_key_is_described_in_type_info() -> None:
    """p4c describes the serializable enums table keys use (members in
    declaration order, values as wide as the underlying type). A negative
    member p4c refuses ("Negative values not supported yet"); p4sim writes
    its two's complement."""
    fill = {"top": "enum bit<16> kind_t { A = 10, B = 0xAB00 }\n"
                   "enum int<8> signed_t { M = -1 }",
            "parser": "", "apply": "t.apply();",
            "locals": "action a() { } table t { key = { (kind_t)hdr.h.c: exact @name(\"k\"); "
                      "(signed_t)(int<8>)hdr.h.a: exact @name(\"s\"); } actions = { a; } }"}
    p4info = compile_source(TEMPLATE.format(**fill), "t.p4").p4info
    kind = p4info.type_info.serializable_enums["kind_t"]
    assert kind.underlying_type.bitwidth == 16
    assert [(m.name, m.value) for m in kind.members] == [("A", b"\x00\n"), ("B", b"\xab\x00")]
    signed = p4info.type_info.serializable_enums["signed_t"]
    assert [(m.name, m.value) for m in signed.members] == [("M", b"\xff")]


def test_what_a_constant_condition_never_reaches_is_not_in_p4info() -> None:
    """p4c folds `if (true)` and `false ? a : b`, then drops the tables and
    actions nothing uses any more (as in p4c's gauntlet_exit_combination_5
    and _21); they still exist in p4sim's pipeline."""
    locals_ = """
        action used() { }
        action dead() { hdr.h.a = 1; }
        table t { key = { hdr.h.a: exact; } actions = { used; } default_action = used(); }
        table never { key = { hdr.h.a: exact; } actions = { used; } default_action = used(); }
    """
    apply = ("if (true) { t.apply(); } else { dead(); } "
             "hdr.h.c = false ? (never.apply().hit ? 16w1 : 16w2) : 16w3;")
    fill = {"top": "", "parser": "", "locals": locals_, "apply": apply}
    p4info = compile_source(TEMPLATE.format(**fill), "t.p4").p4info
    assert [t.preamble.name for t in p4info.tables] == ["I.t"]
    assert [a.preamble.name for a in p4info.actions] == ["I.used"]
