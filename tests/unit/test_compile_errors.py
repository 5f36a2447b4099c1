"""Bad programs are refused with `file:line:col: error: ...` (or `unsupported:`)
at the offending construct, never half-compiled."""

from __future__ import annotations

import pytest
from semantics_harness import build, source

from p4sim.compiler import compile_source
from p4sim.errors import TypeCheckError, UnsupportedError

FIELDS = "bit<8> a; bit<16> b;"


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(("ingress", "message"), [
    ("hdr.h.a = nothere;", "'nothere' is not declared"),
    ("hdr.h.a = hdr.h.b;", "assignment: cannot convert bit<16> to bit<8>"),
    ("hdr.h.a = hdr.h.a + hdr.h.b;", "operator + cannot combine bit<8> and bit<16>"),
    ("hdr.h.zz = 1;", "h_t has no field 'zz'"),
    ("hdr.h.a = true;", "cannot convert bool to bit<8>"),
    ("hdr.h.a = hdr.h.a[8:1];", "slice [8:1] is out of range for bit<8>"),
    ("if (hdr.h.a) { }", "if condition: cannot convert bit<8> to bool"),
    ("hdr.h.a = 8w256;", "value 256 does not fit in bit<8>"),
    ("hdr.h.a = hdr.h.a / 0;", "division by zero"),
    ("bit<8> x = 1; x = x ++ 1;", "operator ++ needs fixed-width operands"),
    ("hdr.h.a = (bit<8>)hdr.h.isValid();", "cannot cast bool to bit<8>"),
    ("nope.apply();", "'nope' is not declared"),
    ("hdr.h.a = (bit<8>)sm.parser_error.minSizeInBits();", "type error has no size in bits"),
    ("hdr.h.a = (bit<8>)hdr.h.maxSizeInBytes(1);", "maxSizeInBytes() takes no arguments"),
])
def test_type_errors_name_file_line_and_column(ingress: str, message: str) -> None:
    text = source(FIELDS, "    " + ingress)
    with pytest.raises(TypeCheckError) as info:
        compile_source(text, "prog.p4")
    error = info.value
    assert error.pos is not None
    assert error.pos.file == "prog.p4"
    assert error.pos.line == _line_of(text, ingress)
    assert message in str(error)
    assert str(error).startswith(f"prog.p4:{error.pos.line}:{error.pos.col}: error: ")


def test_action_parameter_order_and_table_actions_are_checked() -> None:
    with pytest.raises(TypeCheckError, match="directional action parameters must come before"):
        build(FIELDS, ingress_decls="action a(bit<8> v, inout bit<8> x) { x = v; }")
    with pytest.raises(TypeCheckError, match="is not in the actions list"):
        build(FIELDS, "t.apply();", ingress_decls="""
            action a() { } action b() { }
            table t { key = { hdr.h.a: exact; } actions = { a; } default_action = b(); }
        """)
    with pytest.raises(TypeCheckError, match="unknown match kind 'fuzzy'"):
        build(FIELDS, "t.apply();", ingress_decls="""
            action a() { }
            table t { key = { hdr.h.a: fuzzy; } actions = { a; } }
        """)


def test_writing_an_in_parameter_is_refused() -> None:
    with pytest.raises(TypeCheckError, match="'v' is read-only"):
        build(FIELDS, ingress_decls="action a(in bit<8> v) { v = 1; }")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ingress_decls": "Checksum16() ck;"}, "unsupported: extern Checksum16"),
    ({"fields": "bit<3> v;"}, "unsupported: header h_t is 3 bits"),
])
def test_unsupported_constructs_are_refused_at_their_position(kwargs: dict[str, str],
                                                              message: str) -> None:
    fields = kwargs.pop("fields", FIELDS)
    with pytest.raises(UnsupportedError) as info:
        build(fields, **kwargs)
    assert message in str(info.value)
    assert info.value.pos is not None and info.value.pos.file == "test.p4"


def test_unknown_table_properties_are_refused() -> None:
    with pytest.raises(UnsupportedError, match="table property 'psa_idle_timeout'"):
        build(FIELDS, "t.apply();", ingress_decls="""
            action a() { }
            table t { key = { hdr.h.a: exact; } actions = { a; } psa_idle_timeout = true; }
        """)


def test_static_assert_is_checked_at_compile_time() -> None:
    build(FIELDS, decls='const bool ok = static_assert(1 < 2, "fine");')
    with pytest.raises(TypeCheckError, match="table too small"):
        build(FIELDS, decls='const bool bad = static_assert(8 < 2, "table too small");')


def _table_with_entries(kinds: list[str], entries: str) -> str:
    keys = " ".join(f"hdr.h.{f}: {k};" for f, k in zip(("a", "b"), kinds, strict=False))
    return source(FIELDS, "    t.apply();", ingress_decls=f"""
        action set(bit<8> v) {{ hdr.h.a = v; }}
        table t {{
            key = {{ {keys} }}
            actions = {{ set; NoAction; }}
            const entries = {{
{entries}
            }}
        }}
    """)


