"""`handoff lab up --tls`: the whole lab with mutual TLS on P4Runtime and on every
agent connection. Real clients still get served through handoffs, while a
P4Runtime client or an agent peer without a lab certificate is turned away
before anything it sends is read."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from conftest import bring_up
from needs import skip_reason
from paths import BASIC_TOPOLOGY

from controller.config.topology import load_topology
from controller.handoff.blob import Abort, Handoff, seal, sealed_nonce
from controller.handoff.keys import load_keys
from controller.handoff.tcpstate import ConnectionState, RepairWindow, TcpOptions
from controller.handoff.tls import Identity, TlsFiles, issue_certificates
from controller.lab.lab import AGENT_PORT, Lab, down
from controller.lab.netns import LabNames, in_netns
from controller.lab.query import list_flows
from controller.lab.session import LabSession
from controller.lab.switch import SOCKET_NAME
from controller.p4rt import P4RuntimeClient, RpcError

TLS_LAB_TOOLS = ("ip", "nft", "ethtool", "ss", "curl", "openssl")
SKIP_REASON = skip_reason(*TLS_LAB_TOOLS)

PEER = Path(__file__).resolve().parent / "tls_peer.py"
VIP = "10.0.0.100"
FORWARDER = "10.0.0.1"
STRANGER_FLOW = 0x7A7B7C7D


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabSession]:
    """One target is enough here: TLS is the controller's and the agents'
    business, and p4sim and bmv2 take the same server flags."""
    yield from bring_up(tmp_path_factory, "p4sim", tag="s", tools=TLS_LAB_TOOLS, tls=True)


@pytest.fixture
def lab(session: LabSession) -> Lab:
    return session.lab


def served_by(lab: Lab, path: str, *extra: str) -> tuple[int, str]:
    done = subprocess.run(
        in_netns(lab.names.host("c1"), ["curl", "-s", "-m", "10", "-o", "/dev/null", "-D", "-",
                                        *extra, f"http://{VIP}{path}"]),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    status = re.search(r"^HTTP/1.1 (\d+)", done.stdout, re.M)
    backend = re.search(r"^X-Backend: (\S+)", done.stdout, re.M | re.I)
    assert status is not None, done.stdout
    return int(status.group(1)), backend.group(1) if backend else ""


def test_every_process_runs_with_its_own_certificate(lab: Lab) -> None:
    _, records = lab.table.load()
    by_name = {r.name: r.argv for r in records}
    assert "--grpc-server-with-client-auth" in by_name["switch"]
    for name in ("controller", "classifier-k1", "agent-b1", "agent-b2", "agent-b3"):
        argv = by_name[name]
        assert argv[argv.index("--tls-cert") + 1] == str(lab.tls_dir / f"{name}.crt")
    assert not list(lab.tls_dir.glob("ca.key"))


def test_requests_are_handed_off_end_to_end_over_tls(lab: Lab) -> None:
    weighted = [served_by(lab, "/")[1] for _ in range(6)]
    assert sorted(weighted) == ["b1", "b1", "b1", "b1", "b2", "b2"]
    assert served_by(lab, "/static/a.css") == (200, "b3")
    status, backend = served_by(lab, "/sha256", "--data-binary", "x")
    assert status == 200 and backend in ("b1", "b2")
    # The controller wrote a switch entry per handoff over its TLS P4Runtime session.
    flows = list_flows(lab.run_dir).flows
    assert len(flows) >= 8 and {f.ref.backend for f in flows} == {
        "10.0.2.11", "10.0.2.12", "10.0.2.13",
    }  # fmt: skip


@pytest.mark.parametrize("how", ["plaintext", "without a client certificate"])
def test_switch_refuses_p4runtime_clients_without_a_lab_certificate(lab: Lab, how: str) -> None:
    credentials = None
    if how != "plaintext":
        credentials = grpc.ssl_channel_credentials((lab.tls_dir / "ca.crt").read_bytes())
    stranger = P4RuntimeClient(f"unix:{lab.run_dir / SOCKET_NAME}", election_id=99,
                               credentials=credentials, timeout=1.0)  # fmt: skip
    with pytest.raises(RpcError, match="UNAVAILABLE"):
        stranger.connect()
    # The controller kept its session (a stranger with a higher election id
    # would otherwise have taken primacy): handoffs still get their entries.
    assert served_by(lab, "/")[0] == 200


def _stranger_handoff(lab: Lab) -> bytes:
    """A handoff sealed with the lab's own key: only TLS keeps it from the agent."""
    state = ConnectionState(
        client_ip="10.0.1.10", client_port=45_678, vip_ip=VIP, vip_port=80,
        snd_seq=1_000_001, rcv_seq=2_000_001,
        window=RepairWindow(snd_wl1=1_000_001, snd_wnd=64_240, max_window=64_240,
                            rcv_wnd=65_160, rcv_wup=2_000_001),
        options=TcpOptions(mss=1460, snd_wscale=7, rcv_wscale=7, sack=True, timestamps=False,
                           ts_offset=0),
        send_unacked=b"", send_unsent=b"", receive=b"GET / HTTP/1.1\r\n\r\n",
    )  # fmt: skip
    return seal(Handoff(STRANGER_FLOW, FORWARDER, state), load_keys(lab.keys))


def _from_classifier_host(lab: Lab, blob: bytes, *tls: str) -> dict[str, str | None]:
    agent = str(lab.topology.host("b1").interface.ip)
    done = subprocess.run(
        in_netns(lab.names.host("k1"),
                 [sys.executable, str(PEER), agent, str(AGENT_PORT), blob.hex(), *tls]),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer: dict[str, str | None] = json.loads(done.stdout)
    return answer


def test_agent_refuses_peers_without_a_lab_client_certificate(
    session: LabSession, lab: Lab, tmp_path: Path
) -> None:
    rogue = issue_certificates(tmp_path / "rogue", [Identity("classifier-k1", "client")])
    ca = str(lab.tls_dir / "ca.crt")
    blob = _stranger_handoff(lab)
    attempts = {
        "plaintext": (),
        "TLS, no certificate": ("--ca", ca),
        "TLS, certificate from another CA": ("--ca", ca, "--cert", str(rogue["classifier-k1"].cert),
                                             "--key", str(rogue["classifier-k1"].key)),
    }  # fmt: skip
    for how, tls in attempts.items():
        answer = _from_classifier_host(lab, blob, *tls)
        assert answer["reply"] is None, f"{how}: the agent answered {answer['reply']!r}"
    assert STRANGER_FLOW not in session.decap_flow_ids("b1")
    # Ask the agent, as the classifier, about that very handoff: it never saw it.
    classifier = TlsFiles(lab.tls_dir / "ca.crt", lab.tls_dir / "classifier-k1.crt",
                          lab.tls_dir / "classifier-k1.key")  # fmt: skip
    abort = seal(Abort(STRANGER_FLOW, FORWARDER, sealed_nonce(blob)), load_keys(lab.keys))
    answer = _from_classifier_host(lab, abort, "--ca", str(classifier.ca),
                                   "--cert", str(classifier.cert), "--key", str(classifier.key))
    assert answer["reply"] is not None and "is not installed and will not be" in answer["reply"]


@pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")
def test_lab_down_removes_the_keys(tmp_path: Path) -> None:
    topology = load_topology(BASIC_TOPOLOGY)
    built = Lab(topology, LabNames(f"lu{os.getpid() % 100000}"), tmp_path / topology.name)
    built.run_dir.mkdir(parents=True)
    issue_certificates(built.tls_dir, [Identity("controller", "client")])
    down(built)
    assert not built.tls_dir.exists()
