"""Readable values, P4Info lookup, entity building and the protobuf codec of
the P4Runtime client library, without a switch."""

from __future__ import annotations

from pathlib import Path

import pytest
from finsy.proto import p4d, p4i, p4r, rpc_code, rpc_status
from google.protobuf import text_format

from controller.p4rt import (
    Action,
    Exact,
    Lpm,
    P4InfoIndex,
    P4RuntimeError,
    TableEntry,
    Ternary,
    UnknownNameError,
    Update,
    ValueFormatError,
    load_p4info,
    values,
)
from controller.p4rt.entities import EntityFactory
from controller.p4rt.messages import MessageCodec, write_failures

P4INFO_TEXT = """
tables {
  preamble { id: 33554433 name: "Ingress.routing.routes" alias: "routes" }
  match_fields { id: 1 name: "dst_addr" bitwidth: 32 match_type: LPM }
  action_refs { id: 16777217 }
  action_refs { id: 16777219 }
  size: 1024
}
tables {
  preamble { id: 33554434 name: "Ingress.encap.encap_map" alias: "encap_map" }
  match_fields { id: 1 name: "ipv4_src" bitwidth: 32 match_type: EXACT }
  match_fields { id: 2 name: "tcp_dport" bitwidth: 16 match_type: EXACT }
  action_refs { id: 16777218 }
  action_refs { id: 16777219 }
  direct_resource_ids: 318767105
  size: 65536
  idle_timeout_behavior: NOTIFY_CONTROL
}
tables {
  preamble { id: 33554435 name: "Ingress.acl.acl" alias: "acl" }
  match_fields { id: 1 name: "eth_type" bitwidth: 16 match_type: TERNARY }
  action_refs { id: 16777220 }
  size: 16
}
actions {
  preamble { id: 16777217 name: "Ingress.routing.set_next_hop" alias: "set_next_hop" }
  params { id: 1 name: "port" bitwidth: 9 }
  params { id: 2 name: "dst_mac" bitwidth: 48 }
}
actions {
  preamble { id: 16777218 name: "Ingress.encap.encap_to_backend" alias: "encap_to_backend" }
  params { id: 1 name: "flow_id" bitwidth: 32 }
}
actions {
  preamble { id: 16777219 name: "Ingress.routing.drop" alias: "routing.drop" }
}
actions {
  preamble { id: 16777220 name: "Ingress.acl.drop" alias: "acl.drop" }
}
counters {
  preamble { id: 302000001 name: "Ingress.port_bytes" alias: "port_bytes" }
  spec { unit: BYTES }
  size: 512
}
direct_counters {
  preamble { id: 318767105 name: "Ingress.encap.encap_map_counter" alias: "encap_map_counter" }
  spec { unit: BOTH }
  direct_table_id: 33554434
}
controller_packet_metadata {
  preamble { id: 67146229 name: "packet_in" alias: "packet_in" }
  metadata { id: 1 name: "ingress_port" bitwidth: 9 }
  metadata { id: 2 name: "_pad" bitwidth: 7 }
}
controller_packet_metadata {
  preamble { id: 67121543 name: "packet_out" alias: "packet_out" }
  metadata { id: 1 name: "egress_port" bitwidth: 9 }
  metadata { id: 2 name: "_pad" bitwidth: 7 }
}
digests {
  preamble { id: 385931111 name: "connection_end_t" alias: "connection_end_t" }
  type_spec { struct { name: "connection_end_t" } }
}
type_info {
  structs {
    key: "connection_end_t"
    value {
      members { name: "client_addr" type_spec { bitstring { bit { bitwidth: 32 } } } }
      members { name: "tcp_flags" type_spec { bitstring { bit { bitwidth: 8 } } } }
    }
  }
}
"""


@pytest.fixture(scope="module")
def index() -> P4InfoIndex:
    return P4InfoIndex(text_format.Parse(P4INFO_TEXT, p4i.P4Info()))


@pytest.fixture(scope="module")
def factory(index: P4InfoIndex) -> EntityFactory:
    return EntityFactory(index)


# ------------------------------------------------------------------ values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1", 0x0A000001),
        ("aa:bb:cc:dd:ee:ff", 0xAABBCCDDEEFF),
        ("0:1:2:3:4:5", 0x000102030405),
        ("2001:db8::1", 0x20010DB8_00000000_00000000_00000001),
        ("::ffff:10.0.0.1", 0xFFFF_0A000001),
        ("80", 80),
        ("0x1F", 31),
        ("0b101", 5),
        ("1_000", 1000),
        (b"\x01\x00", 256),
        (7, 7),
    ],
)
def test_readable_forms_parse_to_their_integer(text: values.Readable, expected: int) -> None:
    assert values.parse_int(text) == expected


