"""P4Info generation matches what p4c emits for the same program.

Ids observed in P4Info files that p4c generated (public tutorials and
examples) pin the id rule; whole-text comparisons pin the layout.
"""

from __future__ import annotations

import pytest
from finsy.proto import p4i
from google.protobuf import text_format

from p4sim.errors import TypeCheckError
from p4sim.p4info.generate import build_p4info, p4info_to_text
from p4sim.p4info.ids import PREFIXES, SuffixSet, allocate_ids, jenkins_one_at_a_time
from p4sim.runtime.schema import (
    ActionInfo,
    ActionParamInfo,
    ActionProfileInfo,
    ActionRefInfo,
    ControllerHeaderInfo,
    CounterInfo,
    DigestInfo,
    MatchFieldInfo,
    MeterInfo,
    ProgramSchema,
    RegisterInfo,
    StructMemberInfo,
    TableInfo,
    ValueSetInfo,
)

# (resource kind, control-plane name, id that p4c gave it). Sources: the p4lang
# tutorials' basic.p4 / basic_tunnel.p4 P4Info, the ONF ngsdn tutorial's and
# finsy's l2_switch P4Info, SONiC/Stratum P4Info (controller header ids hash
# the header *type* name).
P4C_IDS = [
    ("table", "MyIngress.ipv4_lpm", 37375156),
    ("table", "MyIngress.myTunnel_exact", 35862311),
    ("action", "NoAction", 21257015),
    ("action", "MyIngress.drop", 25652968),
    ("action", "MyIngress.ipv4_forward", 28792405),
    ("counter", "MyIngress.ingressTunnelCounter", 315557958),
    ("counter", "igPortsCounts", 316239238),
    ("direct_counter", "l2_exact_table_counter", 334804396),
    ("action_profile", "IngressPipeImpl.ecmp_selector", 299582234),
    ("digest", "digest_t", 389049336),
    ("controller_header", "packet_in_header_t", 81826293),
    ("controller_header", "cpu_in_header_t", 69098127),
]


@pytest.mark.parametrize(("kind", "name", "expected"), P4C_IDS)
def test_ids_match_the_ones_p4c_emitted(kind: str, name: str, expected: int) -> None:
    assert allocate_ids(kind, [name], {}) == {name: expected}
    assert expected == PREFIXES[kind] << 24 | jenkins_one_at_a_time(name.encode()) & 0xFFFFFF


def test_a_hash_collision_probes_the_next_id_in_name_order() -> None:
    # Both names hash to 0x..aecb97 in their low 24 bits. "MyIngress.t8641"
    # sorts first and keeps the hash; "MyIngress.t959" moves to the next one.
    ids = allocate_ids("table", ["MyIngress.t959", "MyIngress.t8641"], {})
    assert ids == {"MyIngress.t8641": 0x02AECB97, "MyIngress.t959": 0x02AECB98}


def test_explicit_ids_win_get_the_prefix_and_push_hashed_ids_away() -> None:
    taken = 0x02000000 | jenkins_one_at_a_time(b"MyIngress.a") & 0xFFFFFF
    ids = allocate_ids(
        "table", ["MyIngress.a", "MyIngress.b", "MyIngress.c"], {"MyIngress.b": taken, ".c": 5}
    )
    assert ids["MyIngress.b"] == taken
    assert ids["MyIngress.a"] == taken + 1
    assert ids["c"] == 0x02000005  # a global @name loses its leading dot


def test_bad_explicit_ids_are_rejected() -> None:
    with pytest.raises(TypeCheckError, match="not a valid table id"):
        allocate_ids("table", [], {"t": 0x01000001})
    with pytest.raises(TypeCheckError, match="assigned to two tables"):
        allocate_ids("table", [], {"t": 1, "u": 0x02000001})


def test_aliases_are_the_shortest_suffix_unique_across_all_kinds() -> None:
    names = SuffixSet(["MyIngress.t", "MyEgress.t", "MyIngress.fwd", "c", "MyIngress.c"])
    assert names.alias("MyIngress.t") == "MyIngress.t"
    assert names.alias("MyIngress.fwd") == "fwd"
    assert names.alias("c") == "c"
    assert names.alias("MyIngress.c") == "MyIngress.c"


