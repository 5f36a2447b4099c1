"""What the large programs (tests/p4_programs_large) found p4sim doing
differently from p4c 1.2.5.16, each pinned on a small program with
p4c-bm2-ss's own P4Info text as the expected output:

- `@hidden` tables and actions are left out of P4Info (a table still refers
  to a hidden action by id); hidden externs keep the annotation;
- a serializable enum typing a listed action's parameter, or a digest
  struct's member (`type_spec { serializable_enum }`), is described in
  `type_info`;
- a direct counter or meter goes with the unused table that owned it (p4sim
  crashed on it);
- an instance declared in a control under a type's name (`Sub() packet_out;`)
  is a value there, not the extern type;
- an annotation's body is written as its tokens joined by single spaces
  (`@refers_to(t , f)`, `@a(x > > 1)`), as p4c writes it;
- `type` declarations (new types) give keys, action parameters, controller
  header fields `type_name` and digest members `new_type`, described in
  `type_info.new_types`; with `@p4runtime_translation` P4Info shows the
  translated width (none for a string). The P4Runtime server still takes and
  gives such values in the program's width;
- `digest<T>` with T a typedef of a struct: the digest is named T, its
  type_spec the struct (the server maps the switch's struct name to it);
- `@selector_size_semantics` / `@max_member_weight` on an action selector
  become P4Info's `sum_of_weights` / `sum_of_members` fields; a register of
  `int<W>` is `int { bitwidth }`;
- a control instantiated several times with constructor arguments: a table's
  `size` may be a constructor parameter (p4sim refused it), each instance
  has its own direct counter (p4sim said "used by two tables"), and a table
  behind `if (param)` with the argument false is not in P4Info."""

from __future__ import annotations

from pathlib import Path

from p4sim.compiler import compile_file, compile_source
from p4sim.p4info.generate import p4info_to_text
from p4sim.runtime.switch import Switch
from p4sim.server.p4info_index import P4InfoIndex

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


DIGEST_ENUM_AND_UNUSED_DIRECT = """\
#include <core.p4>
#include <v1model.p4>
header h_t { bit<8> a; bit<8> b; }
struct H { h_t h; }
enum bit<2> dir_t { IN = 1, OUT = 2 }
struct learn_t { bit<8> a; dir_t dir; }
struct M { dir_t dir; }
parser P(packet_in p, out H h, inout M m, inout standard_metadata_t sm) {
    state start { p.extract(h.h); transition accept; }
}
control V(inout H h, inout M m) { apply { } }
control I(inout H h, inout M m, inout standard_metadata_t sm) {
    direct_meter<bit<2>>(MeterType.packets) unused_meter;
    direct_counter(CounterType.packets) unused_counter;
    bit<2> color = 0;
    action read_color() { unused_meter.read(color); unused_counter.count(); }
    table unused { key = { h.h.a : exact; } actions = { read_color; }
                   meters = unused_meter; counters = unused_counter; }
    apply {
        if (false) { unused.apply(); }
        digest<learn_t>(1, { h.h.a, m.dir });
    }
}
control E(inout H h, inout M m, inout standard_metadata_t sm) { apply { } }
control C(inout H h, inout M m) { apply { } }
control D(packet_out p, in H h) { apply { p.emit(h.h); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""

DIGEST_ENUM_AND_UNUSED_DIRECT_P4C = """\
# proto-file: p4/config/v1/p4info.proto
# proto-message: p4.config.v1.P4Info

