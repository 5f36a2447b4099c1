"""Fixtures of the system tests: whole labs brought up by the product's own
harness (controller.lab.session.LabSession, i.e. controller.lab.lab
`up()`/`down()` as `handoff lab up` runs them) under a unique namespace prefix
and run directory, one lab per test module and switch target.

Every module's lab runs on each target: p4sim always, bmv2 where `p4c` and
`simple_switch_grpc` are on PATH; otherwise the bmv2 runs skip and say why
(tests/support/needs.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import pytest
from e2e_support import PIN_POLICY
from needs import skip_reason

from controller.lab.session import BASIC_TOPOLOGY, LabSession

TARGETS = ("p4sim", "bmv2")
LAB_TOOLS = ("ip", "nft", "ethtool", "ss")
S = TypeVar("S", bound=LabSession)


@pytest.fixture(scope="module", params=TARGETS)
def target(request: pytest.FixtureRequest) -> str:
    chosen: str = request.param
    return chosen


def bring_up(
    tmp_path_factory: pytest.TempPathFactory,
    target: str,
    *,
    tag: str,
    tools: Sequence[str] = LAB_TOOLS,
    topology: Path = BASIC_TOPOLOGY,
    policy: Mapping[str, object] | Path | None = None,
    tls: bool = False,
    session: type[S] = LabSession,  # type: ignore[assignment]
) -> Iterator[S]:
    """Generator body of a lab fixture: skip with the reason when this
    machine cannot run it, else up, yield, and down whatever happened."""
    reason = skip_reason(*tools, target=target)
    if reason is not None:
        pytest.skip(reason)
    # The session's own run root (removed by down()), not pytest's tmp_path:
    # pytest deletes old base directories, also those of a run still going.
    lab = session(topology, policy=policy, target=target, tls=tls, tag=tag)
    lab.up()  # on failure it has removed everything itself
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def pinned_lab(tmp_path_factory: pytest.TempPathFactory, target: str) -> Iterator[LabSession]:
    """The basic topology with the policy of e2e_support.PIN_POLICY: a request
    picks its back-end with `X-Handoff-To`."""
    yield from bring_up(tmp_path_factory, target, tag="e", policy=PIN_POLICY)
