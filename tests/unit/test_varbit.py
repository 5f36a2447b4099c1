"""varbit beyond what tests/stf/varbit.stf runs on p4sim and bmv2: P4Info
(`varbit { max_bitwidth }`, as p4c writes it), P4Runtime's encoding of a
varbit in a digest (`P4Varbit`: the value's bytes and its length in bits),
and what p4sim refuses, with the position, as p4c does."""

from __future__ import annotations

from pathlib import Path

import pytest

from p4sim.compiler import compile_source
from p4sim.errors import P4SourceError
from p4sim.p4info.generate import p4info_to_text
from p4sim.runtime.switch import Switch
from p4sim.server.digests import encode_digest_data
from p4sim.server.p4info_index import DigestRef

STF_PROGRAM = Path(__file__).resolve().parents[1] / "stf" / "varbit.p4"


def with_digest() -> str:
    """tests/stf/varbit.p4 plus a digest of a's kind and varbit data."""
    text = STF_PROGRAM.read_text()
    text = text.replace("struct meta_t { }",
                        "struct dg_t { bit<8> k; varbit<32> v; }\nstruct meta_t { }")
    return text.replace("        sm.egress_spec = 1;\n",
                        "        sm.egress_spec = 1;\n"
                        "        digest<dg_t>(1, {hdr.a.kind, hdr.a.data});\n")


def test_digest_with_a_varbit_in_p4info_and_p4runtime() -> None:
    program = compile_source(with_digest(), "varbit_digest.p4")
    text = p4info_to_text(program.p4info)
    assert "varbit {\n              max_bitwidth: 32\n" in text
    sw = Switch(program)
    sw.process(0, bytes.fromhex("1000" "01aabb02"))
    [(name, values)] = sw.drain_digests()
    assert (name, values) == ("dg_t", (1, (16, 0xAABB)))
    data = encode_digest_data(DigestRef(1, "dg_t", (8, 32), True), values)
    k, v = data.struct.members
    assert k.bitstring == b"\x01"
    assert (v.varbit.bitstring, v.varbit.bitwidth) == (b"\xaa\xbb", 16)


def test_assignment_and_comparison_in_a_control() -> None:
    sw = Switch(compile_source(STF_PROGRAM.read_text(), "varbit.p4"))
    # flags 5: a and b extracted with 16 bits, then b.data = a.data; c = b.
    [(port, out)] = sw.process(0, bytes.fromhex("1005" "01aabb02" "091234" "07"))
    assert port == 1
    assert out.hex().endswith("1005" "01aabb02" "09aabb07" "09aabb07")


@pytest.mark.parametrize(("decl", "use", "message"), [
    ("header v_t { varbit<8> a; varbit<8> b; }", "", "two varbit fields"),
    ("header v_t { bit<8> k; varbit<8> a; }", "pkt.extract(hdr.v);",
     "has a varbit field: extract it with a size"),
    ("header v_t { bit<8> k; }", "pkt.extract(hdr.v, 8);", "extract with a size needs"),
])
def test_refused_with_a_position(decl: str, use: str, message: str) -> None:
    source = f"""
#include <core.p4>
#include <v1model.p4>
{decl}
struct h_t {{ v_t v; }}
struct m_t {{ }}
parser P(packet_in pkt, out h_t hdr, inout m_t m, inout standard_metadata_t sm) {{
    state start {{ {use} transition accept; }}
}}
control C(inout h_t hdr, inout m_t m) {{ apply {{ }} }}
control I(inout h_t hdr, inout m_t m, inout standard_metadata_t sm) {{ apply {{ }} }}
control D(packet_out pkt, in h_t hdr) {{ apply {{ pkt.emit(hdr); }} }}
V1Switch(P(), C(), I(), I(), C(), D()) main;
"""
    with pytest.raises(P4SourceError) as info:
        compile_source(source, "refused.p4")
    assert message in str(info.value)
    assert str(info.value).startswith("refused.p4:")