pkg_info {
  arch: "v1model"
}
digests {
  preamble {
    id: 398033514
    name: "learn_t"
    alias: "learn_t"
  }
  type_spec {
    struct {
      name: "learn_t"
    }
  }
}
type_info {
  structs {
    key: "learn_t"
    value {
      members {
        name: "a"
        type_spec {
          bitstring {
            bit {
              bitwidth: 8
            }
          }
        }
      }
      members {
        name: "dir"
        type_spec {
          serializable_enum {
            name: "dir_t"
          }
        }
      }
    }
  }
  serializable_enums {
    key: "dir_t"
    value {
      underlying_type {
        bitwidth: 2
      }
      members {
        name: "IN"
        value: "\\001"
      }
      members {
        name: "OUT"
        value: "\\002"
      }
    }
  }
}
"""


def test_digest_enum_members_and_direct_resources_of_unused_tables() -> None:
    compiled = compile_source(DIGEST_ENUM_AND_UNUSED_DIRECT, "digest_enum.p4")
    assert p4info_to_text(compiled.p4info) == DIGEST_ENUM_AND_UNUSED_DIRECT_P4C


INSTANCE_NAMED_LIKE_A_TYPE = """\
#include <core.p4>
#include <v1model.p4>
header h_t { bit<8> a; }
struct H { h_t h; }
struct M { }
parser P(packet_in p, out H h, inout M m, inout standard_metadata_t sm) {
    state start { p.extract(h.h); transition accept; }
}
control V(inout H h, inout M m) { apply { } }
control Sub(inout H h) { apply { h.h.a = 1; } }
control I(inout H h, inout M m, inout standard_metadata_t sm) {
    Sub() packet_out;
    apply { packet_out.apply(h); }
}
control E(inout H h, inout M m, inout standard_metadata_t sm) { apply { } }
control C(inout H h, inout M m) { apply { } }
control D(packet_out p, in H h) { apply { p.emit(h.h); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""


def test_an_instance_may_take_a_type_name_in_its_control(tmp_path: Path) -> None:
    program = tmp_path / "shadow.p4"
    program.write_text(INSTANCE_NAMED_LIKE_A_TYPE)
    switch = Switch(compile_file(program))
    # I's apply calls the instance: Sub sets the byte to 1, port 0 is kept.
    assert switch.process(0, bytes([7])) == [(0, bytes([1]))]


ANNOTATION_TOKENS = """\
#include <core.p4>
#include <v1model.p4>
header h_t { bit<8> a; }
struct H { h_t h; }
struct M { }
parser P(packet_in p, out H h, inout M m, inout standard_metadata_t sm) {
    state start { p.extract(h.h); transition accept; }
}
control V(inout H h, inout M m) { apply { } }
control I(inout H h, inout M m, inout standard_metadata_t sm) {
    @a1(x,y) @a2(x , y) @a3(1+2) @a4(f(x)) @a5("s" x) @a6(x.y)
    @a7(-1) @a8(a[3]) @a9(x,  y ,z)
    @c1(8w5, 0x1F, "a\\"b") @c2(a >> 1) @c3(x |+| y ++ z) @c4(a<<2 != 3) @c5(10 .. 20)
    action act() { }
    table t { key = { h.h.a : exact @b1(k=v) @b2(x>=1 && y<2); } actions = { act; } }
    apply { t.apply(); }
}
control E(inout H h, inout M m, inout standard_metadata_t sm) { apply { } }
control C(inout H h, inout M m) { apply { } }
control D(packet_out p, in H h) { apply { p.emit(h.h); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""

ANNOTATION_TOKENS_P4C = """\
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
    annotations: "@b1(k = v)"
    annotations: "@b2(x >= 1 && y < 2)"
    bitwidth: 8
    match_type: EXACT
  }
  action_refs {
    id: 33113852
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
    id: 33113852
    name: "I.act"
    alias: "act"
    annotations: "@a1(x , y)"
    annotations: "@a2(x , y)"
    annotations: "@a3(1 + 2)"
    annotations: "@a4(f ( x ))"
    annotations: "@a5(\\"s\\" x)"
    annotations: "@a6(x . y)"
    annotations: "@a7(- 1)"
    annotations: "@a8(a [ 3 ])"
    annotations: "@a9(x , y , z)"
    annotations: "@c1(8w5 , 0x1F , \\"a\\\\\\"b\\")"
    annotations: "@c2(a > > 1)"
    annotations: "@c3(x |+| y ++ z)"
    annotations: "@c4(a << 2 != 3)"
    annotations: "@c5(10 .. 20)"
  }
}
type_info {
}
"""


def test_annotation_bodies_are_their_tokens_joined_by_spaces() -> None:
    compiled = compile_source(ANNOTATION_TOKENS, "annotations.p4")
    assert p4info_to_text(compiled.p4info) == ANNOTATION_TOKENS_P4C


NEW_TYPES = """\
#include <core.p4>
#include <v1model.p4>
@p4runtime_translation("p4.org/psa/v1/PortId_t", bit<32>)
type bit<9> port_id_t;
@p4runtime_translation("", string)
type bit<10> nexthop_id_t;
type bit<12> vrf_id_t;
typedef bit<16> plain_t;
@controller_header("packet_in")
header packet_in_t { port_id_t ingress_port; bit<7> pad; }
header eth_t { bit<48> dst; bit<48> src; bit<16> type; }
struct H { packet_in_t pin; eth_t eth; }
struct learn_t { port_id_t port; vrf_id_t vrf; bit<48> mac; }
struct M { nexthop_id_t nexthop; vrf_id_t vrf; port_id_t port; plain_t p; }
parser P(packet_in p, out H h, inout M m, inout standard_metadata_t sm) {
    state start { p.extract(h.eth); transition accept; }
}
control V(inout H h, inout M m) { apply { } }
control I(inout H h, inout M m, inout standard_metadata_t sm) {
    action set_nexthop(nexthop_id_t nexthop_id, vrf_id_t vrf, port_id_t port, plain_t p) {
        m.nexthop = nexthop_id; m.vrf = vrf; m.port = port; m.p = p;
    }
    table t {
        key = { m.vrf : exact; m.nexthop : exact; m.port : ternary; m.p : exact; }
        actions = { set_nexthop; }
    }
    apply {
        t.apply();
        digest<learn_t>(1, { m.port, m.vrf, h.eth.src });
    }
}
control E(inout H h, inout M m, inout standard_metadata_t sm) { apply { } }
control C(inout H h, inout M m) { apply { } }
control D(packet_out p, in H h) { apply { p.emit(h); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""

NEW_TYPES_P4C = """\
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
    name: "m.vrf"
    bitwidth: 12
    match_type: EXACT
    type_name {
      name: "vrf_id_t"
    }
  }
  match_fields {
    id: 2
    name: "m.nexthop"
    match_type: EXACT
    type_name {
      name: "nexthop_id_t"
    }
  }
  match_fields {
    id: 3
    name: "m.port"
    bitwidth: 32
    match_type: TERNARY
    type_name {
      name: "port_id_t"
    }
  }
  match_fields {
    id: 4
    name: "m.p"
    bitwidth: 16
    match_type: EXACT
  }
  action_refs {
    id: 25681239
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
    id: 25681239
    name: "I.set_nexthop"
    alias: "set_nexthop"
  }
  params {
    id: 1
    name: "nexthop_id"
    type_name {
      name: "nexthop_id_t"
    }
  }
  params {
    id: 2
    name: "vrf"
    bitwidth: 12
    type_name {
      name: "vrf_id_t"
    }
  }
  params {
    id: 3
    name: "port"
    bitwidth: 32
    type_name {
      name: "port_id_t"
    }
  }
  params {
    id: 4
    name: "p"
    bitwidth: 16
  }
}
controller_packet_metadata {
  preamble {
    id: 80671331
    name: "packet_in"
    alias: "packet_in"
    annotations: "@controller_header(\\"packet_in\\")"
  }
  metadata {
    id: 1
    name: "ingress_port"
    bitwidth: 32
    type_name {
      name: "port_id_t"
    }
  }
  metadata {
    id: 2
    name: "pad"
    bitwidth: 7
  }
}
digests {
  preamble {
    id: 398033514
    name: "learn_t"
    alias: "learn_t"
  }
  type_spec {
    struct {
      name: "learn_t"
    }
  }
}
type_info {
  structs {
    key: "learn_t"
    value {
      members {
        name: "port"
        type_spec {
          new_type {
            name: "port_id_t"
          }
        }
      }
      members {
        name: "vrf"
        type_spec {
          new_type {
            name: "vrf_id_t"
          }
        }
      }
      members {
        name: "mac"
        type_spec {
          bitstring {
            bit {
              bitwidth: 48
            }
          }
        }
      }
    }
  }
  new_types {
    key: "nexthop_id_t"
    value {
      translated_type {
        sdn_string {
        }
      }
    }
  }
  new_types {
    key: "port_id_t"
    value {
      translated_type {
        uri: "p4.org/psa/v1/PortId_t"
        sdn_bitwidth: 32
      }
    }
  }
  new_types {
    key: "vrf_id_t"
    value {
      original_type {
        bitstring {
          bit {
            bitwidth: 12
          }
        }
      }
    }
  }
}
"""


def test_new_types_and_translations_as_p4c_writes_them() -> None:
    compiled = compile_source(NEW_TYPES, "new_types.p4")
    assert p4info_to_text(compiled.p4info) == NEW_TYPES_P4C


def test_the_server_takes_new_type_values_in_the_program_width() -> None:
    compiled = compile_source(NEW_TYPES, "new_types.p4")
    index = P4InfoIndex(compiled.p4info, compiled.schema)
    table = index.tables_by_name["I.t"]
    assert [f.bitwidth for f in table.ordered] == [12, 10, 9, 16]
    action = index.actions_by_name["I.set_nexthop"]
    assert [p.bitwidth for p in action.ordered] == [10, 12, 9, 16]
    assert index.packet_in is not None
    assert index.packet_in.fields == ((1, "ingress_port", 9), (2, "pad", 7))
    assert [d.bitwidths for d in index.digests.values()] == [(9, 12, 48)]


TYPEDEF_DIGEST = """\
#include <core.p4>
#include <v1model.p4>
header eth_t { bit<48> dst; bit<48> src; bit<16> type; }
header vlan_t { bit<16> tci; bit<16> type; }
struct H { eth_t eth; vlan_t vlan; }
struct learn_s { bit<48> mac; bit<9> port; }
typedef learn_s learn_t;
struct M { bit<12> vid; bit<16> stat; }
parser Vlan(packet_in p, inout H h, inout M m) {
    value_set<bit<16>>(2) tpids;
    state start { transition select(p.lookahead<bit<16>>()) { tpids: tag; default: accept; } }
    state tag { p.extract(h.vlan); m.vid = h.vlan.tci[11:0]; transition accept; }
}
parser P(packet_in p, out H h, inout M m, inout standard_metadata_t sm) {
    Vlan() vlan_parser;
    state start { p.extract(h.eth); vlan_parser.apply(p, h, m); transition accept; }
}
control V(inout H h, inout M m) { apply { } }
control Stats(in bit<9> port, inout M m) {
    counter(512, CounterType.packets) pkts;
    register<bit<32>>(512) last;
    action count_it(bit<16> s) { m.stat = s; pkts.count((bit<32>)port); }
    table classify { key = { port : exact @name("port"); } actions = { count_it; NoAction; }
                     default_action = NoAction(); }
    apply { classify.apply(); last.write((bit<32>)port, 1); }
}
control I(inout H h, inout M m, inout standard_metadata_t sm) {
    Stats() in_stats;
    @name("other_stats") Stats() out_stats;
    action fwd(bit<9> port) { sm.egress_spec = port; }
    action drop() { mark_to_drop(sm); }
    table l2 {
        key = { m.vid : exact; h.eth.dst : exact; }
        actions = { fwd; drop; NoAction; }
        default_action = drop();
        const entries = {
            (1, 0xffffffffffff) : drop();
        }
    }
    apply {
        in_stats.apply(sm.ingress_port, m);
        switch (l2.apply().action_run) {
            fwd: { out_stats.apply(sm.egress_spec, m); }
            drop:
            NoAction: { digest<learn_t>(1, { h.eth.src, sm.ingress_port }); }
        }
    }
}
control E(inout H h, inout M m, inout standard_metadata_t sm) { apply { } }
control C(inout H h, inout M m) { apply { } }
control D(packet_out p, in H h) { apply { p.emit(h); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""

TYPEDEF_DIGEST_P4C = """\
# proto-file: p4/config/v1/p4info.proto
# proto-message: p4.config.v1.P4Info

pkg_info {
  arch: "v1model"
}
tables {
  preamble {
    id: 38898185
    name: "I.in_stats.classify"
    alias: "in_stats.classify"
  }
  match_fields {
    id: 1
    name: "port"
    bitwidth: 9
    match_type: EXACT
  }
  action_refs {
    id: 31175312
  }
  action_refs {
    id: 21257015
  }
  initial_default_action {
    action_id: 21257015
  }
  size: 1024
}
tables {
  preamble {
    id: 47255183
    name: "I.other_stats.classify"
    alias: "other_stats.classify"
  }
  match_fields {
    id: 1
    name: "port"
    bitwidth: 9
    match_type: EXACT
  }
  action_refs {
    id: 23649773
  }
  action_refs {
    id: 21257015
  }
  initial_default_action {
    action_id: 21257015
  }
  size: 1024
}
tables {
  preamble {
    id: 42104749
    name: "I.l2"
    alias: "l2"
  }
  match_fields {
    id: 1
    name: "m.vid"
    bitwidth: 12
    match_type: EXACT
  }
  match_fields {
    id: 2
    name: "h.eth.dst"
    bitwidth: 48
    match_type: EXACT
  }
  action_refs {
    id: 31384409
  }
  action_refs {
    id: 32117294
  }
  action_refs {
    id: 21257015
  }
  initial_default_action {
    action_id: 32117294
  }
  size: 1024
  is_const_table: true
  has_initial_entries: true
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
    id: 31175312
    name: "I.in_stats.count_it"
    alias: "in_stats.count_it"
  }
  params {
    id: 1
    name: "s"
    bitwidth: 16
  }
}
actions {
  preamble {
    id: 23649773
    name: "I.other_stats.count_it"
    alias: "other_stats.count_it"
  }
  params {
    id: 1
    name: "s"
    bitwidth: 16
  }
}
actions {
  preamble {
    id: 31384409
    name: "I.fwd"
    alias: "fwd"
  }
  params {
    id: 1
    name: "port"
    bitwidth: 9
  }
}
actions {
  preamble {
    id: 32117294
    name: "I.drop"
    alias: "drop"
  }
}
counters {
  preamble {
    id: 304915273
    name: "I.in_stats.pkts"
    alias: "in_stats.pkts"
  }
  spec {
    unit: PACKETS
  }
  size: 512
}
counters {
  preamble {
    id: 309557060
    name: "I.other_stats.pkts"
    alias: "other_stats.pkts"
  }
  spec {
    unit: PACKETS
  }
  size: 512
}
value_sets {
  preamble {
    id: 50348407
    name: "P.vlan_parser.tpids"
    alias: "tpids"
  }
  match {
    id: 1
    bitwidth: 16
    match_type: EXACT
  }
  size: 2
}
registers {
  preamble {
    id: 384335203
    name: "I.in_stats.last"
    alias: "in_stats.last"
  }
  type_spec {
    bitstring {
      bit {
        bitwidth: 32
      }
    }
  }
  size: 512
}
registers {
  preamble {
    id: 380529312
    name: "I.other_stats.last"
    alias: "other_stats.last"
  }
  type_spec {
    bitstring {
      bit {
        bitwidth: 32
      }
    }
  }
  size: 512
}
digests {
  preamble {
    id: 398033514
    name: "learn_t"
    alias: "learn_t"
  }
  type_spec {
    struct {
      name: "learn_s"
    }
  }
}
type_info {
  structs {
    key: "learn_s"
    value {
      members {
        name: "mac"
        type_spec {
          bitstring {
            bit {
              bitwidth: 48
            }
          }
        }
      }
      members {
        name: "port"
        type_spec {
          bitstring {
            bit {
              bitwidth: 9
            }
          }
        }
      }
    }
  }
}
"""


def test_a_digest_of_a_typedef_is_named_as_written() -> None:
    compiled = compile_source(TYPEDEF_DIGEST, "typedef_digest.p4")
    assert p4info_to_text(compiled.p4info) == TYPEDEF_DIGEST_P4C
    index = P4InfoIndex(compiled.p4info, compiled.schema)
    assert index.digest_ids["learn_t"] == index.digest_ids["learn_s"]


SELECTOR_AND_SIGNED = """\
#include <core.p4>
#include <v1model.p4>
header h_t { bit<8> a; int<8> s; bit<16> b; }
struct H { h_t h; }
struct M { bool flag; bit<16> hash; }
parser P(packet_in p, out H h, inout M m, inout standard_metadata_t sm) {
    state start { p.extract(h.h); transition accept; }
}
control V(inout H h, inout M m) { apply { } }
control I(inout H h, inout M m, inout standard_metadata_t sm) {
    @name(".global_fwd") action fwd(bit<9> port) { sm.egress_spec = port; }
    @name(".drop_it") action drop() { mark_to_drop(sm); }
    @name(".my_selector") @max_group_size(64) @selector_size_semantics("sum_of_weights")
    action_selector(HashAlgorithm.crc32, 32w512, 32w16) sel;
    register<int<8>>(16) signed_reg;
    @name("renamed_meter") meter(8, MeterType.packets) m8;
    table ecmp {
        key = { m.flag : exact; h.h.a : selector; h.h.b : selector; }
        actions = { fwd; drop; }
        implementation = sel;
        size = 128;
    }
    @name(".global_table") table gt {
        key = { h.h.s : ternary; h.h.b : range; }
        actions = { fwd; @tableonly drop; }
        size = 64;
    }
    apply {
        if (ecmp.apply().miss) { gt.apply(); }
        signed_reg.write(0, h.h.s);
        bit<2> c; m8.execute_meter((bit<32>)h.h.a, c);
    }
}
control E(inout H h, inout M m, inout standard_metadata_t sm) { apply { } }
control C(inout H h, inout M m) { apply { } }
control D(packet_out p, in H h) { apply { p.emit(h.h); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""

SELECTOR_AND_SIGNED_P4C = """\
# proto-file: p4/config/v1/p4info.proto
# proto-message: p4.config.v1.P4Info

pkg_info {
  arch: "v1model"
}
tables {
  preamble {
    id: 48078750
    name: "I.ecmp"
    alias: "ecmp"
  }
  match_fields {
    id: 1
    name: "m.flag"
    bitwidth: 1
    match_type: EXACT
  }
  action_refs {
    id: 26092712
  }
  action_refs {
    id: 22522681
  }
  action_refs {
    id: 21257015
    annotations: "@defaultonly"
    scope: DEFAULT_ONLY
  }
  initial_default_action {
    action_id: 21257015
  }
  implementation_id: 291535018
  size: 128
}
tables {
  preamble {
    id: 47246013
    name: "global_table"
    alias: "global_table"
  }
  match_fields {
    id: 1
    name: "h.h.s"
    bitwidth: 8
    match_type: TERNARY
  }
  match_fields {
    id: 2
    name: "h.h.b"
    bitwidth: 16
    match_type: RANGE
  }
  action_refs {
    id: 26092712
  }
  action_refs {
    id: 22522681
    annotations: "@tableonly"
    scope: TABLE_ONLY
  }
  action_refs {
    id: 21257015
    annotations: "@defaultonly"
    scope: DEFAULT_ONLY
  }
  initial_default_action {
    action_id: 21257015
  }
  size: 64
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
    id: 26092712
    name: "global_fwd"
    alias: "global_fwd"
  }
  params {
    id: 1
    name: "port"
    bitwidth: 9
  }
}
actions {
  preamble {
    id: 22522681
    name: "drop_it"
    alias: "drop_it"
  }
}
action_profiles {
  preamble {
    id: 291535018
    name: "my_selector"
    alias: "my_selector"
  }
  table_ids: 48078750
  with_selector: true
  size: 512
  max_group_size: 64
  sum_of_weights {
  }
}
meters {
  preamble {
    id: 340453924
    name: "I.renamed_meter"
    alias: "renamed_meter"
  }
  spec {
    unit: PACKETS
  }
  size: 8
}
registers {
  preamble {
    id: 385495515
    name: "I.signed_reg"
    alias: "signed_reg"
  }
  type_spec {
    bitstring {
      int {
        bitwidth: 8
      }
    }
  }
  size: 16
}
type_info {
}
"""

SUM_OF_MEMBERS_P4C_PROFILE = """\
action_profiles {
  preamble {
    id: 291535018
    name: "my_selector"
    alias: "my_selector"
  }
  table_ids: 48078750
  with_selector: true
  size: 512
  max_group_size: 64
  sum_of_members {
    max_member_weight: 4
  }
}
"""


def test_selector_size_semantics_and_signed_registers() -> None:
    compiled = compile_source(SELECTOR_AND_SIGNED, "selector.p4")
    assert p4info_to_text(compiled.p4info) == SELECTOR_AND_SIGNED_P4C
    members = SELECTOR_AND_SIGNED.replace(
        '@selector_size_semantics("sum_of_weights")',
        '@selector_size_semantics("sum_of_members") @max_member_weight(4)',
    )
    text = p4info_to_text(compile_source(members, "selector.p4").p4info)
    assert SUM_OF_MEMBERS_P4C_PROFILE in text


INSTANCES = """\
#include <core.p4>
#include <v1model.p4>
header h_t { bit<8> a; bit<8> b; }
struct H { h_t h; }
struct M { bit<8> x; }
parser P(packet_in p, out H h, inout M m, inout standard_metadata_t sm) {
    state start { p.extract(h.h); transition accept; }
}
control V(inout H h, inout M m) { apply { } }
control Lookup(in bit<8> k, inout M m)(bit<32> table_size, bool enabled) {
    direct_counter(CounterType.packets) hits;
    action set(bit<8> v) { m.x = v; hits.count(); }
    table t { key = { k : exact @name("key"); } actions = { set; } counters = hits;
              size = table_size; }
    apply { if (enabled) { t.apply(); } }
}
control I(inout H h, inout M m, inout standard_metadata_t sm) {
    Lookup(32w256, true) first;
    Lookup(32w64, false) second;
    Lookup(32w128, true) third;
    apply { first.apply(h.h.a, m); second.apply(h.h.b, m); third.apply(h.h.b, m); }
}
control E(inout H h, inout M m, inout standard_metadata_t sm) { apply { } }
control C(inout H h, inout M m) { apply { } }
control D(packet_out p, in H h) { apply { p.emit(h); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""

INSTANCES_P4C = """\
# proto-file: p4/config/v1/p4info.proto
# proto-message: p4.config.v1.P4Info

pkg_info {
  arch: "v1model"
}
tables {
  preamble {
    id: 44519604
    name: "I.first.t"
    alias: "first.t"
  }
  match_fields {
    id: 1
    name: "key"
    bitwidth: 8
    match_type: EXACT
  }
  action_refs {
    id: 18592996
  }
  action_refs {
    id: 21257015
    annotations: "@defaultonly"
    scope: DEFAULT_ONLY
  }
  initial_default_action {
    action_id: 21257015
  }
  direct_resource_ids: 332036871
  size: 256
}
tables {
  preamble {
    id: 38358027
    name: "I.third.t"
    alias: "third.t"
  }
  match_fields {
    id: 1
    name: "key"
    bitwidth: 8
    match_type: EXACT
  }
  action_refs {
    id: 27330367
  }
  action_refs {
    id: 21257015
    annotations: "@defaultonly"
    scope: DEFAULT_ONLY
  }
  initial_default_action {
    action_id: 21257015
  }
  direct_resource_ids: 331595299
  size: 128
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
    id: 18592996
    name: "I.first.set"
    alias: "first.set"
  }
  params {
    id: 1
    name: "v"
    bitwidth: 8
  }
}
actions {
  preamble {
    id: 27330367
    name: "I.third.set"
    alias: "third.set"
  }
  params {
    id: 1
    name: "v"
    bitwidth: 8
  }
}
direct_counters {
  preamble {
    id: 332036871
    name: "I.first.hits"
    alias: "first.hits"
  }
  spec {
    unit: PACKETS
  }
  direct_table_id: 44519604
}
direct_counters {
  preamble {
    id: 331595299
    name: "I.third.hits"
    alias: "third.hits"
  }
  spec {
    unit: PACKETS
  }
  direct_table_id: 38358027
}
type_info {
}
"""


def test_control_instances_with_constructor_arguments() -> None:
    compiled = compile_source(INSTANCES, "instances.p4")
    assert p4info_to_text(compiled.p4info) == INSTANCES_P4C
    # The pipeline still has the disabled instance's table, at its size.
    tables = {t.name: t.size for t in compiled.lowered.tables}
    assert tables == {"I.first.t": 256, "I.second.t": 64, "I.third.t": 128}
