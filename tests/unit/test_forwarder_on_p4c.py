"""The forwarder as p4c builds it for bmv2, where bmv2's own rules bite:
every digest() call site gets a learn list of its own in bmv2's JSON, but
P4Runtime configures one list per digest type, so the samples of any other
call site never reach the controller (a connection end lost on bmv2 only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from needs import skip_reason
from paths import FORWARDER_P4

NEEDS_P4C = skip_reason(target="bmv2", root=False)
pytestmark = pytest.mark.skipif(NEEDS_P4C is not None, reason=NEEDS_P4C or "")


def test_each_digest_type_has_exactly_one_learn_list(tmp_path: Path) -> None:
    from bmv2 import compile_p4c

    compiled = compile_p4c(FORWARDER_P4, tmp_path)
    learn_lists = [item["name"] for item in json.loads(compiled.device_config)["learn_lists"]]
    digests = [digest.preamble.name for digest in compiled.p4info().digests]
    assert sorted(learn_lists) == sorted(digests), (
        "a digest type with several digest() call sites in p4src/: "
        f"learn lists {learn_lists}, P4Info digests {digests}"
    )