def basic_routing() -> ProgramSchema:
    """The p4lang tutorials' basic.p4: one lpm table, three actions."""
    return ProgramSchema(
        tables=[
            TableInfo(
                "MyIngress.ipv4_lpm",
                (MatchFieldInfo("hdr.ipv4.dstAddr", "lpm", 32),),
                (
                    ActionRefInfo("MyIngress.ipv4_forward"),
                    ActionRefInfo("MyIngress.drop"),
                    ActionRefInfo("NoAction"),
                ),
                1024,
                default_action="MyIngress.drop",
            )
        ],
        actions=[
            ActionInfo("NoAction", (), ('@noWarn("unused")',)),
            ActionInfo("MyIngress.drop", ()),
            ActionInfo(
                "MyIngress.ipv4_forward",
                (ActionParamInfo("dstAddr", 48), ActionParamInfo("port", 9)),
            ),
        ],
    )


BASIC_ROUTING_P4INFO = """\
# proto-file: p4/config/v1/p4info.proto
# proto-message: p4.config.v1.P4Info

pkg_info {
  arch: "v1model"
}
tables {
  preamble {
    id: 37375156
    name: "MyIngress.ipv4_lpm"
    alias: "ipv4_lpm"
  }
  match_fields {
    id: 1
    name: "hdr.ipv4.dstAddr"
    bitwidth: 32
    match_type: LPM
  }
  action_refs {
    id: 28792405
  }
  action_refs {
    id: 25652968
  }
  action_refs {
    id: 21257015
  }
  initial_default_action {
    action_id: 25652968
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
    id: 25652968
    name: "MyIngress.drop"
    alias: "drop"
  }
}
actions {
  preamble {
    id: 28792405
    name: "MyIngress.ipv4_forward"
    alias: "ipv4_forward"
  }
  params {
    id: 1
    name: "dstAddr"
    bitwidth: 48
  }
  params {
    id: 2
    name: "port"
    bitwidth: 9
  }
}
type_info {
}
"""


def test_basic_routing_p4info_is_what_p4c_emits() -> None:
    assert p4info_to_text(build_p4info(basic_routing())) == BASIC_ROUTING_P4INFO


def test_p4info_text_parses_back_to_the_same_message() -> None:
    message = build_p4info(basic_routing())
    parsed = text_format.Parse(p4info_to_text(message), p4i.P4Info())
    assert parsed == message