@pytest.mark.parametrize(
    "text", ["10.0.0.256", "ten", "-1", "", "0xZZ", -5, True, b"", "2001:db8::g", "1::2::3"]
)
def test_unreadable_values_are_rejected_with_the_input_named(text: values.Readable) -> None:
    with pytest.raises(ValueFormatError):
        values.parse_int(text)


def test_encoding_is_the_canonical_shortest_byte_string() -> None:
    assert values.encode(0, 9, "port") == b"\x00"
    assert values.encode(1, 9, "port") == b"\x01"
    assert values.encode(0x1FF, 9, "port") == b"\x01\xff"
    assert values.encode(0x0A000001, 32, "addr") == b"\x0a\x00\x00\x01"
    assert values.encode(0x00000001, 32, "addr") == b"\x01"


def test_a_value_wider_than_its_field_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValueFormatError, match=r"egress_port: 0x200 does not fit in 9 bits"):
        values.encode(512, 9, "egress_port")


def test_decoding_accepts_padded_byte_strings_but_checks_the_width() -> None:
    assert values.decode(b"\x00\x00\x00\x05", 9, "port") == 5
    with pytest.raises(ValueFormatError, match="does not fit"):
        values.decode(b"\x02\x00", 9, "port")


def test_prefix_mask_and_range_forms() -> None:
    assert values.parse_prefix("10.0.0.0/8") == (0x0A000000, 8)
    assert values.parse_prefix("10.0.0.1") == (0x0A000001, None)
    assert values.parse_prefix("2001:db8:2::/64") == (0x20010DB8_00020000 << 64, 64)
    assert values.parse_masked("0x0800&&&0xffff") == (0x800, 0xFFFF)
    assert values.parse_range("1000..2000") == (1000, 2000)
    assert values.parse_range("10.0.0.1..10.0.0.9") == (0x0A000001, 0x0A000009)
    with pytest.raises(ValueFormatError, match="prefix length"):
        values.parse_prefix("10.0.0.0/x")


def test_formatting_helpers_round_trip() -> None:
    assert values.format_ipv4(values.parse_int("192.168.1.2")) == "192.168.1.2"
    assert values.format_mac(values.parse_int("02:00:00:00:00:0a")) == "02:00:00:00:00:0a"
    assert values.format_ipv6(values.parse_int("2001:0db8::0001")) == "2001:db8::1"


# ------------------------------------------------------------------ P4Info names


def test_names_resolve_by_full_name_alias_or_unique_suffix(index: P4InfoIndex) -> None:
    full = index.table("Ingress.encap.encap_map")
    assert index.table("encap_map") is full
    assert index.table("encap.encap_map") is full
    assert full.direct_counter_id == 318767105
    assert full.supports_idle_timeout


def test_an_ambiguous_short_name_lists_the_candidates(index: P4InfoIndex) -> None:
    with pytest.raises(
        UnknownNameError, match=r"ambiguous: Ingress.acl.drop, Ingress.routing.drop"
    ):
        index.action("drop")


def test_a_short_action_name_is_resolved_within_its_table(index: P4InfoIndex) -> None:
    assert index.action("drop", index.table("routes")).name == "Ingress.routing.drop"


def test_unknown_names_say_what_exists(index: P4InfoIndex) -> None:
    with pytest.raises(UnknownNameError, match="no table named 'nope'"):
        index.table("nope")
    with pytest.raises(UnknownNameError, match=r"has no key 'dst' \(keys: dst_addr\)"):
        index.table("routes").field("dst")


def test_digest_members_come_from_the_struct_type(index: P4InfoIndex) -> None:
    assert index.digest("connection_end_t").members == (("client_addr", 32), ("tcp_flags", 8))


# ------------------------------------------------------------------ entities


