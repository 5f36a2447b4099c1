"""Stacks of header_unions beyond tests/stf/union_stack.stf (which runs on
p4sim and bmv2): pop_front, where bmv2 does not give the spec's result
(docs/p4sim-internals.md, "Differences from bmv2"), and a stack of unions
as an `out` parameter's starting value."""

from __future__ import annotations

from pathlib import Path

from p4sim.compiler import compile_source
from p4sim.runtime.switch import Switch

PROGRAM = Path(__file__).resolve().parents[1] / "stf" / "union_stack.p4"


def test_pop_front_shifts_whole_unions() -> None:
    sw = Switch(compile_source(PROGRAM.read_text(), "union_stack.p4"))
    # short 11, long 2222, short 33; op 2 pops the first element.
    [(port, out)] = sw.process(0, bytes.fromhex("6402" "11" "2222" "33" "0000"))
    assert port == 1
    # u[0] = long 2222, u[1] = short 33, u[2] invalid (valid bits 0b011);
    # lastIndex was 1 after the long, u[0].l is valid (0x20).
    assert out.hex() == "032100" "6402" "2222" "33" "0000"


def test_a_fresh_packet_starts_with_every_union_invalid() -> None:
    sw = Switch(compile_source(PROGRAM.read_text(), "union_stack.p4"))
    sw.process(0, bytes.fromhex("5400" "55" "55" "66"))
    [(_, out)] = sw.process(0, bytes.fromhex("0000" "99"))
    assert out.hex() == "000001" "0000" "99"
