"""`p4sim compile` and `p4sim stf` as a user runs them: files written, exit
status, and errors printed as `file:line:col: error: ...`."""

from __future__ import annotations

from pathlib import Path

import pytest
from semantics_harness import source

from p4sim.cli import main
from p4sim.compiler import load_device_config

GOOD = source("bit<8> a;", "hdr.h.a = hdr.h.a + 1;")


def test_compile_writes_p4info_and_device_config(tmp_path: Path) -> None:
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "extra.p4").write_text("const bit<8> STEP = 2;\n")
    prog = tmp_path / "prog.p4"
    prog.write_text('#include "extra.p4"\n' + GOOD.replace("+ 1;", "+ STEP;"))
    p4info, config = tmp_path / "out.txtpb", tmp_path / "out.bin"
    status = main(["compile", str(prog), "--p4info", str(p4info), "--device-config",
                   str(config), "-I", str(inc)])
    assert status == 0
    assert 'arch: "v1model"' in p4info.read_text()
    # The device config carries the included file too and compiles elsewhere.
    (inc / "extra.p4").unlink()
    assert load_device_config(config.read_bytes()).name == "prog"


def test_compile_error_prints_position_and_fails(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    prog = tmp_path / "bad.p4"
    prog.write_text(GOOD.replace("hdr.h.a + 1", "hdr.h.a + true"))
    assert main(["compile", str(prog)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{prog}:")
    assert ": error: " in err


def test_missing_program_is_a_clear_error(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(tmp_path / "nope.p4")]) == 1
    assert "nope.p4" in capsys.readouterr().err


def test_stf_runs_a_test(tmp_path: Path) -> None:
    prog = tmp_path / "prog.p4"
    prog.write_text(GOOD)
    stf = tmp_path / "t.stf"
    stf.write_text("packet 0 05\nexpect 1 06\n")
    assert main(["stf", str(prog), str(stf)]) == 0
    stf.write_text("packet 0 05\nexpect 1 07\n")
    assert main(["stf", str(prog), str(stf)]) != 0


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
