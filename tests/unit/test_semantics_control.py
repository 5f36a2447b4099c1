"""Control semantics: tables (match kinds, priorities, const entries, defaults,
hit/miss, action_run), actions and functions with copy-in/copy-out, return and
exit, header validity and whole-header assignment."""

from __future__ import annotations

from semantics_harness import run, switch

from p4sim.runtime.tables import ActionCall, Exact, Lpm, TableEntry, Ternary

FIELDS = "bit<32> addr; bit<8> k; bit<8> r;"


def test_lpm_longest_prefix_wins_and_default_runs_on_miss() -> None:
    sw = switch(FIELDS, ingress_decls="""
        action set_r(bit<8> v) { hdr.h.r = v; }
        action miss() { hdr.h.r = 0xEE; }
        table t { key = { hdr.h.addr: lpm; } actions = { set_r; miss; } default_action = miss(); }
    """, ingress="t.apply();")
    t = sw.resolve_table("t")
    t.insert(TableEntry((Lpm(0x0A000000, 8),), ActionCall("I.set_r", (1,))))
    t.insert(TableEntry((Lpm(0x0A010000, 16),), ActionCall("I.set_r", (2,))))
    assert run(sw, FIELDS, [0x0A010203, 0, 0])["r"] == 2
    assert run(sw, FIELDS, [0x0A020203, 0, 0])["r"] == 1
    assert run(sw, FIELDS, [0x0B000000, 0, 0])["r"] == 0xEE


def test_ternary_highest_priority_wins() -> None:
    sw = switch(FIELDS, ingress_decls="""
        action set_r(bit<8> v) { hdr.h.r = v; }
        table t { key = { hdr.h.k: ternary; } actions = { set_r; NoAction; } }
    """, ingress="t.apply();")
    t = sw.resolve_table("t")
    t.insert(TableEntry((Ternary(0x00, 0x00),), ActionCall("I.set_r", (1,)), priority=1))
    t.insert(TableEntry((Ternary(0x10, 0xF0),), ActionCall("I.set_r", (2,)), priority=5))
    assert run(sw, FIELDS, [0, 0x1F, 0])["r"] == 2
    assert run(sw, FIELDS, [0, 0x2F, 0])["r"] == 1


def test_const_entries_first_listed_wins_and_explicit_priorities() -> None:
    sw = switch(FIELDS, ingress_decls="""
        action set_r(bit<8> v) { hdr.h.r = v; }
        table t {
            key = { hdr.h.k: ternary; hdr.h.addr: range; }
            actions = { set_r; }
            const entries = {
                (0x10 &&& 0xF0, 0 .. 100): set_r(1);
                (0x11, _): set_r(2);
                (_, _): set_r(3);
            }
        }
        table u {
            key = { hdr.h.k: exact; }
            actions = { set_r; }
            entries = {  // p4c (and p4sim) refuse priorities in const entries
                priority = 10: 5: set_r(10);
            }
        }
    """, ingress="if (hdr.h.addr == 7) { u.apply(); } else { t.apply(); }")
    assert run(sw, FIELDS, [50, 0x11, 0])["r"] == 1
    assert run(sw, FIELDS, [500, 0x11, 0])["r"] == 2
    assert run(sw, FIELDS, [500, 0x20, 0])["r"] == 3
    assert run(sw, FIELDS, [7, 5, 0])["r"] == 10
    assert sw.schema.tables[0].is_const_table


def test_hit_miss_and_switch_on_action_run_with_fallthrough() -> None:
    sw = switch(FIELDS, ingress_decls="""
        action a1() { hdr.h.r = 1; }
        action a2() { hdr.h.r = 2; }
        action a3() { hdr.h.r = 3; }
        table t { key = { hdr.h.k: exact; } actions = { a1; a2; a3; } default_action = a3(); }
    """, ingress="""
        switch (t.apply().action_run) {
            a1:
            a2: { hdr.h.addr = 12; }
            default: { hdr.h.addr = 99; }
        }
        if (t.apply().hit) { hdr.h.r = hdr.h.r + 100; }
    """)
    t = sw.resolve_table("t")
    t.insert(TableEntry((Exact(1),), ActionCall("I.a1")))
    t.insert(TableEntry((Exact(2),), ActionCall("I.a2")))
    assert run(sw, FIELDS, [0, 1, 0]) == {"addr": 12, "k": 1, "r": 101}
    assert run(sw, FIELDS, [0, 2, 0]) == {"addr": 12, "k": 2, "r": 102}
    assert run(sw, FIELDS, [0, 3, 0]) == {"addr": 99, "k": 3, "r": 3}


def test_direct_counter_counts_hits_with_bytes() -> None:
    sw = switch(FIELDS, ingress_decls="""
        direct_counter(CounterType.packets_and_bytes) hits;
        action a() { hits.count(); }
        table t { key = { hdr.h.k: exact; } actions = { a; NoAction; } counters = hits; }
    """, ingress="t.apply();")
    entry = TableEntry((Exact(4),), ActionCall("I.a"))
    sw.resolve_table("t").insert(entry)
    run(sw, FIELDS, [0, 4, 0])
    run(sw, FIELDS, [0, 4, 0])
    run(sw, FIELDS, [0, 5, 0])
    assert (entry.packets, entry.bytes) == (2, 12)
    assert sw.schema.counters[0].direct_table == "I.t"


