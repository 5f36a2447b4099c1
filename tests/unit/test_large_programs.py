"""The large programs of tests/p4_programs_large (issue 12, item 4): two
multi-file v1model programs in the style users bring (a fabric leaf switch
and a GTP-U tunnel gateway with a stateful firewall), each with several
build profiles chosen by -D.

For every program and profile: p4sim compiles it and, when p4c's bmv2 back
end is on PATH, its P4Info text equals p4c-bm2-ss's byte for byte. STF
cases (tests/p4_programs_large/stf_cases.py, packets built with scapy) run
on p4sim: tables of every match kind with priorities, header unions,
registers, counters, digests, clone sessions with preserved field lists,
multicast, value sets, controller headers.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from needs import skip_reason

from p4sim.compiler import compile_file
from p4sim.errors import P4SourceError
from p4sim.p4info.generate import p4info_to_text
from p4sim.stf.runner import run_stf

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "p4_programs_large"))
import stf_cases  # noqa: E402

NEEDS_P4C = skip_reason("p4c-bm2-ss", root=False)
PROFILE_IDS = [
    (name, profile) for name, (_, profiles) in stf_cases.PROFILES.items() for profile in profiles
]


def test_the_programs_are_large_and_multi_file() -> None:
    lines = {
        name: stf_cases.source_lines(program) for name, (program, _) in stf_cases.PROFILES.items()
    }
    assert sum(lines.values()) >= 1500, lines
    for program, profiles in stf_cases.PROFILES.values():
        assert len(list(program.parent.glob("*.p4"))) >= 6
        assert len(profiles) >= 4


@pytest.mark.timeout(300)
@pytest.mark.skipif(NEEDS_P4C is not None, reason=NEEDS_P4C or "")
@pytest.mark.parametrize(("name", "profile"), PROFILE_IDS, ids=[f"{n}-{p}" for n, p in PROFILE_IDS])
def test_p4info_equals_p4c(name: str, profile: str, tmp_path: Path) -> None:
    program, profiles = stf_cases.PROFILES[name]
    defines = profiles[profile]
    p4info = tmp_path / "p4c.txtpb"
    backend = shutil.which("p4c-bm2-ss")
    assert backend is not None
    result = subprocess.run(
        [
            backend,
            "--arch",
            "v1model",
            "--Wdisable",
            *stf_cases.d_flags(defines),
            "--p4runtime-files",
            str(p4info),
            "-o",
            str(tmp_path / "p4c.json"),
            str(program),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    mine = p4info_to_text(compile_file(program, defines=defines).p4info)
    assert mine == p4info.read_text()


@pytest.mark.parametrize(("name", "profile"), PROFILE_IDS, ids=[f"{n}-{p}" for n, p in PROFILE_IDS])
def test_every_profile_compiles_on_p4sim(name: str, profile: str) -> None:
    program, profiles = stf_cases.PROFILES[name]
    compiled = compile_file(program, defines=profiles[profile])
    assert len(compiled.schema.tables) >= 9


@pytest.mark.parametrize("case", sorted(stf_cases.CASES))
def test_stf_case_passes_on_p4sim(case: str, tmp_path: Path) -> None:
    spec = stf_cases.CASES[case]
    stf = tmp_path / f"{case}.stf"
    stf.write_text(spec.script)
    out = io.StringIO()
    program = compile_file(spec.program, defines=spec.defines)
    rc = run_stf(spec.program, stf, out=out, program=program)
    assert rc == 0, out.getvalue()


def test_an_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    """A profile that breaks a macro: the error is `file:line:col:` in the
    file that uses it, not a traceback."""
    with pytest.raises(P4SourceError) as caught:
        compile_file(stf_cases.LEAF, defines={"TABLE_SCALE": "no_such_constant"})
    message = str(caught.value)
    assert message.startswith(str(stf_cases.LEAF.parent / "forwarding.p4") + ":"), message
    line, col = message.split(":")[1:3]
    assert line.isdigit() and col.isdigit()


NEEDS_BMV2 = skip_reason(target="bmv2", root=False)
GATEWAY_ON_BMV2 = (
    "bmv2's P4Runtime server (PI) refuses the gateway's P4Info: digests with members of a "
    "new type (teid_t) or a serializable enum are 'too complex' for it"
)
# case -> why bmv2 cannot give p4sim's result
BMV2_DIFFERENCES = {
    "leaf-ecmp": "tests/support/bmv2_stf.py writes direct actions, which bmv2 refuses in an "
    "action-selector table (hashed); p4c's own STF driver creates members",
    "leaf-int": "the INT report carries timestamps: p4sim's STF runner uses a virtual clock",
    "gateway": GATEWAY_ON_BMV2,
    "gateway-value-set": GATEWAY_ON_BMV2,
    "gateway-flow-reports": GATEWAY_ON_BMV2,
}


def _bmv2_param(case: str) -> object:
    if case in BMV2_DIFFERENCES:
        return pytest.param(
            case, marks=pytest.mark.xfail(strict=True, reason=BMV2_DIFFERENCES[case])
        )
    return case


@pytest.mark.timeout(300)
@pytest.mark.skipif(NEEDS_BMV2 is not None, reason=NEEDS_BMV2 or "")
@pytest.mark.parametrize("case", [_bmv2_param(c) for c in sorted(stf_cases.CASES)])
def test_stf_case_gives_the_same_packets_on_bmv2(case: str, tmp_path: Path) -> None:
    """The same script on simple_switch_grpc (tests/support/bmv2_stf.py);
    the profile's defines go in a main file that includes the program, so
    both compilers see them."""
    from bmv2_stf import compare_case

    spec = stf_cases.CASES[case]
    main = tmp_path / f"{case}.p4"
    defines = "".join(f"#define {k} {v}\n" for k, v in spec.defines.items() if v is not None)
    main.write_text(f'{defines}#include "{spec.program}"\n')
    stf = tmp_path / f"{case}.stf"
    stf.write_text(spec.script)
    result = compare_case(main, stf, tmp_path / "build")
    assert not result.problems, f"{case}:\n" + "\n".join(result.problems)