def test_entities_built_from_readable_values_are_canonical(factory: EntityFactory) -> None:
    entry = factory.table_entry(
        "routes",
        {"dst_addr": "10.0.2.0/24"},
        "set_next_hop",
        {"port": 2, "dst_mac": "02:00:00:00:02:11"},
    )
    assert entry == TableEntry(
        "Ingress.routing.routes",
        (("dst_addr", Lpm(0x0A000200, 24)),),
        Action("Ingress.routing.set_next_hop", (("port", 2), ("dst_mac", 0x020000000211))),
    )
    assert (
        str(entry)
        == "routes[dst_addr=0xa000200/24] -> set_next_hop(port=0x2, dst_mac=0x20000000211)"
    )


def test_a_bare_value_on_an_lpm_key_is_a_host_route(factory: EntityFactory) -> None:
    entry = factory.table_entry("routes", {"dst_addr": "10.0.2.11"}, "routing.drop")
    assert entry.key("dst_addr") == Lpm(0x0A00020B, 32)


def test_non_canonical_prefix_is_rejected(factory: EntityFactory) -> None:
    with pytest.raises(ValueFormatError, match="bits set beyond the prefix"):
        factory.table_entry("routes", {"dst_addr": "10.0.2.1/24"}, "routing.drop")


def test_ternary_needs_priority_and_canonical_mask(factory: EntityFactory) -> None:
    with pytest.raises(ValueFormatError, match="need a priority"):
        factory.table_entry("acl", {"eth_type": "0x0800&&&0xffff"}, "acl.drop")
    with pytest.raises(ValueFormatError, match="outside the mask"):
        factory.table_entry("acl", {"eth_type": "0x0801&&&0xfff0"}, "acl.drop", priority=1)
    entry = factory.table_entry("acl", {"eth_type": "0x0800"}, "acl.drop", priority=5)
    assert entry.key("eth_type") == Ternary(0x800, 0xFFFF)


def test_exact_tables_take_no_priority(factory: EntityFactory) -> None:
    with pytest.raises(ValueFormatError, match="take no priority"):
        factory.table_entry("encap_map", {"ipv4_src": 1, "tcp_dport": 80}, priority=3)


def test_action_parameters_are_checked_by_name_and_width(factory: EntityFactory) -> None:
    with pytest.raises(ValueFormatError, match="parameter 'dst_mac' missing"):
        factory.table_entry("routes", {"dst_addr": "10.0.0.0/8"}, "set_next_hop", {"port": 1})
    with pytest.raises(UnknownNameError, match="no parameter 'mac'"):
        factory.table_entry(
            "routes",
            {"dst_addr": "10.0.0.0/8"},
            "set_next_hop",
            {"port": 1, "dst_mac": 1, "mac": 2},
        )
    with pytest.raises(ValueFormatError, match=r"set_next_hop\.port: 0x200 does not fit in 9 bits"):
        factory.table_entry(
            "routes", {"dst_addr": "10.0.0.0/8"}, "set_next_hop", {"port": 512, "dst_mac": 1}
        )
    with pytest.raises(UnknownNameError, match="has no action 'encap_to_backend'"):
        factory.table_entry(
            "routes", {"dst_addr": "10.0.0.0/8"}, "encap_to_backend", {"flow_id": 1}
        )


def test_packet_out_fields_default_to_zero_and_are_checked(factory: EntityFactory) -> None:
    packet = factory.packet_out(b"frame", egress_port=3)
    assert packet.metadata == (("egress_port", 3), ("_pad", 0))
    with pytest.raises(UnknownNameError):
        factory.packet_out(b"frame", port=3)


# ------------------------------------------------------------------ codec


def test_table_entries_survive_the_protobuf_round_trip(
    index: P4InfoIndex, factory: EntityFactory
) -> None:
    codec = MessageCodec(index, device_id=1)
    entry = factory.table_entry(
        "encap_map",
        {"ipv4_src": "10.0.1.10", "tcp_dport": 80},
        "encap_to_backend",
        {"flow_id": 0x12345678},
        idle_timeout_ns=5_000_000_000,
    )
    message = codec.encode_table_entry(entry)
    assert message.table_id == 33554434
    assert message.match[0].exact.value == b"\x0a\x00\x01\x0a"
    assert message.match[1].exact.value == b"\x50"
    assert message.action.action.params[0].value == b"\x12\x34\x56\x78"
    assert codec.decode_table_entry(message) == entry


def test_write_request_carries_updates_in_order(index: P4InfoIndex, factory: EntityFactory) -> None:
    codec = MessageCodec(index, device_id=7)
    entry = factory.table_entry("routes", {"dst_addr": "10.0.0.0/8"}, "routing.drop")
    request = codec.write_request(2**64 + 5, [Update.insert(entry), Update.delete(entry)])
    assert request.device_id == 7
    assert (request.election_id.high, request.election_id.low) == (1, 5)
    assert [u.type for u in request.updates] == [p4r.Update.INSERT, p4r.Update.DELETE]


