"""Small v1model programs around a snippet, for the semantics tests.

`build(fields=..., ingress=...)` wraps one header `h` (its fields given as P4
source) in a complete program: the parser extracts `h`, ingress runs the
snippet after sending the packet to port 1, the deparser emits `h`. Packets are
built and read with `pack`/`unpack` from the same field list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from p4sim.compiler import CompiledProgram, compile_source
from p4sim.runtime.switch import Switch

TEMPLATE = """
#include <core.p4>
#include <v1model.p4>
{decls}
header h_t {{ {fields} }}
struct headers_t {{ h_t h; {more_headers} }}
struct meta_t {{ {meta} }}
{late_decls}

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta,
         inout standard_metadata_t sm) {{
{parser}
}}
control VC(inout headers_t hdr, inout meta_t meta) {{ apply {{ {verify} }} }}
control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {{
{ingress_decls}
    apply {{
        sm.egress_spec = 1;
{ingress}
    }}
}}
control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {{
{egress_decls}
    apply {{ {egress} }}
}}
control CC(inout headers_t hdr, inout meta_t meta) {{ apply {{ {compute} }} }}
control D(packet_out pkt, in headers_t hdr) {{ apply {{ {deparser} }} }}
V1Switch(P(), VC(), I(), E(), CC(), D()) main;
"""

DEFAULT_PARSER = "    state start { pkt.extract(hdr.h); transition accept; }"


def source(fields: str, ingress: str = "", *, decls: str = "", more_headers: str = "",
           meta: str = "", parser: str = DEFAULT_PARSER, verify: str = "",
           ingress_decls: str = "", egress: str = "", egress_decls: str = "",
           compute: str = "", deparser: str = "pkt.emit(hdr);", late_decls: str = "") -> str:
    """`decls` go before the header types, `late_decls` after them."""
    return TEMPLATE.format(decls=decls, late_decls=late_decls, fields=fields,
                           more_headers=more_headers, meta=meta,
                           parser=parser, verify=verify, ingress_decls=ingress_decls,
                           ingress=ingress, egress_decls=egress_decls, egress=egress,
                           compute=compute, deparser=deparser)


def build(fields: str, ingress: str = "", **kwargs: str) -> CompiledProgram:
    return compile_source(source(fields, ingress, **kwargs), "test.p4")


def switch(fields: str, ingress: str = "", **kwargs: str) -> Switch:
    return Switch(build(fields, ingress, **kwargs))


def widths(fields: str) -> list[tuple[str, int]]:
    """(name, width) of each `bit<W>`/`int<W>` field in a field list."""
    return [(m.group(3), int(m.group(2)))
            for m in re.finditer(r"(bit|int)<(\d+)>\s+(\w+)\s*;", fields)]


def pack(fields: str, values: Sequence[int]) -> bytes:
    spec = widths(fields)
    assert len(spec) == len(values)
    total = 0
    nbits = 0
    for (_, w), v in zip(spec, values, strict=True):
        total = (total << w) | (v & ((1 << w) - 1))
        nbits += w
    return total.to_bytes(nbits // 8, "big")


def unpack(fields: str, data: bytes) -> dict[str, int]:
    spec = widths(fields)
    nbits = sum(w for _, w in spec)
    value = int.from_bytes(data[: nbits // 8], "big")
    out = {}
    shift = nbits
    for name, w in spec:
        shift -= w
        out[name] = (value >> shift) & ((1 << w) - 1)
    return out


def run(sw: Switch, fields: str, values: Sequence[int], port: int = 0) -> dict[str, int]:
    """Send one packet of `h` and return the fields of the single packet out."""
    out = sw.process(port, pack(fields, values))
    assert len(out) == 1, f"expected one packet out, got {out}"
    return unpack(fields, out[0][1])
