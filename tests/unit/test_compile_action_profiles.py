"""Tables with `implementation = action_profile(...)` / `action_selector(...)`:
the schema and P4Info a compile produces (p4c's names and ids, hidden
selector keys, `@max_group_size`) and the programs refused at compile time."""

from __future__ import annotations

import pytest
from paths import P4RUNTIME_PROGRAMS
from semantics_harness import build

from p4sim.compiler import compile_file, compile_source
from p4sim.errors import TypeCheckError, UnsupportedError

FIELDS = "bit<32> addr; bit<16> port;"

# The control of p4c's testdata/p4_16_samples/action_profile-bmv2.p4 and
# action_selector_shared-bmv2.p4, rewritten; the ids are those of p4c's
# P4Info outputs for those samples.
P4C_LIKE = """
#include <core.p4>
#include <v1model.p4>
struct H { }
struct M { bit<32> hash1; }
parser ParserI(packet_in pk, out H hdr, inout M meta, inout standard_metadata_t smeta) {
    state start { transition accept; }
}
control IngressI(inout H hdr, inout M meta, inout standard_metadata_t smeta) {
    action drop() { mark_to_drop(smeta); }
    action_selector(HashAlgorithm.identity, 32w1024, 32w10) as;
    table indirect {
        key = { }
        actions = { drop; NoAction; }
        const default_action = NoAction();
        @name("ap") implementation = action_profile(32w128);
    }
    table indirect_ws {
        key = { meta.hash1 : selector; }
        actions = { drop; NoAction; }
        const default_action = NoAction();
        @name("ap_ws") implementation = action_selector(HashAlgorithm.identity, 32w1024, 32w10);
    }
    table indirect_ws_1 {
        key = { meta.hash1 : selector; }
        actions = { drop; NoAction; }
        const default_action = NoAction();
        implementation = as;
    }
    apply { indirect.apply(); indirect_ws.apply(); indirect_ws_1.apply(); }
}
control EgressI(inout H hdr, inout M meta, inout standard_metadata_t smeta) { apply { } }
control DeparserI(packet_out pk, in H hdr) { apply { } }
control VerifyChecksumI(inout H hdr, inout M meta) { apply { } }
control ComputeChecksumI(inout H hdr, inout M meta) { apply { } }
V1Switch(ParserI(), VerifyChecksumI(), IngressI(), EgressI(), ComputeChecksumI(),
         DeparserI()) main;
"""


def test_profiles_get_p4c_names_ids_and_table_links() -> None:
    info = compile_source(P4C_LIKE, "p4c_like.p4").p4info
    profiles = {p.preamble.name: p for p in info.action_profiles}
    tables = {t.preamble.name: t for t in info.tables}
    # An in-place profile takes its @name as written, without the control.
    assert profiles["ap"].preamble.id == 294074782
    assert profiles["ap_ws"].preamble.id == 300324846
    assert profiles["IngressI.as"].preamble.id == 291652621
    assert tables["IngressI.indirect"].preamble.id == 46872340
    assert tables["IngressI.indirect_ws"].preamble.id == 38116258
    assert tables["IngressI.indirect"].implementation_id == 294074782
    assert tables["IngressI.indirect_ws"].implementation_id == 300324846
    assert tables["IngressI.indirect_ws_1"].implementation_id == 291652621
    assert (profiles["ap"].size, profiles["ap"].with_selector) == (128, False)
    assert (profiles["ap_ws"].size, profiles["ap_ws"].with_selector) == (1024, True)
    assert list(profiles["ap"].table_ids) == [46872340]
    assert list(profiles["IngressI.as"].table_ids) == [tables["IngressI.indirect_ws_1"].preamble.id]


def test_selector_keys_are_not_match_fields_but_keep_their_numbers() -> None:
    program = compile_file(P4RUNTIME_PROGRAMS / "action_profiles.p4")
    routes = next(t for t in program.p4info.tables if t.preamble.name == "MyIngress.routes")
    assert [(f.id, f.name) for f in routes.match_fields] == [(1, "hdr.ipv4.dstAddr")]
    info = next(t for t in program.schema.tables if t.name == "MyIngress.routes")
    assert [f.match_type for f in info.match_fields] == ["lpm"] + ["selector"] * 4
    assert info.implementation == "MyIngress.ecmp_selector"


def test_max_group_size_annotation_reaches_the_p4info_and_the_switch() -> None:
    program = compile_file(P4RUNTIME_PROGRAMS / "action_profiles.p4")
    selector = next(p for p in program.p4info.action_profiles if p.with_selector)
    assert (selector.preamble.name, selector.size, selector.max_group_size) == (
        "MyIngress.ecmp_selector", 64, 16)
    assert not any("max_group_size" in a for a in selector.preamble.annotations)
    plan = next(p for p in program.lowered.action_profiles if p.algorithm is not None)
    assert (plan.algorithm, plan.max_group_size, plan.tables) == (
        "crc16", 16, ["MyIngress.routes"])


def test_an_unused_selector_is_still_declared_with_no_tables() -> None:
    program = build(FIELDS, ingress_decls=(
        "@brief(\"spare\") action_selector(HashAlgorithm.crc32, 32w16, 32w8) spare;"))
    (profile,) = program.p4info.action_profiles
    assert profile.preamble.name == "I.spare"
    assert profile.preamble.doc.brief == "spare"
    assert list(profile.table_ids) == [] and profile.with_selector


def table(key: str, implementation: str, extra: str = "") -> str:
    return f"""
        action fwd(bit<9> p) {{ sm.egress_spec = p; }}
        counter(4, CounterType.packets) c;
        table t {{
            key = {{ {key} }}
            actions = {{ fwd; NoAction; }}
            {implementation}
            {extra}
        }}
    """


@pytest.mark.parametrize(("decls", "error", "message"), [
    (table("hdr.h.addr: exact; hdr.h.port: selector;", ""), TypeCheckError,
     "a selector key needs implementation = action_selector(...)"),
    (table("hdr.h.addr: exact; hdr.h.port: selector;", "implementation = action_profile(8);"),
     TypeCheckError, "a selector key needs implementation = action_selector(...)"),
    (table("hdr.h.addr: exact;", "implementation = c;"), TypeCheckError,
     "implementation must name an action_profile or action_selector instance"),
    (table("hdr.h.addr: exact;", "implementation = 3;"), TypeCheckError,
     "implementation must be an action_profile or action_selector"),
    (table("hdr.h.addr: exact;", "implementation = action_profile(0);"), TypeCheckError,
     "action_profile size must be a positive constant"),
    (table("hdr.h.addr: exact;", "implementation = action_profile(8);",
           "const entries = { 1: fwd(2); }"), UnsupportedError,
     "entries in table t, which has an action profile implementation"),
    (table("hdr.h.addr: exact;", "implementation = action_profile(32w1 << 30);"),
     TypeCheckError, "action_profile size must be 1..16777216"),
    (table("hdr.h.addr: exact; hdr.h.port: selector;", "@max_group_size(20000) "
           "implementation = action_selector(HashAlgorithm.crc16, 64, 14);"),
     UnsupportedError, "@max_group_size(20000): p4sim groups hold at most 16384"),
])
def test_bad_implementations_are_refused_at_their_position(
        decls: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        build(FIELDS, ingress_decls=decls)
    assert message in str(info.value)
    assert str(info.value).startswith("test.p4:")
