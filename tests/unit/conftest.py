"""Fixtures of the switch controller's unit tests (test_controller_*.py):
p4sim's server in this process, and a controller that is its primary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from controller_support import Releases, Switch, start_controller, stop_controller

from controller.switch.core import Controller


@pytest.fixture
def switch() -> Iterator[Switch]:
    running = Switch()
    yield running
    running.stop()


@pytest.fixture
def releases() -> Releases:
    return Releases()


@pytest.fixture
def controller(switch: Switch, tmp_path: Path, releases: Releases) -> Iterator[Controller]:
    running = start_controller(switch, tmp_path / "flows.sqlite", releases)
    yield running
    stop_controller(running)
