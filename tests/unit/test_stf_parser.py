"""The STF reader accepts p4c's dialect and names the line of anything else."""

from __future__ import annotations

import pytest

from p4sim.errors import STFError
from p4sim.stf.parser import (
    Add,
    CheckCounter,
    CheckRegister,
    Expect,
    ExpectDigest,
    KeyMatch,
    Masked,
    McGroupCreate,
    McNodeAssociate,
    McNodeCreate,
    MeterRates,
    MirroringAdd,
    Number,
    Prefix,
    RegisterRead,
    RegisterReset,
    RegisterWrite,
    SendPacket,
    SetDefault,
    Span,
    ValueSetAdd,
    Wait,
    parse_number,
    parse_stf,
    parse_stf_file,
)


def one(text: str) -> object:
    (command,) = parse_stf(text, "t.stf").commands
    return command


def test_ternary_digits_mark_only_written_nibbles_as_cared() -> None:
    n = parse_number("0x****0101")
    assert (n.value, n.care, n.bits) == (0x0101, 0x0000FFFF, 32)
    assert n.has_wildcards


def test_binary_and_decimal_numbers() -> None:
    b = parse_number("0b1*0")
    assert (b.value, b.care, b.bits) == (0b100, 0b101, 3)
    d = parse_number("503")
    assert (d.value, d.care, d.bits, d.has_wildcards) == (503, None, None, False)


def test_add_with_priority_keys_action_and_handle() -> None:
    cmd = one("add test1 503 data.f1:0x****0202 ingress.setb1(val:7, port:0x3) = A")
    assert isinstance(cmd, Add)
    assert (cmd.line, cmd.table, cmd.priority, cmd.handle) == (1, "test1", 503, "A")
    assert cmd.keys[0].name == "data.f1"
    assert cmd.action.name == "ingress.setb1"
    assert [(a, n.value) for a, n in cmd.action.args] == [("val", 7), ("port", 3)]


def test_add_without_priority_and_with_every_key_form() -> None:
    cmd = one(
        "add t extra$0.h:0x25** hdr.ipv4.isValid():1 k:10->20 r:3..4 l:0x0A000000/8 "
        "m:0x0A&&&0xF0 NoAction()"
    )
    assert isinstance(cmd, Add)
    assert cmd.priority is None
    kinds = {k.name: type(k.value) for k in cmd.keys}
    assert kinds == {
        "extra$0.h": Number,
        "hdr.ipv4.isValid()": Number,
        "k": Span,
        "r": Span,
        "l": Prefix,
        "m": Masked,
    }
    assert cmd.keys[4] == KeyMatch("l", Prefix(parse_number("0x0A000000"), 8))
    assert cmd.action.args == ()


def test_setdefault() -> None:
    cmd = one("setdefault ipv4_lpm drop()")
    assert isinstance(cmd, SetDefault)
    assert (cmd.table, cmd.action.name) == ("ipv4_lpm", "drop")


def test_packet_joins_hex_groups() -> None:
    cmd = one("packet 3 0001 02 03")
    assert cmd == SendPacket(1, 3, b"\x00\x01\x02\x03")


def test_expect_wildcards_and_exact_length() -> None:
    cmd = one("expect 2 00ab ** ** $")
    assert cmd == Expect(1, 2, "00AB****", True)
    assert one("expect 2 00ab") == Expect(1, 2, "00AB", False)


def test_expect_without_data_accepts_anything() -> None:
    assert one("expect 5") == Expect(1, 5, None, False)


def test_comments_blank_lines_and_line_numbers() -> None:
    script = parse_stf("# header\n\nwait  # pause\nWAIT\n", "t.stf")
    assert script.commands == (Wait(3), Wait(4))


def test_check_counter_forms() -> None:
    assert one("check_counter c(10) packets == 2") == CheckCounter(1, "c", 10, "packets", "==", 2)
    assert one("check_counter c($A) bytes >= 0x40") == CheckCounter(1, "c", "A", "bytes", ">=", 64)
    assert one("check_counter c(1)") == CheckCounter(1, "c", 1, None, "==", 0)


