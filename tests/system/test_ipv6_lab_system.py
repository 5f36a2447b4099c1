"""The dual-stack basic lab (topologies/basic.yaml) over IPv6, on each switch
target: hosts reach each other through the switch by IPv6 (the switch answers
their neighbour solicitations for the gateway addresses and routes by
routes6), and a connection to the IPv6 VIP is steered to the classifier host.
What the controller installs for this comes from the topology alone.

Not yet here: IPv6 connections handed off to back-ends (the classifier, the
agents and the controller's encap_map6 writes are IPv4 only so far).
"""

from __future__ import annotations

import hashlib
import random
import socket
import threading
from collections.abc import Iterator

import pytest
from conftest import bring_up

from controller.lab.session import LabSession


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, target: str) -> Iterator[LabSession]:
    yield from bring_up(tmp_path_factory, target, tag="v6")


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
