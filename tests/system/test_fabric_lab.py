"""Handoffs through two switches: topologies/fabric.yaml as `handoff lab up`
builds it (controller.lab.session), on p4sim, on bmv2, and mixed (leaf1
p4sim, leaf2 bmv2).

The client c1 enters at leaf1, the entry switch, whose encap_map holds every
handed-off connection; classifiers and back-ends sit on both leaves, so a
connection may be steered across the link to k2 and handed off across it to
b2 or b3. What the client sees is asserted (responses, SHA-256 of 20 MB each
way, the back-end in `X-Backend`, no RST at c1 or sent by either
classifier); what the system did is read from its interfaces: the
controller's ListFlows and `handoff flows`, encap_map and routes on each
switch (P4Runtime Read, as a backup session), and nothing left behind once
the connections have closed. Requests pick their back-end with
`X-Handoff-To` (e2e_support.PIN_POLICY).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from e2e_support import PIN_POLICY, HttpConnection, body_chunks, body_sha256, get, post_head
from faults_support import FaultLab, nft_counter, nft_script
from needs import skip_reason
from paths import ROOT, TOPOLOGIES

from controller.examples.demo_backend import pattern_sha256

MB = 1 << 20
FABRIC = TOPOLOGIES / "fabric.yaml"
LAB_TOOLS = ("ip", "nft", "ethtool", "ss")
KINDS = ("p4sim", "bmv2", "mixed")

pytestmark = pytest.mark.timeout(240)


def mixed_topology(directory: Path) -> Path:
    """fabric.yaml with leaf2 on bmv2 (leaf1 stays p4sim), programs absolute."""
    spec = yaml.safe_load(FABRIC.read_text())
    for switch in spec["switches"]:
        switch["program"] = str((FABRIC.parent / switch["program"]).resolve())
        switch["target"] = "bmv2" if switch["name"] == "leaf2" else "p4sim"
    for vip in spec["vips"]:
        vip["policy"] = str((FABRIC.parent / vip["policy"]).resolve())
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "fabric.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def fabric_lab(tmp_path_factory: pytest.TempPathFactory, kind: str, tag: str) -> Iterator[FaultLab]:
    """The fabric lab on `kind` (p4sim, bmv2 or mixed), up for the module and
    down whatever happened; skipped with the reason where it cannot run."""
    reason = skip_reason(*LAB_TOOLS, target="p4sim" if kind == "p4sim" else "bmv2")
    if reason is not None:
        pytest.skip(reason)
    if kind == "mixed":
        topology = mixed_topology(tmp_path_factory.mktemp("mixed"))
        lab = FaultLab(topology, policy=PIN_POLICY, target=None, tag=tag)
    else:
        lab = FaultLab(FABRIC, policy=PIN_POLICY, target=kind, tag=tag)
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module", params=KINDS)
def fabric(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[FaultLab]:
    yield from fabric_lab(tmp_path_factory, request.param, "w")


class ClassifierResets:
    """RSTs sent by the client and by both classifiers (nft counters): for a
    handed-off connection none may come from the handoff."""

    TABLE = "fabric_resets"

    def __init__(self, lab: FaultLab, hosts: tuple[str, ...] = ("c1", "k1", "k2")) -> None:
        self.namespaces = [lab.ns(h) for h in hosts]
        t = f"inet {self.TABLE}"  # IPv4 and IPv6
        for namespace in self.namespaces:
            nft_script(namespace, [
                f"add table {t}", f"add counter {t} rst",
                f"add chain {t} in {{ type filter hook prerouting priority raw; }}",
                f"add chain {t} out {{ type filter hook output priority raw; }}",
                f'add rule {t} in tcp flags rst counter name "rst"',
                f'add rule {t} out tcp flags rst counter name "rst"',
            ])  # fmt: skip

    def count(self) -> int:
        return sum(nft_counter(ns, self.TABLE, "rst", "inet") for ns in self.namespaces)

    def close(self) -> None:
        for namespace in self.namespaces:
            subprocess.run(["ip", "netns", "exec", namespace, "nft", "delete", "table", "inet",
                            self.TABLE], check=False, capture_output=True)  # fmt: skip


@pytest.fixture
def lab(fabric: FaultLab) -> Iterator[FaultLab]:
    """The module's lab, handed back clean: every flow of the test ended and
    released (switch entry, decapsulation mapping, id), on both switches."""
    fabric.wait_whole()
    yield fabric
    try:
        fabric.assert_nothing_leaked()
        assert fabric.encap_entries("leaf2") == [], "a transit switch holds encap_map entries"
    finally:
        fabric.end_flows({f.client_port for f in fabric.held_flows()}, "test cleanup")


@pytest.fixture
def resets(fabric: FaultLab) -> Iterator[ClassifierResets]:
    watch = ClassifierResets(fabric)
    try:
        yield watch
    finally:
        watch.close()


def test_each_switch_runs_its_target_and_its_own_routes(lab: FaultLab) -> None:
    """Both switches are up with the pipeline, the controller primary on each
    (a second session is a backup); leaf1 reaches b2 over the link (port 9,
    to leaf2's MAC), leaf2 reaches b1 the same way, each its own hosts by
    their ports; leaf2's encap_map is empty."""
    leaf1, leaf2 = lab.topology.switches
    b1, b2 = lab.host("b1"), lab.host("b2")
    for switch, own, remote, other in ((leaf1, b1, b2, leaf2), (leaf2, b2, b1, leaf1)):
        with lab.switch_client(switch.name) as client:
            assert not client.is_primary and client.primary_election_id == 10
            hops = {}
            for entry in client.read_table("routes"):
                assert entry.action is not None
                hops[entry.key("dst_addr").value] = (  # type: ignore[union-attr]
                    entry.action.param("port"), entry.action.param("dst_mac"),
                )  # fmt: skip
        assert hops[int(own.interface.ip)] == (own.port, int(own.mac.replace(":", ""), 16))
        assert hops[int(remote.interface.ip)] == (9, int(other.mac.replace(":", ""), 16))
    assert lab.encap_entries("leaf2") == []
    targets = {s.name: lab.switch_target(s.name) for s in lab.topology.switches}
    for name, target in targets.items():
        argv = " ".join(lab.argv(lab.switch_process(name)))
        assert ("simple_switch_grpc" in argv) == (target == "bmv2"), argv


@pytest.mark.parametrize("backend", ["b1", "b2", "b3"])
def test_handoff_to_a_backend_on_either_leaf(
    lab: FaultLab, resets: ClassifierResets, backend: str
) -> None:
    """A connection from c1 (leaf1) handed off to `backend`: b1 on leaf1, b2
    and b3 across the link on leaf2. Its later requests travel through
    leaf1's encap_map entry; `handoff flows` shows the flow on leaf1."""
    before = resets.count()
    conn = HttpConnection(lab.connect())
    conn.send(get("/", X_Handoff_To=backend))
    first = conn.read_response()
    conn.send(get("/bytes/3000"))
    second = conn.read_response()
    port = conn.sock.getsockname()[1]
    (flow,) = lab.flows_of(port)
    entries = {e.client_port: e.flow_id for e in lab.switch_entries()}
    listed = subprocess.run(
        [sys.executable, "-m", "controller.cli", "flows", "--json", "--run-dir", str(lab.run_dir)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    transit = lab.encap_entries("leaf2")
    conn.close()

    assert (first.status, first.headers["x-backend"]) == (200, backend)
    assert first.body == f"hello from {backend}\n".encode()
    assert (second.status, second.headers["x-backend"]) == (200, backend)
    assert second.sha256 == pattern_sha256(3000)
    assert flow.backend_name == backend and flow.state == "installed", flow
    assert list(flow.switches) == ["leaf1"] and flow.on_switch and flow.packets >= 1, flow
    assert entries.get(port) == flow.ref.flow_id
    assert transit == []
    assert listed.returncode == 0, listed.stderr
    (shown,) = [f for f in json.loads(listed.stdout)["flows"] if f["client_port"] == port]
    assert (shown["backend"], shown["switches"]) == (backend, ["leaf1"])
    assert resets.count() == before


@pytest.mark.parametrize("backend", ["b1", "b2"])
def test_20mb_upload_handed_off_while_flowing_then_20mb_download(
    lab: FaultLab, resets: ClassifierResets, backend: str
) -> None:
    """20 MB up, handed off mid-upload, then 20 MB down on the same
    connection, to b1 (same leaf) and b2 (across the link): every byte
    right by SHA-256 both ways, no RST."""
    before = resets.count()
    size = 20 * MB
    conn = HttpConnection(lab.connect(timeout=120))

    def upload() -> None:
        conn.send(post_head("/sha256", size, X_Handoff_To=backend))
        for chunk in body_chunks(size, seed=7):
            conn.send(chunk)

    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    uploaded = conn.read_response()
    sender.join(10)
    conn.send(get(f"/bytes/{size}"))
    downloaded = conn.read_response(keep_body=False)
    port = conn.sock.getsockname()[1]
    conn.close()

    assert (uploaded.status, uploaded.headers["x-backend"]) == (200, backend)
    assert uploaded.headers["x-body-length"] == str(size)
    assert uploaded.body.decode().strip() == body_sha256(size, seed=7)
    assert (downloaded.status, downloaded.headers["x-backend"], downloaded.length) == (
        200, backend, size,
    )  # fmt: skip
    assert downloaded.sha256 == pattern_sha256(size)
    (flow,) = lab.flows_of(port)
    assert flow.backend_name == backend and list(flow.switches) in (["leaf1"], []), flow
    assert resets.count() == before


@pytest.mark.parametrize("backend", ["b1", "b3"])
def test_ipv6_handoff_through_the_fabric(
    lab: FaultLab, resets: ClassifierResets, backend: str
) -> None:
    """The fabric is dual stack: an IPv6 connection to the VIP's IPv6 address
    is handed off to b1 (same leaf) or b3 (across the link), 2 MB down
    SHA-256 checked, its encap_map6 entry on leaf1 only."""
    before = resets.count()
    vip6 = lab.topology.vips[0].address6
    assert vip6 is not None
    sock = lab.socket_in("c1", socket.AF_INET6)
    sock.settimeout(30)
    sock.connect((str(vip6), 80))
    conn = HttpConnection(sock)
    conn.send(get("/", X_Handoff_To=backend))
    first = conn.read_response()
    conn.send(get(f"/bytes/{2 * MB}"))
    second = conn.read_response(keep_body=False)
    port = sock.getsockname()[1]
    (flow,) = lab.flows_of(port)
    on_leaf1 = [e for e in lab.encap_entries() if e.table.endswith("encap_map6")]
    on_leaf2 = lab.encap_entries("leaf2")
    conn.close()

    assert (first.status, first.headers["x-backend"]) == (200, backend)
    assert (second.status, second.length) == (200, 2 * MB)
    assert second.sha256 == pattern_sha256(2 * MB)
    assert flow.connection.client_ip == str(lab.host("c1").interface6.ip)  # type: ignore[union-attr]
    assert flow.ref.forwarder == str(lab.topology.switch.forwarder_address6)
    assert list(flow.switches) == ["leaf1"] and flow.on_switch, flow
    assert len(on_leaf1) == 1 and on_leaf2 == []
    assert resets.count() == before
