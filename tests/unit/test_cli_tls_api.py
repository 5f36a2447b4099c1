"""A deployment's controller API on TCP with --tls-*: served with mutual TLS,
and `handoff stats --controller HOST:PORT --tls-ca/--tls-cert/--tls-key`
reaches it (and, without the flags, is refused with the address named)."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller import cli
from controller.handoff.tls import Identity, TlsFiles, issue_certificates
from controller.proto import handoff_pb2 as pb
from controller.switch.service import ServiceHost

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


class FakeController:
    def stats(self) -> pb.StatsResponse:
        return pb.StatsResponse(role="controller", name="controller-tls", primary=True,
                                counters={"p4handoff_controller_primary": 1.0})  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, TlsFiles]]]:
    files = issue_certificates(tmp_path / "tls", [
        Identity("controller", "server", ("localhost", "127.0.0.1")),
        Identity("operator", "client"),
    ])  # fmt: skip
    address = f"127.0.0.1:{free_port()}"
    fake: Any = FakeController()
    host = ServiceHost(fake, address, workers=2,
                       credentials=files["controller"].server_credentials())  # fmt: skip
    host.start()
    yield address, files
    host.stop()


def test_stats_over_mutual_tls_with_the_flags_every_command_takes(
    served: tuple[str, dict[str, TlsFiles]], capsys: pytest.CaptureFixture[str]
) -> None:
    address, files = served
    me = files["operator"]
    flags = ["--controller", address, "--tls-ca", str(me.ca), "--tls-cert", str(me.cert),
             "--tls-key", str(me.key)]  # fmt: skip
    assert cli.main(["stats", "--json", *flags]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["controller"]["name"] == "controller-tls"
    assert document["classifiers"] == []
    assert cli.main(["stats", "--controller", address]) == 1  # plaintext to a TLS server
    assert "handoff stats: controller: UNAVAILABLE" in capsys.readouterr().err