def test_check_register() -> None:
    assert one("check_register r(3) != 7") == CheckRegister(1, "r", 3, "!=", 7)


def test_register_and_replication_commands() -> None:
    text = """
        register_read ig.r 1
        register_write ig.r 5 0x64
        register_reset ig.r
        mc_mgrp_create 1
        mc_node_create 7 1 2 3
        mc_node_associate 1 0
        mirroring_add 5 4
        mirroring_add_mc 6 1
        meter_set_rates m 2 0.5:10 1:20
        meter_array_set_rates m 0.000001:1 0.000002:2
        meter_set_rates dm $E 1:1 2:2
        expect_digest learn_t(src:0x0A, port:1)
    """
    commands = parse_stf(text, "t.stf").commands
    assert commands[:8] == (
        RegisterRead(2, "ig.r", 1),
        RegisterWrite(3, "ig.r", 5, 100),
        RegisterReset(4, "ig.r"),
        McGroupCreate(5, 1),
        McNodeCreate(6, 7, (1, 2, 3)),
        McNodeAssociate(7, 1, 0),
        MirroringAdd(8, 5, 4, None),
        MirroringAdd(9, 6, None, 1),
    )
    assert commands[8] == MeterRates(10, "m", 2, ((0.5, 10), (1.0, 20)))
    assert commands[9] == MeterRates(11, "m", None, ((0.000001, 1), (0.000002, 2)))
    assert commands[10] == MeterRates(12, "dm", "E", ((1.0, 1), (2.0, 2)))
    digest = commands[11]
    assert isinstance(digest, ExpectDigest)
    assert [(a, n.value) for a, n in digest.digest.args] == [("src", 10), ("port", 1)]


def test_value_set_add() -> None:
    cmd = one("value_set_add pvs 0x0800 0x06&&&0x0F")
    assert isinstance(cmd, ValueSetAdd)
    assert cmd.value_set == "pvs"
    assert cmd.values == (
        parse_number("0x0800"),
        Masked(parse_number("0x06"), parse_number("0x0F")),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frobnicate 1", "unknown STF command 'frobnicate'"),
        ("packet 0 0a0", "odd number of hex digits"),
        ("packet 0 zz", "must be hex digits"),
        ("packet x 00", "bad port 'x'"),
        ("packet 0", "packet without data"),
        ("expect 1 00 g1", "hex digits or '*'"),
        ("add t k:1 act(a:1", "expected ','"),
        ("add t k:1", "expected KEY:VALUE or ACTION"),
        ("add t k:0xZZ act()", "bad number '0xZZ'"),
        ("add t k:1 act() extra", "unexpected 'extra' at end of line"),
        ("add t k:1 k:2 act()", "key 'k' given twice"),
        ("add t k:1/0x8 act()", "prefix length '0x8' must be decimal"),
        ("check_counter c(1) frames == 1", "expected 'packets' or 'bytes'"),
        ("check_counter c(1) packets = 1", "expected a comparison"),
        ("check_register r($A) == 1", "indexed by number"),
        ("register_write r 1", "usage: register_write"),
        ("mc_node_create 1 2 | 3", "LAG"),
        ("meter_set_rates m 0 1 2:2", "bad rate '1'"),
        ("wait now", "wait takes no arguments"),
        ("add t k:1 a(x:1, x:2)", "argument 'x' given twice"),
        ("value_set_add pvs", "usage: value_set_add"),
        ("value_set_add pvs 1->2", "VALUE or VALUE&&&MASK"),
    ],
)
def test_malformed_lines_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(STFError) as info:
        parse_stf(f"# first line\n{text}\n", "bad.stf")
    assert str(info.value).startswith("bad.stf:2: error: ")
    assert message in str(info.value)


def test_unreadable_file() -> None:
    with pytest.raises(STFError, match="cannot read STF file"):
        parse_stf_file("/nonexistent/x.stf")
