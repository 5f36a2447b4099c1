"""The control-plane schema a compile produces: p4c's fully qualified names,
key names, action scopes, externs, digests and controller headers; and the
device config round trip."""

from __future__ import annotations

import traceback

import pytest
from semantics_harness import build, source

from p4sim.compiler import DeviceConfigError, compile_source, load_device_config
from p4sim.runtime.switch import Switch

FIELDS = "bit<32> addr; bit<8> k;"

INGRESS_DECLS = """
    direct_counter(CounterType.packets) t_hits;
    direct_meter<bit<8>>(MeterType.bytes) t_rate;
    register<bit<16>>(64) flows;
    @name("bytes_seen") counter(8, CounterType.bytes) c;
    @name("set_k") action set(bit<8> value, bit<9> port) { hdr.h.k = value; }
    @name(".global_drop") action drop() { mark_to_drop(sm); }
    @id(7) action other() { t_rate.read(hdr.h.k); }
    @name("forward") table t {
        key = {
            hdr.h.addr: lpm @name("dst");
            hdr.h.k[3:0]: exact;
            hdr.h.isValid(): exact;
        }
        actions = { set; other; @defaultonly drop; }
        const default_action = drop();
        counters = t_hits;
        meters = t_rate;
        support_timeout = true;
        size = 4096;
    }
    Sub() inner;
"""

SUB = """
control Sub(inout headers_t hdr) {
    action nop() { }
    table s { key = { hdr.h.k: ternary; } actions = { nop; } }
    apply { s.apply(); }
}
"""


@pytest.fixture(scope="module")
def schema():  # type: ignore[no-untyped-def]
    return build(FIELDS, "t.apply(); inner.apply(hdr);", late_decls=SUB,
                 ingress_decls=INGRESS_DECLS).schema


def test_tables_use_p4c_names_keys_and_properties(schema) -> None:  # type: ignore[no-untyped-def]
    tables = {t.name: t for t in schema.tables}
    assert set(tables) == {"I.forward", "I.inner.s"}
    t = tables["I.forward"]
    assert [(f.name, f.match_type, f.bitwidth) for f in t.match_fields] == [
        ("dst", "lpm", 32), ("hdr.h.k[3:0]", "exact", 4), ("hdr.h.$valid$", "exact", 1)]
    assert [(r.action, r.scope) for r in t.action_refs] == [
        ("I.set_k", "TABLE_AND_DEFAULT"), ("I.other", "TABLE_AND_DEFAULT"),
        ("global_drop", "DEFAULT_ONLY")]
    assert t.const_default_action == "global_drop"
    assert (t.size, t.idle_timeout, t.direct_counter, t.direct_meter) == (
        4096, True, "I.t_hits", "I.t_rate")
    assert tables["I.inner.s"].size == 1024  # p4c's default


def test_actions_externs_and_ids(schema) -> None:  # type: ignore[no-untyped-def]
    actions = {a.name: a for a in schema.actions}
    assert {"I.set_k", "I.other", "global_drop", "I.inner.nop", "NoAction"} <= set(actions)
    assert [(p.name, p.bitwidth) for p in actions["I.set_k"].params] == [
        ("value", 8), ("port", 9)]
    assert actions["I.other"].explicit_id == 7
    assert [(r.name, r.bitwidth, r.size) for r in schema.registers] == [("I.flows", 16, 64)]
    counters = {c.name: c for c in schema.counters}
    assert counters["I.bytes_seen"].unit == "BYTES"
    assert counters["I.t_hits"].direct_table == "I.forward"
    assert schema.meters[0].direct_table == "I.forward"


def test_controller_headers_and_digests() -> None:
    decls = """
    @controller_header("packet_in") header packet_in_t { bit<9> ingress_port; bit<7> pad; }
    struct learn_t { bit<32> addr; }
    """
    schema = build(FIELDS, "digest<learn_t>(1, {hdr.h.addr});", decls=decls,
                   more_headers="packet_in_t cpu;").schema
    assert schema.controller_headers[0].name == "packet_in"
    assert schema.controller_headers[0].metadata == ((1, "ingress_port", 9), (2, "pad", 7))
    assert [(d.name, [(m.name, m.bitwidth) for m in d.members]) for d in schema.digests] == [
        ("learn_t", [("addr", 32)])]


def test_p4info_ids_follow_p4c() -> None:
    program = build(FIELDS, "ipv4_lpm.apply();", ingress_decls="""
        action ipv4_forward(bit<8> v) { hdr.h.k = v; }
        table ipv4_lpm { key = { hdr.h.addr: lpm; } actions = { ipv4_forward; NoAction; } }
    """)
    tables = {t.preamble.name: t.preamble.id for t in program.p4info.tables}
    assert tables["I.ipv4_lpm"] >> 24 == 0x02
    actions = {a.preamble.name: a.preamble.id for a in program.p4info.actions}
    assert actions["NoAction"] == 21257015  # the id p4c gives NoAction in every program


def test_device_config_round_trip_runs_the_same_program() -> None:
    program = build(FIELDS, "hdr.h.k = hdr.h.k + 1;")
    again = load_device_config(program.device_config)
    assert again.schema == program.schema
    assert Switch(again).process(0, bytes(5)) == [(1, bytes([0, 0, 0, 0, 1]))]


def test_device_config_with_unknown_format_is_rejected() -> None:
    with pytest.raises(DeviceConfigError, match="unknown device config format 'bmv2-json'"):
        load_device_config(b'{"format": "bmv2-json"}')
    with pytest.raises(DeviceConfigError, match="not a p4sim device config"):
        load_device_config(b"\x00\x01binary")
    with pytest.raises(DeviceConfigError, match="version"):
        load_device_config(b'{"format": "p4sim-device-config", "version": 99}')


def test_generated_code_shows_in_tracebacks() -> None:
    program = compile_source(source(FIELDS, "t.apply();", ingress_decls="""
        action a() { }
        table t { key = { hdr.h.k: exact; } actions = { a; } }
    """), "trace.p4")
    assert program.source.startswith("\n#include <core.p4>")
    sw = Switch(program)

    def broken(values: object) -> None:
        raise RuntimeError("lookup failed")

    table = sw.resolve_table("t")
    table.lookup = table.lookup_one = broken
    with pytest.raises(RuntimeError) as info:
        sw.process(0, bytes(5))
    frames = traceback.extract_tb(info.value.__traceback__)
    generated = [f for f in frames if f.filename.startswith("<p4sim trace")]
    assert generated and ".lookup_one(" in (generated[-1].line or "")