def test_packet_in_and_digest_lists_decode_by_name(index: P4InfoIndex) -> None:
    codec = MessageCodec(index, device_id=1)
    packet = codec.decode_packet_in(
        p4r.PacketIn(
            payload=b"abc", metadata=[p4r.PacketMetadata(metadata_id=1, value=b"\x01\x02")]
        )
    )
    assert packet.get("ingress_port") == 0x102
    digest = codec.decode_digest_list(
        p4r.DigestList(
            digest_id=385931111,
            list_id=9,
            data=[
                p4d.P4Data(
                    struct=p4d.P4StructLike(
                        members=[
                            p4d.P4Data(bitstring=b"\x0a\x00\x01\x0a"),
                            p4d.P4Data(bitstring=b"\x01"),
                        ]
                    )
                )
            ],
        )
    )
    assert digest.as_dicts() == [{"client_addr": 0x0A00010A, "tcp_flags": 1}]


def test_write_failures_name_each_failed_update(factory: EntityFactory) -> None:
    first = Update.insert(factory.table_entry("routes", {"dst_addr": "10.0.0.0/8"}, "routing.drop"))
    second = Update.insert(
        factory.table_entry("routes", {"dst_addr": "11.0.0.0/8"}, "routing.drop")
    )
    status = rpc_status.Status(code=rpc_code.UNKNOWN)
    status.details.add().Pack(p4r.Error(canonical_code=rpc_code.OK))
    status.details.add().Pack(p4r.Error(canonical_code=rpc_code.ALREADY_EXISTS, message="dup"))
    failures = write_failures(status.SerializeToString(), [first, second])
    assert len(failures) == 1
    assert failures[0].index == 1 and failures[0].update == second
    assert failures[0].code == "ALREADY_EXISTS"
    assert "update 1 (INSERT routes[dst_addr=0xb000000/8]" in str(failures[0])


def test_exact_value_wider_than_key_is_refused_before_sending(factory: EntityFactory) -> None:
    with pytest.raises(ValueFormatError, match="tcp_dport: 0x10000 does not fit in 16 bits"):
        factory.table_entry(
            "encap_map", {"ipv4_src": 1, "tcp_dport": 65536}, "encap_to_backend", {"flow_id": 1}
        )
    assert Exact(1) != Exact(2)


def test_p4info_files_load_in_text_or_binary_form(tmp_path: Path) -> None:
    p4info = text_format.Parse(P4INFO_TEXT, p4i.P4Info())
    (tmp_path / "a.txtpb").write_text(text_format.MessageToString(p4info))
    (tmp_path / "a.bin").write_bytes(p4info.SerializeToString())
    (tmp_path / "bad").write_text("tables { nonsense")
    assert load_p4info(tmp_path / "a.txtpb") == p4info
    assert load_p4info(tmp_path / "a.bin") == p4info
    with pytest.raises(P4RuntimeError, match="bad: not a P4Info file"):
        load_p4info(tmp_path / "bad")


def test_counter_and_digest_entries_encode_by_name(
    index: P4InfoIndex, factory: EntityFactory
) -> None:
    codec = MessageCodec(index, device_id=1)
    counter = codec.encode_entity(factory.counter("port_bytes", 3))
    assert (counter.counter_entry.counter_id, counter.counter_entry.index.index) == (302000001, 3)
    with pytest.raises(ValueFormatError, match=r"index 512 outside 0\.\.511"):
        factory.counter("port_bytes", 512)
    digest = codec.encode_entity(factory.digest_entry("connection_end_t", max_list_size=8))
    assert digest.digest_entry.digest_id == 385931111
    assert digest.digest_entry.config.max_list_size == 8
    assert codec.decode_entity(digest) == factory.digest_entry("connection_end_t", max_list_size=8)
    entry = factory.table_entry("encap_map", {"ipv4_src": 1, "tcp_dport": 2}, None)
    direct = codec.encode_entity(factory.direct_counter(entry))
    assert direct.direct_counter_entry.table_entry.table_id == 33554434
    with pytest.raises(UnknownNameError, match="has no direct counter"):
        factory.direct_counter(factory.table_entry("routes", {"dst_addr": "10.0.0.0/8"}, None))
