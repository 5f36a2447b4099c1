"""The dual-stack basic lab (topologies/basic.yaml) over IPv6, on each switch
target: hosts reach each other through the switch by IPv6 (the switch answers
their neighbour solicitations for the gateway addresses and routes by
routes6), a connection to the IPv6 VIP is steered to the classifier host,
and an IPv6 client's connection is handed off to a back-end like an IPv4
one: 20 MB up while the handoff happens and 20 MB down, SHA-256 checked, no
RST, and nothing left behind once it ends.
"""

from __future__ import annotations

import hashlib
import random
import socket
import threading
from collections.abc import Iterator

import pytest
from conftest import bring_up
from e2e_support import PIN_POLICY, HttpConnection, body_chunks, body_sha256, get, post_head

from controller.examples.demo_backend import pattern_sha256
from controller.handoff.nft import Nft
from controller.lab.session import LabSession

MB = 1 << 20


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, target: str) -> Iterator[LabSession]:
    yield from bring_up(tmp_path_factory, target, tag="v6", policy=PIN_POLICY)


def _ip6(lab: LabSession, host: str) -> str:
    interface = lab.host(host).interface6
    assert interface is not None
    return str(interface.ip)


def _echo_sha256(lab: LabSession, server_host: str, address: str, port: int) -> None:
    """A listener on (address, port) in `server_host` returns the SHA-256 of
    what it receives, then 1 MB of its own; the client in c1 checks both."""
    upload = random.Random(port).randbytes(2 << 20)
    download = random.Random(port + 1).randbytes(1 << 20)
    listener = lab.socket_in(server_host, socket.AF_INET6)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen()
    listener.settimeout(20)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(20)
                digest = hashlib.sha256()
                received = 0
                while received < len(upload):
                    chunk = conn.recv(1 << 16)
                    if not chunk:
                        raise ConnectionError(f"EOF after {received} bytes")
                    digest.update(chunk)
                    received += len(chunk)
                conn.sendall(digest.digest() + download)
        except BaseException as exc:
            errors.append(exc)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        client = lab.socket_in("c1", socket.AF_INET6)
        with client:
            client.settimeout(20)
            client.connect((address, port))
            client.sendall(upload)
            answer = b""
            while len(answer) < 32 + len(download):
                chunk = client.recv(1 << 16)
                if not chunk:
                    break
                answer += chunk
        server.join(20)
        assert not errors, errors
        assert answer[:32] == hashlib.sha256(upload).digest()
        assert hashlib.sha256(answer[32:]).digest() == hashlib.sha256(download).digest()
    finally:
        listener.close()


def test_hosts_talk_ipv6_through_the_switch(lab: LabSession) -> None:
    _echo_sha256(lab, "b1", _ip6(lab, "b1"), 9006)
    # The switch answered c1's neighbour solicitation for its gateway with its MAC.
    neighbours = lab.command("c1", ["ip", "-6", "neigh", "show", "2001:db8:1::1"]).stdout
    assert lab.topology.switch.mac in neighbours.lower()


def test_a_connection_to_the_ipv6_vip_is_steered_to_the_classifier_host(
    lab: LabSession,
) -> None:
    vip6 = lab.topology.vips[0].address6
    assert vip6 is not None
    # A listener of the test's own on the classifier host, on a port the
    # classifier does not serve: what reaches it crossed vip_steering6.
    _echo_sha256(lab, "k1", str(vip6), 8086)


def _rst_watch(lab: LabSession) -> Nft:
    """Counts RST segments entering and leaving c1, IPv4 and IPv6."""
    nft = lab.call_in("c1", Nft)
    t = "inet v6rstwatch"
    nft.run(
        f"add table {t}\nadd counter {t} rst\n"
        f"add chain {t} in {{ type filter hook prerouting priority raw; }}\n"
        f"add chain {t} out {{ type filter hook output priority raw; }}\n"
        f'add rule {t} in tcp flags rst counter name "rst"\n'
        f'add rule {t} out tcp flags rst counter name "rst"\n'
    )
    return nft


def _rsts(nft: Nft) -> int:
    packets: int = nft.query("list counter inet v6rstwatch rst")[0]["counter"]["packets"]
    return packets


def test_an_ipv6_client_is_handed_off_with_20mb_each_way(lab: LabSession) -> None:
    lab.wait_whole()
    vip6 = lab.topology.vips[0].address6
    assert vip6 is not None
    rst = _rst_watch(lab)
    before = lab.outcomes().get("handed_off", 0)
    size = 20 * MB
    sock = lab.socket_in("c1", socket.AF_INET6)
    sock.settimeout(90)
    sock.connect((str(vip6), 80))
    client_port = sock.getsockname()[1]
    conn = HttpConnection(sock)

    def upload() -> None:
        conn.send(post_head("/sha256", size, X_Handoff_To="b1"))
        for chunk in body_chunks(size, seed=6):
            conn.send(chunk)

    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    uploaded = conn.read_response()
    sender.join(10)
    # Handed off: the controller's flow is IPv6, tunnelled from the IPv6
    # forwarder address to b1's IPv6 address, and on the switch.
    [flow] = [f for f in lab.flows() if f.connection.client_port == client_port]
    assert (flow.connection.client_ip, flow.backend_name) == (_ip6(lab, "c1"), "b1")
    assert flow.ref.backend == _ip6(lab, "b1")
    assert flow.ref.forwarder == str(lab.topology.switch.forwarder_address6)
    assert flow.on_switch
    conn.send(get(f"/bytes/{size}"))
    downloaded = conn.read_response(keep_body=False)
    conn.close()

    assert (uploaded.status, uploaded.headers["x-backend"]) == (200, "b1")
    assert uploaded.body.decode().strip() == body_sha256(size, seed=6)
    assert (downloaded.status, downloaded.headers["x-backend"], downloaded.length) == (
        200, "b1", size,
    )  # fmt: skip
    assert downloaded.sha256 == pattern_sha256(size)
    assert lab.outcomes().get("handed_off", 0) == before + 1
    assert _rsts(rst) == 0
    # Ended by the FINs: switch entry, decapsulation mapping and flow all go.
    lab.wait_nothing_left(20, "the IPv6 flow to end and be released")
