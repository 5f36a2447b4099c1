"""Every STF case in tests/stf runs on p4sim and must pass; the runner
reports failures the way a user needs to read them."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from types import ModuleType

import pytest
from paths import STF_DIR

from p4sim.errors import STFError
from p4sim.stf.runner import describe_mismatch, resolve_name, run_stf

CASES = sorted(p.stem for p in STF_DIR.glob("*.stf"))


def load_generator() -> ModuleType:
    path = STF_DIR / "gen" / "make_stf.py"
    spec = importlib.util.spec_from_file_location("make_stf", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(program: Path, stf_text: str, tmp_path: Path) -> tuple[int, str]:
    stf = tmp_path / "case.stf"
    stf.write_text(stf_text)
    out = io.StringIO()
    rc = run_stf(program, stf, out=out)
    return rc, out.getvalue().replace(str(stf), "case.stf")


def test_corpus_is_large_enough_and_paired() -> None:
    assert len(CASES) >= 40
    programs = sorted(p.stem for p in STF_DIR.glob("*.p4"))
    assert programs == CASES


def test_generated_files_are_up_to_date() -> None:
    assert load_generator().stale() == []


@pytest.mark.parametrize("case", CASES)
def test_case_passes(case: str) -> None:
    out = io.StringIO()
    rc = run_stf(STF_DIR / f"{case}.p4", STF_DIR / f"{case}.stf", out=out)
    assert rc == 0, out.getvalue()


def test_wrong_bytes_are_named(tmp_path: Path) -> None:
    rc, out = run(
        STF_DIR / "arith_wrap.p4",
        "packet 0 F0 21 00 00 00 0000 7F 01 00 00\nexpect 1 F0 21 12 CF F0 1EF0 7F 01 80 81 $\n",
        tmp_path,
    )
    assert rc == 1
    assert "case.stf:2: expected 1 F021" in out
    assert "got 1 F02111CFF01EF07F018081" in out
    assert "byte 2: expected 12, got 11" in out
    assert "from the packet at line 1" in out


def test_missing_and_unexpected_packets_fail(tmp_path: Path) -> None:
    rc, out = run(
        STF_DIR / "drop_port.p4",
        "packet 0 01FF AA\nexpect 3 01FF AA\npacket 0 01FE BB\n",
        tmp_path,
    )
    assert rc == 1
    assert "case.stf:2: expected 3 01FFAA, got nothing (port 3 emitted 0 packet(s))" in out
    assert "case.stf:3: unexpected packet on port 510: 01FEBB (0 expected on that port)" in out


def test_packets_pair_with_expectations_in_order(tmp_path: Path) -> None:
    rc, out = run(STF_DIR / "drop.p4", "packet 0 01\nexpect 1 01\npacket 0 00\n", tmp_path)
    assert rc == 1
    assert "case.stf:2: expected 1 01, got 1 00 (byte 0: expected 01, got 00; " in out
    assert "from the packet at line 3)" in out


def test_expect_without_data_accepts_any_packets(tmp_path: Path) -> None:
    rc, out = run(STF_DIR / "drop.p4", "packet 0 00\npacket 0 00\nexpect 1\n", tmp_path)
    assert rc == 0, out


def test_failed_counter_check(tmp_path: Path) -> None:
    rc, out = run(
        STF_DIR / "counters.p4",
        "packet 0 01\nexpect 1 01\ncheck_counter per_idx(1) packets == 2\n",
        tmp_path,
    )
    assert rc == 1
    assert "case.stf:3: expected counter IG.per_idx(1) packets == 2, got 1" in out


def test_rejected_control_plane_command_fails(tmp_path: Path) -> None:
    rc, out = run(
        STF_DIR / "table_exact.p4",
        "add fwd dst:1 tag(v:1)\nadd fwd dst:1 tag(v:2)\n",
        tmp_path,
    )
    assert rc == 1
    assert "case.stf:2: error: add rejected: ALREADY_EXISTS" in out


def test_out_of_range_index_fails(tmp_path: Path) -> None:
    rc, out = run(STF_DIR / "registers.p4", "register_write acc 8 1\n", tmp_path)
    assert rc == 1
    assert "case.stf:1: error: register_write rejected: OUT_OF_RANGE" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("add nosuch k:1 a()", "case.stf:1: error: table 'nosuch' not found"),
        ("add fwd nokey:1 tag(v:1)", "has no key 'nokey'"),
        ("add fwd dst:1 tag()", "needs parameter 'v'"),
        ("add fwd dst:0x10000 tag(v:1)", "does not fit in 16 bits"),
        ("add fwd dst:1 tag(v:1, w:2)", "has no parameter 'w'"),
        ("check_counter nosuch(1) packets == 1", "counter 'nosuch' not found"),
    ],
)
def test_names_the_program_lacks_are_stf_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(STFError) as info:
        run(STF_DIR / "table_exact.p4", text + "\n", tmp_path)
    assert message in str(info.value).replace(str(tmp_path / "case.stf"), "case.stf")


def test_describe_mismatch() -> None:
    assert describe_mismatch("00**FF", False, bytes.fromhex("0012FF99")) is None
    assert describe_mismatch("00**FF", True, bytes.fromhex("0012FF99")) == (
        "4 bytes, expected exactly 3"
    )
    assert describe_mismatch("00**FF", False, bytes.fromhex("0012")) == (
        "2 bytes, expected at least 3"
    )
    assert describe_mismatch("0A0B", False, bytes.fromhex("0A0C")) == (
        "byte 1: expected 0B, got 0C"
    )
    assert describe_mismatch("0*", False, bytes.fromhex("1F")) == "byte 0: expected 0*, got 1F"


def test_resolve_name_follows_p4c() -> None:
    names = ["IG.fwd", "IG.fwd_v6", "EG.acl"]
    assert resolve_name("IG.fwd", names) == "IG.fwd"
    assert resolve_name("fwd", names) == "IG.fwd"
    assert resolve_name("acl", names) == "EG.acl"
    with pytest.raises(LookupError, match="not found"):
        resolve_name("nat", names)
    with pytest.raises(LookupError, match="ambiguous"):
        resolve_name("x", ["a.x", "b.x"])


def test_hash_algorithms_match_reference_check_values() -> None:
    gen = load_generator()
    assert gen.crc16_arc(b"123456789") == 0xBB3D
    assert gen.crc32(b"123456789") == 0xCBF43926
    ip_header = bytes.fromhex("4500003044224000800600008c7c19acae241e2b")
    assert gen.csum16(ip_header) == 0x442E
    assert gen.pack((0xA, 4), (0xBCD, 12)) == b"\xab\xcd"
    assert gen.pack((0xBCD, 12)) == b"\xbc\xd0"
