"""TLS and mutual TLS on the P4Runtime server (bmv2's --grpc-server-ssl flags)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from finsy.proto import p4r, p4r_grpc

from p4sim.server.main import parse_args
from p4sim.server.server import ServerThread
from p4sim.server.tls import TlsConfigError, server_credentials

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for localhost and a client certificate."""
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=test-ca",
        "-days",
        "1",
        cwd=d,
    )
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl(
            "req",
            *ec,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
            cwd=d,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            cwd=d,
        )
    return d


def _serve(pki: Path, client_auth: bool) -> ServerThread:
    switch = ServerThread()
    creds = server_credentials(pki / "server.crt", pki / "server.key", pki / "ca.crt", client_auth)
    switch.start("127.0.0.1:0", creds)
    return switch


def _capabilities(address: str, credentials: grpc.ChannelCredentials | None) -> str:
    channel = (
        grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
    )
    try:
        stub = p4r_grpc.P4RuntimeStub(channel)
        return str(stub.Capabilities(p4r.CapabilitiesRequest(), timeout=5).p4runtime_api_version)
    finally:
        channel.close()


@pytest.fixture()
def tls_switch(pki: Path) -> Iterator[ServerThread]:
    switch = _serve(pki, client_auth=False)
    yield switch
    switch.stop()


@pytest.fixture()
def mtls_switch(pki: Path) -> Iterator[ServerThread]:
    switch = _serve(pki, client_auth=True)
    yield switch
    switch.stop()


def test_tls_server_answers_trusting_clients_only(tls_switch: ServerThread, pki: Path) -> None:
    trusting = grpc.ssl_channel_credentials(root_certificates=(pki / "ca.crt").read_bytes())
    assert _capabilities(tls_switch.address, trusting) == "1.4.0"
    with pytest.raises(grpc.RpcError):
        _capabilities(tls_switch.address, None)


def test_mutual_tls_requires_a_client_certificate(mtls_switch: ServerThread, pki: Path) -> None:
    roots = (pki / "ca.crt").read_bytes()
    with_cert = grpc.ssl_channel_credentials(
        root_certificates=roots,
        private_key=(pki / "client.key").read_bytes(),
        certificate_chain=(pki / "client.crt").read_bytes(),
    )
    assert _capabilities(mtls_switch.address, with_cert) == "1.4.0"
    with pytest.raises(grpc.RpcError):
        _capabilities(mtls_switch.address, grpc.ssl_channel_credentials(root_certificates=roots))


def test_missing_certificate_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(TlsConfigError, match="--grpc-server-cert"):
        server_credentials(None, tmp_path / "k", None, False)
    with pytest.raises(TlsConfigError, match=r"nope\.crt: No such file"):
        server_credentials(tmp_path / "nope.crt", tmp_path / "nope.key", None, False)


def test_ssl_flags_parse_before_and_after_the_separator() -> None:
    args = parse_args(
        [
            "--no-p4",
            "--grpc-server-ssl",
            "--",
            "--grpc-server-cert",
            "c.pem",
            "--grpc-server-key",
            "k.pem",
            "--grpc-server-with-client-auth",
            "--grpc-server-cacert",
            "ca.pem",
            "--cpu-port",
            "255",
        ]
    )
    assert args.grpc_server_ssl and args.grpc_server_with_client_auth
    assert (args.grpc_server_cert, args.grpc_server_key, args.grpc_server_cacert) == (
        Path("c.pem"),
        Path("k.pem"),
        Path("ca.pem"),
    )
    assert args.cpu_port == 255