@pytest.mark.parametrize(("kinds", "entries", "at", "message"), [
    (["exact"], "_ : set(1);", "_ :", "an exact key cannot be _ (don't care)"),
    (["ternary", "exact"], "(1 &&& 0xF, _) : set(1);", "_)", "an exact key cannot be _"),
    (["exact"], "1 &&& 0xF0 : set(1);", "1 &&&", "&&& is not allowed for an exact key"),
    (["range"], "5 .. 1 : set(1);", "5 ..", "range low 0x5 is above high 0x1"),
    (["exact"], "7 : set(1);\n7 : set(2);", "7 : set(2)", "an entry with this match key exists"),
])
def test_bad_const_entries_are_compile_errors_at_the_entry(
        kinds: list[str], entries: str, at: str, message: str) -> None:
    """Not a control-plane error when the switch starts: the compiler names
    the entry (or the key set) that the table would refuse."""
    text = _table_with_entries(kinds, entries)
    with pytest.raises(TypeCheckError) as info:
        compile_source(text, "prog.p4")
    error = info.value
    assert error.pos is not None and error.pos.file == "prog.p4"
    line = _line_of(text, at)
    assert (error.pos.line, error.pos.col) == (line, text.splitlines()[line - 1].index(at) + 1)
    assert message in str(error)


@pytest.mark.parametrize("text", ["", "// nothing here\n", "#if 0\n#endif\n", "#define X 1\n"],
                         ids=["empty", "comment", "false-if", "define"])
def test_a_program_that_preprocesses_to_nothing_is_refused_in_its_own_file(text: str) -> None:
    with pytest.raises(TypeCheckError) as info:
        compile_source(text, "x.p4")
    assert str(info.value) == ("x.p4:1:1: error: the program declares no package instance "
                               "named 'main'")


MINIMAL = """#include <core.p4>
#include <v1model.p4>
header h_t { bit<8> a; }
struct headers_t { h_t h; }
struct meta_t { }
parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.h); transition accept; }
}
control VC(inout headers_t hdr, inout meta_t meta) { apply { } }
control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers_t hdr, inout meta_t meta) { apply { } }
control D(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.h); } }
V1Switch(P(), VC(), I(), E(), CC(), D()) main;
"""


@pytest.mark.parametrize(("old", "new", "needle", "message"), [
    ("V1Switch(P(), VC(),", "V1Switch(VC(), VC(),", "V1Switch",
     "argument 'p' of V1Switch must be a parser of type Parser, not control VC"),
    ("V1Switch(P(), VC(),", "V1Switch(P(), P(),", "V1Switch",
     "argument 'vr' of V1Switch must be a control of type VerifyChecksum, not parser P"),
    ("VC(), I(), E()", "VC(), 3, E()", "V1Switch",
     "argument 'ig' of V1Switch must be an instance of a control of type Ingress"),
    (", D()) main", ") main", "V1Switch", "V1Switch takes 6 arguments, not 5"),
    ("control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm)",
     "control E(inout headers_t hdr, inout meta_t meta, in standard_metadata_t sm)",
     "control E(", "argument 'eg' of V1Switch: parameter 'sm' of E is in, Egress wants inout"),
    ("struct meta_t { }", "struct meta_t { }\nstruct other_t { }",
     "control CC(", "argument 'ck' of V1Switch: parameter 'meta' of CC has type other_t, "
     "ComputeChecksum wants meta_t"),
    ("VC(), I(), E()", "VC(), I(1), E()", "V1Switch", "I takes 0 constructor arguments, not 1"),
], ids=["control-as-parser", "parser-as-control", "not-a-block", "too-few", "direction",
        "type-argument-disagrees", "constructor-arguments"])
def test_package_arguments_are_checked_against_the_package_type(old: str, new: str,
                                                                needle: str,
                                                                message: str) -> None:
    text = MINIMAL.replace(old, new, 1)
    if "other_t" in new:
        text = text.replace("control CC(inout headers_t hdr, inout meta_t meta)",
                            "control CC(inout headers_t hdr, inout other_t meta)")
    with pytest.raises(TypeCheckError) as info:
        compile_source(text, "prog.p4")
    assert info.value.pos is not None
    assert info.value.pos.line == _line_of(text, needle)
    assert str(info.value).endswith(f"error: {message}")


def test_a_named_block_instance_is_a_package_argument() -> None:
    text = MINIMAL.replace("V1Switch(P(), VC(), I(),", "I() ig;\nV1Switch(P(), VC(), ig,")
    compile_source(text, "prog.p4")


def test_priorities_in_const_entries_are_refused_as_p4c_does() -> None:
    """p4c: "Entry: Table with 'const' entries cannot have priorities", at the
    keyset; a non-const `entries` list may carry them."""
    table = """
            action a() { }
            table t {
                key = { hdr.h.a: ternary; }
                actions = { a; }
                %s = {
                    priority = 10: 0x20 &&& 0xF0 : a();
                }
            }
        """
    text = source(FIELDS, "t.apply();", ingress_decls=table % "const entries")
    with pytest.raises(TypeCheckError) as info:
        compile_source(text, "prog.p4")
    line = _line_of(text, "priority = 10")
    col = text.splitlines()[line - 1].index("0x20") + 1
    assert str(info.value) == (f"prog.p4:{line}:{col}: error: Entry: Table with 'const' "
                               "entries cannot have priorities")
    build(FIELDS, "t.apply();", ingress_decls=table % "entries")
