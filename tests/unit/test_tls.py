"""Mutual TLS on the agent channel and on P4Runtime, with a lab's certificates
(controller.handoff.tls): who gets through, and that a blob on a refused connection
never reaches the agent."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import ssl
import stat
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest
from handoff_samples import FORWARDER, KEYS, make_handoff
from paths import BASIC_TOPOLOGY

from controller.agent.core import Agent, Backends, DecapCounts
from controller.config.topology import load_topology
from controller.handoff.agent_protocol import AgentClient, AgentUnavailable, encode_frame
from controller.handoff.blob import Commit, Handoff, Ping, seal, sealed_nonce
from controller.handoff.tcpstate import ConnectionState
from controller.handoff.tls import (
    Identity,
    TlsConfigError,
    TlsFiles,
    add_tls_arguments,
    issue_certificates,
    tls_files,
)
from controller.lab.netns import LabNames
from controller.lab.switch import switch_argv
from controller.p4rt import P4RuntimeClient, RpcError
from p4sim.server.main import parse_args as p4sim_args
from p4sim.server.server import ServerThread
from p4sim.server.tls import server_credentials

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

LOOPBACK = "127.0.0.1"


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TlsFiles]:
    """The lab's identities, plus an agent certified for another address and a
    classifier certified by a CA the others do not trust."""
    root = tmp_path_factory.mktemp("tls")
    issued = issue_certificates(root / "lab", [
        Identity("switch", "server", ("localhost",)),
        Identity("controller", "client"),
        Identity("agent-b1", "server", ("b1", LOOPBACK)),
        Identity("agent-elsewhere", "server", ("10.9.9.9",)),
        Identity("classifier-k1", "client"),
    ])  # fmt: skip
    rogue = issue_certificates(root / "rogue", [Identity("classifier-k1", "client")])
    return {**issued, "rogue-classifier": rogue["classifier-k1"]}


class RecordingBackends:
    """Kernel steps that only record; `restore` gives a fresh unconnected socket."""

    def __init__(self) -> None:
        self.installed: list[tuple[str, int]] = []

    def backends(self) -> Backends:
        def decap_add(forwarder: str, flow_id: int, _: ConnectionState) -> None:
            self.installed.append((forwarder, flow_id))

        def decap_remove(flows: list[tuple[str, int]]) -> list[Exception | None]:
            for flow in flows:
                self.installed.remove(flow)
            return [None] * len(flows)

        async def hand_over(sock: socket.socket, _: Handoff) -> None:
            pass

        return Backends(
            decap_add=decap_add,
            decap_remove=decap_remove,
            restore=lambda _: socket.socket(),
            close_silently=lambda sock: sock.close(),
            hand_over=hand_over,
            counts=lambda: DecapCounts(decapsulated=0, unmapped=0),
        )


async def _serving_agent(
    files: TlsFiles, kernel: RecordingBackends
) -> tuple[Agent, int]:
    agent = Agent(KEYS, kernel.backends())
    _, port = await agent.start(LOOPBACK, 0, ssl_context=files.server_context())
    return agent, port


def _probe() -> bytes:
    return seal(Ping(), KEYS)


def test_classifier_with_a_lab_certificate_hands_off_over_tls(pki: dict[str, TlsFiles]) -> None:
    kernel = RecordingBackends()

    async def go() -> tuple[str, str, str]:
        agent, port = await _serving_agent(pki["agent-b1"], kernel)
        client = AgentClient(LOOPBACK, port, ssl_context=pki["classifier-k1"].client_context())
        try:
            blob = seal(make_handoff(), KEYS)
            handoff = await client.request(blob, timeout=5)
            commit = seal(Commit(0x00010002, FORWARDER, sealed_nonce(blob)), KEYS)
            committed = await client.request(commit, timeout=5)
            probe = await client.request(_probe(), timeout=5)
            return handoff.reason, committed.code, probe.code
        finally:
            await client.close()
            await agent.stop()

    handoff, committed, probe = run(go())
    assert handoff.startswith("ready: flow 65538"), handoff
    assert committed == probe == "ok"
    assert kernel.installed == [(FORWARDER, 0x00010002)]


def _refused_then_accepted(
    pki: dict[str, TlsFiles], context: ssl.SSLContext | None
) -> tuple[str, list[tuple[str, int]], str]:
    """Sends a valid handoff blob over a connection made with `context`; returns
    what that client saw, what the agent installed, and the agent's answer to
    the very same blob over a proper connection afterwards."""
    kernel = RecordingBackends()

    async def go() -> tuple[str, list[tuple[str, int]], str]:
        agent, port = await _serving_agent(pki["agent-b1"], kernel)
        blob = seal(make_handoff(), KEYS)  # after the start: older blobs are refused as stale
        intruder = AgentClient(LOOPBACK, port, ssl_context=context, connect_timeout=3)
        good = AgentClient(LOOPBACK, port, ssl_context=pki["classifier-k1"].client_context())
        try:
            try:
                seen = (await intruder.request(blob, timeout=3)).reason
            except AgentUnavailable as exc:  # AgentUnreachable included
                seen = f"refused: {exc}"
            installed = list(kernel.installed)
            later = (await good.request(blob, timeout=5)).reason
            return seen, installed, later
        finally:
            await intruder.close()
            await good.close()
            await agent.stop()

    result: tuple[str, list[tuple[str, int]], str] = run(go())
    return result


def test_plaintext_connection_is_refused_and_its_blob_never_reaches_the_agent(
    pki: dict[str, TlsFiles],
) -> None:
    seen, installed, later = _refused_then_accepted(pki, None)
    assert seen.startswith("refused"), seen
    assert installed == []
    # Not "replayed": the agent never saw the blob, so it is as fresh as new.
    assert later.startswith("ready: flow 65538"), later


def test_tls_without_a_client_certificate_is_refused(pki: dict[str, TlsFiles]) -> None:
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.load_verify_locations(pki["agent-b1"].ca)
    seen, installed, later = _refused_then_accepted(pki, anonymous)
    assert seen.startswith("refused"), seen
    assert installed == [] and later.startswith("ready:"), later


def test_certificate_from_another_ca_is_refused(pki: dict[str, TlsFiles]) -> None:
    rogue = pki["rogue-classifier"]
    # It trusts the lab's CA, so only the agent's check of its certificate stops it.
    context = TlsFiles(pki["agent-b1"].ca, rogue.cert, rogue.key).client_context()
    seen, installed, later = _refused_then_accepted(pki, context)
    assert seen.startswith("refused"), seen
    assert installed == [] and later.startswith("ready:"), later


def test_a_server_certificate_cannot_be_used_to_connect(pki: dict[str, TlsFiles]) -> None:
    """A stolen agent key does not open other agents: its certificate is for serving."""
    seen, installed, later = _refused_then_accepted(pki, pki["agent-elsewhere"].client_context())
    assert seen.startswith("refused"), seen
    assert installed == [] and later.startswith("ready:"), later


def test_classifier_refuses_an_agent_certified_for_another_address(
    pki: dict[str, TlsFiles],
) -> None:
    kernel = RecordingBackends()

    async def go() -> str:
        agent, port = await _serving_agent(pki["agent-elsewhere"], kernel)
        client = AgentClient(LOOPBACK, port, ssl_context=pki["classifier-k1"].client_context())
        try:
            await client.request(seal(make_handoff(), KEYS), timeout=5)
        except AgentUnavailable as exc:
            return str(exc)
        finally:
            await client.close()
            await agent.stop()
        return "answered"

    assert "not valid for '127.0.0.1'" in run(go())
    assert kernel.installed == []


def test_tls_server_drops_a_plaintext_frame_unanswered(pki: dict[str, TlsFiles]) -> None:
    """The raw view of a plaintext client: its frame is not TLS, the agent hangs up."""

    async def go() -> bytes:
        agent, port = await _serving_agent(pki["agent-b1"], RecordingBackends())
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        try:
            writer.write(encode_frame(1, _probe()))
            await writer.drain()
            return await reader.read(4096)
        finally:
            writer.close()
            await agent.stop()

    answer = run(go())
    assert b"ok" not in answer and len(answer) < 64  # at most a TLS alert


# ---------------------------------------------------------------- P4Runtime


@pytest.fixture()
def tls_switch(pki: dict[str, TlsFiles], tmp_path: Path) -> Iterator[str]:
    files = pki["switch"]
    switch = ServerThread()
    address = f"unix:{tmp_path / 'p4rt.sock'}"
    switch.start(address, server_credentials(files.cert, files.key, files.ca, True))
    yield address
    switch.stop()


def test_p4runtime_client_with_the_controller_certificate_becomes_primary(
    tls_switch: str, pki: dict[str, TlsFiles]
) -> None:
    credentials = pki["controller"].channel_credentials()
    with P4RuntimeClient(tls_switch, election_id=5, credentials=credentials, timeout=5) as client:
        assert client.is_primary


@pytest.mark.parametrize("who", ["plaintext", "agent-b1", "rogue-classifier"])
def test_p4runtime_switch_refuses_clients_without_a_lab_client_certificate(
    tls_switch: str, pki: dict[str, TlsFiles], who: str
) -> None:
    credentials = None
    if who != "plaintext":
        files = pki[who]
        credentials = TlsFiles(pki["switch"].ca, files.cert, files.key).channel_credentials()
    client = P4RuntimeClient(tls_switch, credentials=credentials, timeout=1.0)
    with pytest.raises(RpcError, match="UNAVAILABLE"):
        client.connect()


def test_switch_argv_serves_mutual_tls_with_p4sims_flags(pki: dict[str, TlsFiles]) -> None:
    topology = load_topology(BASIC_TOPOLOGY)
    names = LabNames("tt")
    files = pki["switch"]
    argv = switch_argv(topology, names, "unix:/run/x.sock", tls=files)
    args = p4sim_args(argv[argv.index("p4sim.cli") + 1 :])
    assert args.grpc_server_ssl and args.grpc_server_with_client_auth
    assert (args.grpc_server_cert, args.grpc_server_key, args.grpc_server_cacert) == (
        files.cert, files.key, files.ca,
    )  # fmt: skip
    plain = switch_argv(topology, names, "unix:/run/x.sock")
    assert not [arg for arg in plain if arg.startswith("--grpc-server-") and "addr" not in arg]


# ---------------------------------------------------------------- files and flags


def test_certificates_are_private_and_the_ca_key_is_gone(pki: dict[str, TlsFiles]) -> None:
    directory = pki["switch"].cert.parent
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    keys = sorted(p.name for p in directory.glob("*.key"))
    assert keys == ["agent-b1.key", "agent-elsewhere.key", "classifier-k1.key",
                    "controller.key", "switch.key"]  # fmt: skip
    assert all(stat.S_IMODE((directory / k).stat().st_mode) == 0o600 for k in keys)


def test_missing_file_is_named(tmp_path: Path, pki: dict[str, TlsFiles]) -> None:
    files = TlsFiles(pki["switch"].ca, tmp_path / "gone.crt", pki["switch"].key)
    with pytest.raises(TlsConfigError, match=r"certificate .*gone\.crt: No such file"):
        files.client_context()
    with pytest.raises(TlsConfigError, match=r"gone\.crt"):
        files.channel_credentials()


def test_key_that_does_not_match_the_certificate_is_refused(pki: dict[str, TlsFiles]) -> None:
    mixed = TlsFiles(pki["switch"].ca, pki["switch"].cert, pki["controller"].key)
    with pytest.raises(TlsConfigError, match=r"switch\.crt with key .*controller\.key"):
        mixed.server_context()


def test_tls_flags_go_together() -> None:
    parser = argparse.ArgumentParser()
    add_tls_arguments(parser, "tests")
    assert tls_files(parser.parse_args([])) is None
    given = tls_files(parser.parse_args(["--tls-ca", "a", "--tls-cert", "b", "--tls-key", "c"]))
    assert given == TlsFiles(Path("a"), Path("b"), Path("c"))
    with pytest.raises(TlsConfigError, match="--tls-cert and --tls-key missing"):
        tls_files(parser.parse_args(["--tls-ca", "a"]))


def test_identity_names_must_be_unique(tmp_path: Path) -> None:
    with pytest.raises(TlsConfigError, match="unique"):
        issue_certificates(tmp_path, [Identity("a", "client"), Identity("a", "server")])
