"""TLS and mutual TLS for the gRPC server, with bmv2's flag semantics:
`--grpc-server-ssl` turns TLS on with `--grpc-server-cert`/`--grpc-server-key`;
`--grpc-server-cacert` names the CA that client certificates must chain to,
and `--grpc-server-with-client-auth` makes a client certificate mandatory."""

from __future__ import annotations

from pathlib import Path

import grpc


class TlsConfigError(ValueError):
    """Missing or unreadable certificate files, named in the message."""


def _read(path: Path | None, flag: str) -> bytes:
    if path is None:
        raise TlsConfigError(f"{flag} is required with --grpc-server-ssl")
    try:
        return path.read_bytes()
    except OSError as error:
        raise TlsConfigError(f"{flag} {path}: {error.strerror}") from error


def server_credentials(
    cert: Path | None, key: Path | None, cacert: Path | None, client_auth: bool
) -> grpc.ServerCredentials:
    chain = _read(cert, "--grpc-server-cert")
    private = _read(key, "--grpc-server-key")
    roots = _read(cacert, "--grpc-server-cacert") if cacert is not None or client_auth else None
    return grpc.ssl_server_credentials(
        [(private, chain)], root_certificates=roots, require_client_auth=client_auth
    )
