"""Parser semantics: select forms, lookahead/advance/verify, header stacks, and
parser errors that (as in bmv2) still send the packet through ingress."""

from __future__ import annotations

from semantics_harness import switch

FIELDS = "bit<8> kind; bit<8> x;"
OUT = "bit<8> tag;"
ERRORS = {"NoError": 0, "PacketTooShort": 1, "NoMatch": 2, "StackOutOfBounds": 3,
          "HeaderTooShort": 4, "ParserTimeout": 5}


def error_code(target: str) -> str:
    """P4 that stores parser_error's position in core.p4's error list (an
    `error` cannot be cast to bits)."""
    return " else ".join(f"if (sm.parser_error == error.{name}) {{ {target} = {code}; }}"
                         for name, code in ERRORS.items())


def _select_switch(cases: str, select: str = "hdr.h.kind") -> object:
    parser = f"""
    state start {{
        pkt.extract(hdr.h);
        transition select({select}) {{ {cases} }}
    }}
    state s1 {{ meta.tag = 1; transition accept; }}
    state s2 {{ meta.tag = 2; transition accept; }}
    state s3 {{ meta.tag = 3; transition accept; }}
    """
    return switch(FIELDS, "hdr.h.x = meta.tag;", parser=parser, meta="bit<8> tag;")


def _tag(sw: object, kind: int, x: int = 0) -> int:
    out = sw.process(0, bytes([kind, x]))  # type: ignore[attr-defined]
    return int(out[0][1][1])


def test_select_masks_ranges_and_default_in_order() -> None:
    sw = _select_switch("0x10 &&& 0xF0: s1; 5 .. 9: s2; 7: s3; default: accept;")
    assert _tag(sw, 0x1F) == 1
    assert _tag(sw, 7) == 2  # the first matching case wins, not the most specific
    assert _tag(sw, 0x42) == 0


def test_select_on_a_tuple_with_dont_care() -> None:
    sw = _select_switch("(1, _): s1; (_, 2): s2; (3, 3): s3; default: accept;",
                        "hdr.h.kind, hdr.h.x")
    assert _tag(sw, 1, 9) == 1
    assert _tag(sw, 4, 2) == 2
    assert _tag(sw, 3, 3) == 3


def test_select_without_match_sets_no_match_and_continues() -> None:
    sw = switch(FIELDS, "hdr.h.x = (bit<8>)(sm.parser_error == error.NoMatch ? 1w1 : 1w0);",
                parser="""
    state start { pkt.extract(hdr.h); transition select(hdr.h.kind) { 1: accept; } }
    """)
    assert sw.process(0, bytes([2, 0])) == [(1, bytes([2, 1]))]


def test_truncated_packet_sets_packet_too_short_and_reaches_ingress() -> None:
    fields = "bit<8> a; bit<8> b; bit<8> c; bit<8> d;"
    sw = switch(fields, """
        if (sm.parser_error == error.PacketTooShort) { sm.egress_spec = 7; }
    """)
    # The header is not extracted, so nothing is emitted but the payload.
    assert sw.process(0, b"\x01\x02") == [(7, b"\x01\x02")]
    assert sw.process(0, b"") == [(7, b"")]
    assert sw.process(0, b"\x01\x02\x03\x04\x05") == [(1, b"\x01\x02\x03\x04\x05")]


def test_lookahead_advance_and_verify() -> None:
    sw = switch(FIELDS, error_code("hdr.h.x"), meta="bit<8> peek;", parser="""
    state start {
        meta.peek = pkt.lookahead<bit<8>>();
        transition select(meta.peek) { 0xFF: skip; default: parse; }
    }
    state skip { pkt.advance(8); transition parse; }
    state parse {
        pkt.extract(hdr.h);
        verify(hdr.h.kind != 0xEE, error.HeaderTooShort);
        transition accept;
    }
    """)
    assert sw.process(0, bytes([0xFF, 4, 0])) == [(1, bytes([4, 0]))]
    assert sw.process(0, bytes([4, 0])) == [(1, bytes([4, 0]))]
    header_too_short = 4
    assert sw.process(0, bytes([0xEE, 0])) == [(1, bytes([0xEE, header_too_short]))]


