"""`@hidden` objects and serializable enums typing action parameters in
P4Info, as p4c 1.2.5.16 writes them: hidden tables and actions are left out
(a table still refers to a hidden action by id), hidden externs keep the
annotation, and an enum typing a listed action's parameter is described in
`type_info` like one typing a key. The expected text is p4c-bm2-ss's output
for PROGRAM."""

from __future__ import annotations

from p4sim.compiler import compile_source
from p4sim.p4info.generate import p4info_to_text

PROGRAM = """\
#include <core.p4>
#include <v1model.p4>
header h_t { bit<8> a; bit<8> b; }
struct H { h_t h; }
enum bit<4> kind_t { A = 1, B = 2 }
struct M { kind_t k; }
parser P(packet_in p, out H h, inout M m, inout standard_metadata_t sm) {
    state start { p.extract(h.h); transition accept; }
}
control V(inout H h, inout M m) { apply { } }
control I(inout H h, inout M m, inout standard_metadata_t sm) {
    @hidden action hid(bit<8> v) { h.h.b = v; }
    action vis() { h.h.b = 1; }
    @hidden action in_table() { h.h.b = 2; }
    action set_kind(kind_t k) { m.k = k; }
    @hidden register<bit<8>>(4) hreg;
    @hidden counter(4, CounterType.packets) hctr;
    @hidden table ht { key = { h.h.a : exact; } actions = { vis; in_table; } }
    table t { key = { h.h.a : exact; } actions = { set_kind; in_table; } }
    apply { hid(3); vis(); ht.apply(); t.apply(); hreg.write(0, 1); hctr.count(0); }
}
control E(inout H h, inout M m, inout standard_metadata_t sm) { apply { } }
control C(inout H h, inout M m) { apply { } }
control D(packet_out p, in H h) { apply { p.emit(h.h); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""

P4C_P4INFO = """\
# proto-file: p4/config/v1/p4info.proto
# proto-message: p4.config.v1.P4Info

pkg_info {
  arch: "v1model"
}
tables {
  preamble {
    id: 49059515
    name: "I.t"
    alias: "t"
  }
  match_fields {
    id: 1
    name: "h.h.a"
    bitwidth: 8
    match_type: EXACT
  }
  action_refs {
    id: 29489624
  }
  action_refs {
    id: 19391591
  }
  action_refs {
    id: 21257015
    annotations: "@defaultonly"
    scope: DEFAULT_ONLY
  }
  initial_default_action {
    action_id: 21257015
  }
  size: 1024
}
actions {
  preamble {
    id: 21257015
    name: "NoAction"
    alias: "NoAction"
    annotations: "@noWarn(\\"unused\\")"
  }
}
actions {
  preamble {
    id: 19160573
    name: "I.vis"
    alias: "vis"
  }
}
actions {
  preamble {
    id: 29489624
    name: "I.set_kind"
    alias: "set_kind"
  }
  params {
    id: 1
    name: "k"
    bitwidth: 4
  }
}
counters {
  preamble {
    id: 310165464
    name: "I.hctr"
    alias: "hctr"
    annotations: "@hidden"
  }
  spec {
    unit: PACKETS
  }
  size: 4
}
registers {
  preamble {
    id: 379457164
    name: "I.hreg"
    alias: "hreg"
    annotations: "@hidden"
  }
  type_spec {
    bitstring {
      bit {
        bitwidth: 8
      }
    }
  }
  size: 4
}
type_info {
  serializable_enums {
    key: "kind_t"
    value {
      underlying_type {
        bitwidth: 4
      }
      members {
        name: "A"
        value: "\\001"
      }
      members {
        name: "B"
        value: "\\002"
      }
    }
  }
}
"""


def test_hidden_objects_and_action_parameter_enums_as_p4c_writes_them() -> None:
    compiled = compile_source(PROGRAM, "hidden.p4")
    assert p4info_to_text(compiled.p4info) == P4C_P4INFO


def test_hidden_table_and_action_still_run() -> None:
    """Only P4Info leaves them out: the pipeline applies the hidden table and
    calls the hidden action."""
    compiled = compile_source(PROGRAM, "hidden.p4")
    assert "I.ht" in {t.name for t in compiled.schema.tables}