def test_copy_in_copy_out_return_and_functions() -> None:
    fields = "bit<8> a; bit<8> b; bit<8> c; bit<8> d;"
    sw = switch(fields, decls="""
        bit<8> twice(in bit<8> x) { return x + x; }
        bit<8> pick(in bit<8> x) { if (x > 10) { return 1; } return 2; }
    """, ingress_decls="""
        action swap(inout bit<8> x, inout bit<8> y) { bit<8> t = x; x = y; y = t; }
        action early(out bit<8> o, in bit<8> v) { o = v; if (v == 3) { return; } o = 0xFF; }
    """, ingress="""
        swap(hdr.h.a, hdr.h.b);
        early(hdr.h.c, hdr.h.c);
        hdr.h.d = twice(hdr.h.d) + pick(hdr.h.a);
    """)
    assert run(sw, fields, [1, 20, 3, 5]) == {"a": 20, "b": 1, "c": 3, "d": 11}
    assert run(sw, fields, [1, 2, 4, 5]) == {"a": 2, "b": 1, "c": 0xFF, "d": 12}


def test_exit_stops_the_control_but_keeps_copy_out() -> None:
    fields = "bit<8> a; bit<8> b;"
    sw = switch(fields, ingress_decls="""
        action set_and_exit(inout bit<8> x) { x = 42; exit; }
    """, ingress="""
        if (hdr.h.a == 1) { set_and_exit(hdr.h.b); }
        hdr.h.b = 7;
    """, egress="hdr.h.a = hdr.h.a + 1;")
    assert run(sw, fields, [1, 0]) == {"a": 2, "b": 42}
    assert run(sw, fields, [0, 0]) == {"a": 1, "b": 7}


def test_validity_and_whole_header_assignment() -> None:
    fields = "bit<8> a; bit<8> b;"
    sw = switch(fields, decls="header extra_t { bit<8> v; bit<8> w; }",
                more_headers="extra_t e; extra_t f;", ingress="""
        hdr.e.setValid();
        hdr.e = {hdr.h.a, hdr.h.b};
        hdr.f = hdr.e;
        hdr.f.w = hdr.f.isValid() ? 8w1 : 8w0;
        if (hdr.h.a == 0) { hdr.e.setInvalid(); }
        hdr.h.b = hdr.f.v;
    """)
    assert sw.process(0, bytes([5, 6])) == [(1, bytes([5, 5, 5, 6, 5, 1]))]
    assert sw.process(0, bytes([0, 6])) == [(1, bytes([0, 0, 0, 1]))]


def test_reading_a_never_valid_header_gives_zero() -> None:
    fields = "bit<8> a; bit<8> b;"
    sw = switch(fields, decls="header extra_t { bit<8> v; }", more_headers="extra_t e;",
                ingress="hdr.h.b = hdr.e.v + 1;")
    assert sw.process(0, bytes([5, 6])) == [(1, bytes([5, 1]))]


def test_struct_assignment_copies_and_local_variables_start_at_zero() -> None:
    fields = "bit<8> a; bit<8> b;"
    sw = switch(fields, decls="struct pair_t { bit<8> x; bit<8> y; }",
                meta="pair_t p; pair_t q;", ingress_decls="bit<8> zero;", ingress="""
        meta.p = {x = hdr.h.a, y = hdr.h.b};
        meta.q = meta.p;
        meta.p.x = 9;
        hdr.h.a = meta.q.x + zero;
        hdr.h.b = meta.p.x;
    """)
    assert sw.process(0, bytes([5, 6])) == [(1, bytes([5, 9]))]


def test_enums_serializable_enums_and_typedefs() -> None:
    fields = "bit<8> a; bit<8> b;"
    sw = switch(fields, decls="""
        enum Color { RED, GREEN }
        enum bit<8> Kind { SMALL = 1, BIG = 200 }
        typedef bit<8> byte_t;
        type bit<8> port_t;
    """, ingress="""
        Color c = hdr.h.a == Kind.SMALL ? Color.GREEN : Color.RED;
        byte_t v = (byte_t)Kind.BIG;
        port_t p = (port_t)3;
        if (c == Color.GREEN) { hdr.h.b = v + (bit<8>)p; } else { hdr.h.b = 0; }
    """)
    assert sw.process(0, bytes([1, 0])) == [(1, bytes([1, 203]))]
    assert sw.process(0, bytes([2, 0])) == [(1, bytes([2, 0]))]


def test_reading_an_invalidated_header_gives_its_last_value_as_bmv2_does() -> None:
    fields = "bit<8> a; bit<8> b;"
    sw = switch(fields, "hdr.h.setInvalid(); hdr.h.b = hdr.h.a; hdr.h.setValid();")
    # setValid on an invalid header zeroes it (bmv2's add_header), so only b survives.
    assert sw.process(0, bytes([5, 6])) == [(1, bytes([0, 0]))]
    sw = switch(fields, "hdr.h.setInvalid(); sm.egress_spec = (bit<9>)hdr.h.a;")
    assert sw.process(0, bytes([5, 6])) == [(5, b"")]


