"""Kernel tests: real namespaces, veths, nftables and TCP_REPAIR, as root.
Each test gets a Lab of its own whose namespaces are removed even when the
test fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kernel_lab import Lab
from needs import skip_reason


@pytest.fixture(name="lab")
def lab_fixture() -> Iterator[Lab]:
    reason = skip_reason("ip", "nft")
    if reason is not None:
        pytest.skip(reason)
    the_lab = Lab()
    try:
        yield the_lab
    finally:
        the_lab.close()
