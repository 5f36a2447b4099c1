"""`p4sim compile` takes p4c's flags: -D/-U (kept in the device config),
-I, --p4runtime-files (format by suffix), --p4runtime-file with
--p4runtime-format, --std, --arch, --target and -o; others are errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from finsy.proto import p4i
from google.protobuf import json_format, text_format

from p4sim.cli import main
from p4sim.compiler import load_device_config

# A build profile: the table exists only with -D WITH_ACL, its size is
# ACL_SIZE, and __TARGET_BMV2__ (predefined, as in p4c) can be undefined.
PROGRAM = """
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
    action to(bit<9> port) { sm.egress_spec = port; }
#ifdef WITH_ACL
    table acl { key = { h.h.a : exact; } actions = { to; } size = ACL_SIZE; }
#endif
#ifndef __TARGET_BMV2__
    table plain { key = { h.h.a : exact; } actions = { to; } }
#endif
    apply {
#ifdef WITH_ACL
        acl.apply();
#endif
    }
}
control E(inout H h, inout M m, inout standard_metadata_t sm) { apply { } }
control C(inout H h, inout M m) { apply { } }
control D(packet_out p, in H h) { apply { p.emit(h.h); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "prog.p4"
    path.write_text(PROGRAM)
    return path


def tables(p4info: p4i.P4Info) -> dict[str, int]:
    return {t.preamble.name: t.size for t in p4info.tables}


def test_defines_build_profiles_and_travel_in_the_device_config(
        program: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["compile", str(program), "-DWITH_ACL", "-D", "ACL_SIZE=64",
                 "-U__TARGET_BMV2__", "--p4runtime-files", f"{tmp_path}/a.txtpb,{tmp_path}/a.json",
                 "--p4runtime-files", str(tmp_path / "a.bin"), "--std", "p4-16",
                 "--arch", "v1model", "--target", "bmv2", "-o", str(out)]) == 0
    text = text_format.Parse((tmp_path / "a.txtpb").read_text(), p4i.P4Info())
    # `plain` is never applied: p4c leaves it out of P4Info, and so does p4sim.
    assert tables(text) == {"I.acl": 64}
    from_json = json_format.Parse((tmp_path / "a.json").read_text(), p4i.P4Info())
    from_bin = p4i.P4Info.FromString((tmp_path / "a.bin").read_bytes())
    assert from_json == text == from_bin
    config = (out / "prog.json").read_bytes()
    assert json.loads(config)["defines"] == {"WITH_ACL": "1", "ACL_SIZE": "64",
                                             "__TARGET_BMV2__": None}
    assert tables(load_device_config(config).p4info) == {"I.acl": 64}


def test_without_defines_the_profile_is_the_default(program: Path, tmp_path: Path) -> None:
    assert main(["compile", str(program), "--p4runtime-file", str(tmp_path / "x.out"),
                 "--p4runtime-format", "binary"]) == 0
    assert tables(p4i.P4Info.FromString((tmp_path / "x.out").read_bytes())) == {}


@pytest.mark.parametrize(("flags", "message"), [
    (["--std", "p4-14"], "--std p4-14: p4sim compiles P4_16 only"),
    (["--arch", "psa"], "--arch psa: p4sim runs the v1model architecture only"),
    (["--target", "dpdk"], "--target dpdk: p4sim stands in for p4c's bmv2 target only"),
    (["--p4runtime-files", "x.yaml"], "cannot tell the format of 'x.yaml' from its suffix"),
    (["--p4runtime-format", "json"], "--p4runtime-format needs --p4runtime-file"),
])
def test_flags_p4sim_cannot_honour_are_errors(
        program: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compile", str(program), *flags]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "message"), [
    (["--nonsense"], "error: unrecognized arguments: --nonsense"),
    (["-D", "1BAD"], "error: argument -D: '1BAD' is not NAME or NAME=VALUE"),
    (["-U", "A=1"], "error: argument -U: 'A=1' is not a macro name"),
])
def test_unknown_or_malformed_flags_are_usage_errors(
        program: Path, flags: list[str], message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["compile", str(program), *flags])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