def test_header_union_members_exclude_each_other() -> None:
    fields = "bit<8> kind; bit<8> r;"
    decls = """
        header v4_t { bit<8> x; }
        header v6_t { bit<8> y; bit<8> z; }
        header_union ip_t { v4_t v4; v6_t v6; }
    """
    parser = """
    state start {
        pkt.extract(hdr.h);
        transition select(hdr.h.kind) { 4: p4; 6: p6; default: accept; }
    }
    state p4 { pkt.extract(hdr.u.v4); transition accept; }
    state p6 { pkt.extract(hdr.u.v6); transition accept; }
    """
    sw = switch(fields, """
        hdr.h.r = hdr.u.isValid() ? 8w1 : 8w0;
        if (hdr.u.v4.isValid()) { hdr.u.v6.setValid(); hdr.u.v6.y = 0xAA; }
    """, decls=decls, more_headers="ip_t u;", parser=parser)
    assert sw.process(0, bytes([4, 0, 7, 9])) == [(1, bytes([4, 1, 0xAA, 0, 9]))]
    assert sw.process(0, bytes([6, 0, 7, 8])) == [(1, bytes([6, 1, 7, 8]))]
    assert sw.process(0, bytes([1, 0])) == [(1, bytes([1, 0]))]


def test_nested_control_with_constructor_and_scalar_copy_out() -> None:
    fields = "bit<8> a; bit<8> b; bit<8> c;"
    sub = """
    control Add(inout bit<8> x, in bit<8> y)(bit<8> bias) {
        action bump() { x = x + bias; }
        table t { key = { y: exact; } actions = { bump; NoAction; } default_action = bump(); }
        apply { x = x + y; t.apply(); }
    }
    """
    sw = switch(fields, "one.apply(hdr.h.a, hdr.h.b); ten.apply(hdr.h.c, hdr.h.b);",
                late_decls=sub, ingress_decls="Add(1) one; Add(10) ten;")
    assert sw.process(0, bytes([1, 2, 3])) == [(1, bytes([4, 2, 15]))]
    assert {t.name for t in sw.schema.tables} == {"I.one.t", "I.ten.t"}


def test_value_switch_struct_returning_function_and_header_lookahead() -> None:
    fields = "bit<8> a; bit<8> b;"
    decls = """
        struct pair_t { bit<8> x; bit<8> y; }
        pair_t swap(in pair_t p) { return {p.y, p.x}; }
    """
    parser = """
    state start {
        h_t peek = pkt.lookahead<h_t>();
        meta.first = peek.a;
        pkt.extract(hdr.h);
        transition accept;
    }
    """
    sw = switch(fields, """
        pair_t p = swap({hdr.h.a, hdr.h.b});
        switch (p.x) {
            1: { hdr.h.a = 100; }
            2: 3: { hdr.h.a = 101; }
            default: { hdr.h.a = meta.first; }
        }
        hdr.h.b = p.y;
    """, decls=decls, parser=parser, meta="bit<8> first;")
    assert sw.process(0, bytes([9, 1])) == [(1, bytes([100, 9]))]
    assert sw.process(0, bytes([9, 3])) == [(1, bytes([101, 9]))]
    assert sw.process(0, bytes([9, 7])) == [(1, bytes([9, 9]))]


def test_header_and_struct_equality() -> None:
    fields = "bit<8> a; bit<8> b;"
    sw = switch(fields, decls="header x_t { bit<8> v; } struct s_t { bit<8> p; x_t x; }",
                more_headers="x_t e; x_t f;", meta="s_t m; s_t n;", ingress="""
        bool invalid_equal = hdr.e == hdr.f;
        hdr.e.setValid();
        hdr.e.v = hdr.h.a;
        hdr.f.setValid();
        hdr.f.v = hdr.h.b;
        meta.m.x = hdr.e;
        meta.n.x = hdr.f;
        hdr.h.a = (bit<8>)(bit<1>)invalid_equal;
        hdr.h.b = meta.m == meta.n ? 8w1 : 8w2;
        hdr.e.setInvalid();
        hdr.f.setInvalid();
    """)
    assert sw.process(0, bytes([3, 3])) == [(1, bytes([1, 1]))]
    assert sw.process(0, bytes([3, 4])) == [(1, bytes([1, 2]))]


def test_non_const_initial_entries_can_be_changed_by_the_control_plane() -> None:
    sw = switch(FIELDS, "t.apply();", ingress_decls="""
        action set_r(bit<8> v) { hdr.h.r = v; }
        table t { key = { hdr.h.k: exact; } actions = { set_r; } entries = { 1: set_r(10); } }
    """)
    assert run(sw, FIELDS, [0, 1, 0])["r"] == 10
    t = sw.resolve_table("t")
    t.modify(TableEntry((Exact(1),), ActionCall("I.set_r", (20,))))
    assert run(sw, FIELDS, [0, 1, 0])["r"] == 20