def test_header_stack_next_last_and_out_of_bounds() -> None:
    decls = "header label_t { bit<7> value; bit<1> bos; }"
    parser = """
    state start { pkt.extract(hdr.h); transition parse_label; }
    state parse_label {
        pkt.extract(hdr.labels.next);
        transition select(hdr.labels.last.bos) { 1: accept; default: parse_label; }
    }
    """
    ingress = "hdr.h.x = (bit<8>)hdr.labels.lastIndex;" + error_code("hdr.h.kind")
    sw = switch(FIELDS, ingress, decls=decls, more_headers="label_t[3] labels;",
                parser=parser)
    two = bytes([9, 9, 0x02, 0x05])
    assert sw.process(0, two) == [(1, bytes([0, 1, 0x02, 0x05]))]
    four = bytes([9, 9, 0x02, 0x04, 0x06, 0x09])
    # The fourth label does not fit: StackOutOfBounds, three labels are valid.
    out = sw.process(0, four)
    assert out == [(1, bytes([ERRORS["StackOutOfBounds"], 2, 0x02, 0x04, 0x06, 0x09]))]


def test_push_front_and_pop_front() -> None:
    decls = "header label_t { bit<8> value; }"
    parser = """
    state start { pkt.extract(hdr.h); pkt.extract(hdr.labels.next); transition accept; }
    """
    ingress = """
        if (hdr.h.kind == 1) {
            hdr.labels.push_front(1);
            hdr.labels[0].setValid();
            hdr.labels[0].value = 0xAA;
        } else {
            hdr.labels.pop_front(1);
        }
    """
    sw = switch(FIELDS, ingress, decls=decls, more_headers="label_t[2] labels;",
                parser=parser)
    assert sw.process(0, bytes([1, 0, 0x55, 0x77])) == [(1, bytes([1, 0, 0xAA, 0x55, 0x77]))]
    assert sw.process(0, bytes([2, 0, 0x55, 0x77])) == [(1, bytes([2, 0, 0x77]))]


def test_value_set_is_filled_by_the_control_plane() -> None:
    parser = """
    value_set<bit<8>>(4) kinds;
    state start {
        pkt.extract(hdr.h);
        transition select(hdr.h.kind) { kinds: tagged; default: accept; }
    }
    state tagged { meta.tag = 1; transition accept; }
    """
    sw = switch(FIELDS, "hdr.h.x = meta.tag;", parser=parser, meta="bit<8> tag;")
    assert sw.process(0, bytes([6, 0])) == [(1, bytes([6, 0]))]
    sw.value_sets["P.kinds"].add(((6, 0xFF),))
    assert sw.process(0, bytes([6, 0])) == [(1, bytes([6, 1]))]
    assert sw.schema.value_sets[0].name == "P.kinds"


def test_parser_loop_without_progress_times_out() -> None:
    parser = """
    state start { pkt.extract(hdr.h); transition spin; }
    state spin { transition select(hdr.h.kind) { 1: spin; default: accept; } }
    """
    sw = switch(FIELDS, error_code("hdr.h.x"), parser=parser)
    parser_timeout = 5
    assert sw.process(0, bytes([1, 0])) == [(1, bytes([1, parser_timeout]))]


def test_stack_last_in_a_control_on_an_empty_stack_does_not_fail() -> None:
    decls = "header label_t { bit<8> value; }"
    sw = switch(FIELDS, "hdr.h.x = hdr.labels.last.value; hdr.labels.next.value = 1;",
                decls=decls, more_headers="label_t[2] labels;")
    assert sw.process(0, bytes([1, 9])) == [(1, bytes([1, 0]))]


def test_sub_parser_shares_the_cursor_and_its_errors() -> None:
    sub = """
    parser Inner(packet_in pkt, inout headers_t hdr) {
        state start { pkt.extract(hdr.h); verify(hdr.h.kind != 9, error.NoMatch);
                      transition accept; }
    }
    """
    sw = switch(FIELDS, error_code("hdr.h.x"), late_decls=sub,
                parser="Inner() inner; state start { inner.apply(pkt, hdr); transition accept; }")
    assert sw.process(0, bytes([1, 7, 3])) == [(1, bytes([1, 0, 3]))]
    assert sw.process(0, bytes([9, 7])) == [(1, bytes([9, ERRORS["NoMatch"]]))]
