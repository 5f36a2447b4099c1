"""Every STF case of tests/stf on bmv2 as well as on p4sim: bmv2 must emit
the same frames on the same ports as p4sim (in order, per port), the same
digests and counter values, and meet the STF expectations itself.

The driver is tests/support/bmv2_stf.py (simple_switch_grpc, entries by
P4Runtime, packets on its nanomsg socket: no root needed). A case whose
difference is explained (docs/p4sim-internals.md, "Differences from bmv2")
is a strict xfail: it must still differ, so the list stays true.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from needs import skip_reason
from paths import STF_DIR

NEEDS_BMV2 = skip_reason(target="bmv2", root=False)

pytestmark = pytest.mark.skipif(NEEDS_BMV2 is not None, reason=NEEDS_BMV2 or "")

# case -> why bmv2 cannot give p4sim's result (each is in docs/p4sim-internals.md)
KNOWN_DIFFERENCES = {
    "size_methods": "p4c 1.2.5.16 crashes on the program (Compiler Bug in typeMap.cpp)",
    "registers": "bmv2's P4Runtime server has no register writes (UNIMPLEMENTED)",
    "value_set": "bmv2's P4Runtime server has no value_set writes (UNIMPLEMENTED)",
    "timestamps": "p4sim's STF runner uses a virtual clock, bmv2 the real one",
}

CASES = sorted(p.stem for p in STF_DIR.glob("*.stf") if p.with_suffix(".p4").exists())


def _param(name: str) -> object:
    if name in KNOWN_DIFFERENCES:
        return pytest.param(
            name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[name])
        )
    return name


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_stf_case_gives_the_same_packets_on_bmv2_as_on_p4sim(case: str, tmp_path: Path) -> None:
    from bmv2_stf import compare_case

    result = compare_case(STF_DIR / f"{case}.p4", STF_DIR / f"{case}.stf", tmp_path)
    assert not result.problems, f"{case}:\n" + "\n".join(result.problems)
    # The case must have compared something: frames, or digests/counters.
    assert result.p4sim.packet_count or result.p4sim.checks or result.p4sim.digests


def test_the_corpus_is_all_compared() -> None:
    """Every case runs here; only the explained ones may differ."""
    assert len(CASES) >= 61
    assert set(KNOWN_DIFFERENCES) <= set(CASES)