def every_feature() -> ProgramSchema:
    return ProgramSchema(
        tables=[
            TableInfo(
                "MyIngress.acl",
                (
                    MatchFieldInfo("hdr.ipv4.srcAddr", "ternary", 32),
                    MatchFieldInfo("meta.hash", "selector", 16),
                    MatchFieldInfo("dport", "range", 16, ('@name("dport")',)),
                    MatchFieldInfo("hdr.ipv4.protocol", "optional", 8),
                ),
                (ActionRefInfo("MyIngress.drop"), ActionRefInfo("NoAction", "DEFAULT_ONLY")),
                256,
                const_default_action="NoAction",
                direct_counter="MyIngress.acl_hits",
                direct_meter="MyIngress.acl_rate",
                annotations=('@brief("drops unwanted traffic")',),
            ),
            TableInfo(
                "MyIngress.flows",
                (MatchFieldInfo("hdr.ipv4.dstAddr", "exact", 32),),
                (ActionRefInfo("MyIngress.set_port"),),
                4096,
                idle_timeout=True,
                implementation="MyIngress.ecmp",
                explicit_id=7,
            ),
            TableInfo(
                "MyEgress.fixed",
                (MatchFieldInfo("standard_metadata.egress_port", "exact", 9),),
                (ActionRefInfo("MyEgress.set_port", "TABLE_ONLY"), ActionRefInfo("NoAction")),
                1024,
                is_const_table=True,
                has_initial_entries=True,
            ),
        ],
        actions=[
            ActionInfo("NoAction", (), ('@noWarn("unused")',)),
            ActionInfo("MyIngress.drop", ()),
            ActionInfo("MyIngress.set_port", (ActionParamInfo("port", 9),), ('@name("set_port")',)),
            ActionInfo("MyEgress.set_port", (ActionParamInfo("port", 9),)),
        ],
        counters=[
            CounterInfo("MyIngress.acl_hits", "BOTH", 0, direct_table="MyIngress.acl"),
            CounterInfo("MyIngress.port_bytes", "BYTES", 512),
        ],
        meters=[
            MeterInfo("MyIngress.acl_rate", "BYTES", 0, direct_table="MyIngress.acl"),
            MeterInfo("MyIngress.port_rate", "PACKETS", 512),
        ],
        registers=[RegisterInfo("MyIngress.last_seen", 48, 1024)],
        digests=[
            DigestInfo("learn_t", (StructMemberInfo("srcAddr", 48), StructMemberInfo("port", 9)))
        ],
        controller_headers=[
            ControllerHeaderInfo(
                "packet_in",
                ((1, "ingress_port", 9), (2, "_pad", 7)),
                ('@controller_header("packet_in")',),
                type_name="packet_in_header_t",
            ),
            ControllerHeaderInfo(
                "packet_out",
                ((1, "egress_port", 9), (2, "_pad", 7)),
                type_name="packet_out_header_t",
            ),
        ],
        value_sets=[ValueSetInfo("MyParser.tpids", 4, (MatchFieldInfo("", "exact", 16),))],
        action_profiles=[
            ActionProfileInfo(
                "MyIngress.ecmp", ("MyIngress.flows",), 128, with_selector=True, max_group_size=16
            )
        ],
    )


# Ids below are the p4c rule applied by hand to each name (the rule itself is
# pinned by P4C_IDS above); e.g. MyIngress.flows has @id(7) -> 0x02000007.
EVERY_FEATURE_P4INFO = """\
# proto-file: p4/config/v1/p4info.proto
# proto-message: p4.config.v1.P4Info

pkg_info {
  arch: "v1model"
}
tables {
  preamble {
    id: 37519123
    name: "MyIngress.acl"
    alias: "acl"
    doc {
      brief: "drops unwanted traffic"
    }
  }
  match_fields {
    id: 1
    name: "hdr.ipv4.srcAddr"
    bitwidth: 32
    match_type: TERNARY
  }
  match_fields {
    id: 3
    name: "dport"
    bitwidth: 16
    match_type: RANGE
  }
  match_fields {
    id: 4
    name: "hdr.ipv4.protocol"
    bitwidth: 8
    match_type: OPTIONAL
  }
  action_refs {
    id: 25652968
  }
  action_refs {
    id: 21257015
    annotations: "@defaultonly"
    scope: DEFAULT_ONLY
  }
  const_default_action_id: 21257015
  direct_resource_ids: 332648530
  direct_resource_ids: 353146478
  size: 256
}
tables {
  preamble {
    id: 33554439
    name: "MyIngress.flows"
    alias: "flows"
  }
  match_fields {
    id: 1
    name: "hdr.ipv4.dstAddr"
    bitwidth: 32
    match_type: EXACT
  }
  action_refs {
    id: 29586029
  }
  implementation_id: 294941400
  size: 4096
  idle_timeout_behavior: NOTIFY_CONTROL
}
tables {
  preamble {
    id: 33896458
    name: "MyEgress.fixed"
    alias: "fixed"
  }
  match_fields {
    id: 1
    name: "standard_metadata.egress_port"
    bitwidth: 9
    match_type: EXACT
  }
  action_refs {
    id: 21302330
    annotations: "@tableonly"
    scope: TABLE_ONLY
  }
  action_refs {
    id: 21257015
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
    id: 25652968
    name: "MyIngress.drop"
    alias: "drop"
  }
}
actions {
  preamble {
    id: 29586029
    name: "MyIngress.set_port"
    alias: "MyIngress.set_port"
  }
  params {
    id: 1
    name: "port"
    bitwidth: 9
  }
}
actions {
  preamble {
    id: 21302330
    name: "MyEgress.set_port"
    alias: "MyEgress.set_port"
  }
  params {
    id: 1
    name: "port"
    bitwidth: 9
  }
}
action_profiles {
  preamble {
    id: 294941400
    name: "MyIngress.ecmp"
    alias: "ecmp"
  }
  table_ids: 33554439
  with_selector: true
  size: 128
  max_group_size: 16
}
counters {
  preamble {
    id: 309115653
    name: "MyIngress.port_bytes"
    alias: "port_bytes"
  }
  spec {
    unit: BYTES
  }
  size: 512
}
direct_counters {
  preamble {
    id: 332648530
    name: "MyIngress.acl_hits"
    alias: "acl_hits"
  }
  spec {
    unit: BOTH
  }
  direct_table_id: 37519123
}
meters {
  preamble {
    id: 336120650
    name: "MyIngress.port_rate"
    alias: "port_rate"
  }
  spec {
    unit: PACKETS
  }
  size: 512
}
direct_meters {
  preamble {
    id: 353146478
    name: "MyIngress.acl_rate"
    alias: "acl_rate"
  }
  spec {
    unit: BYTES
  }
  direct_table_id: 37519123
}
controller_packet_metadata {
  preamble {
    id: 81826293
    name: "packet_in"
    alias: "packet_in"
    annotations: "@controller_header(\\"packet_in\\")"
  }
  metadata {
    id: 1
    name: "ingress_port"
    bitwidth: 9
  }
  metadata {
    id: 2
    name: "_pad"
    bitwidth: 7
  }
}
controller_packet_metadata {
  preamble {
    id: 76689799
    name: "packet_out"
    alias: "packet_out"
    annotations: "@controller_header(\\"packet_out\\")"
  }
  metadata {
    id: 1
    name: "egress_port"
    bitwidth: 9
  }
  metadata {
    id: 2
    name: "_pad"
    bitwidth: 7
  }
}
value_sets {
  preamble {
    id: 62993271
    name: "MyParser.tpids"
    alias: "tpids"
  }
  match {
    id: 1
    bitwidth: 16
    match_type: EXACT
  }
  size: 4
}
registers {
  preamble {
    id: 377784649
    name: "MyIngress.last_seen"
    alias: "last_seen"
  }
  type_spec {
    bitstring {
      bit {
        bitwidth: 48
      }
    }
  }
  size: 1024
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
        name: "srcAddr"
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


def test_every_p4info_feature_is_laid_out_like_p4c() -> None:
    assert p4info_to_text(build_p4info(every_feature())) == EVERY_FEATURE_P4INFO


def test_direct_resources_follow_the_order_of_their_tables() -> None:
    schema = ProgramSchema(
        tables=[
            TableInfo(name, (MatchFieldInfo("k", "exact", 8),), (), 16, direct_counter=f"{name}_c")
            for name in ("c.first", "c.second")
        ],
        counters=[
            CounterInfo("c.second_c", "PACKETS", 0, direct_table="c.second"),
            CounterInfo("c.first_c", "PACKETS", 0, direct_table="c.first"),
        ],
    )
    names = [c.preamble.name for c in build_p4info(schema).direct_counters]
    assert names == ["c.first_c", "c.second_c"]


def test_two_tables_with_one_name_are_an_error() -> None:
    table = TableInfo("c.t", (), (), 16)
    with pytest.raises(TypeCheckError, match=r"c\.t is used by two tables"):
        build_p4info(ProgramSchema(tables=[table, table]))


def test_a_reference_to_an_undeclared_action_is_reported() -> None:
    table = TableInfo("c.t", (), (ActionRefInfo("c.missing"),), 16)
    with pytest.raises(ValueError, match=r"c\.missing"):
        build_p4info(ProgramSchema(tables=[table]))
