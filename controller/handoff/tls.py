"""TLS for the two TCP channels that carry connection state: P4Runtime (controller
to switch) and the agent protocol (classifiers and controller to agents).

Blobs are already authenticated by their HMAC, so TLS adds what the MAC
cannot: confidentiality of the TCP state and of the client's request bytes a
blob carries, and peer authentication on both sides. Every channel is mutual:
servers demand a client certificate from the same CA, and clients check the
server's name (an agent is dialled by IP address, so its certificate names
that address). Roles are kept apart by extended key usage: switch and agent
certificates are only good for serving and controller and classifier
certificates only for connecting, so a stolen agent key cannot talk to
another agent. Our own ends speak TLS 1.3 only, leaving no older version to
downgrade to.

`issue_certificates` makes a lab's CA and one key and certificate per
process with Debian's `openssl` command (no Python dependency, nothing
fetched). The CA's key lives only in a temporary directory while it signs,
so nobody can mint another certificate for a running lab.
"""

from __future__ import annotations

import argparse
import ipaddress
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import grpc

CA_NAME = "ca"
VALID_DAYS = 30
_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
# Without a config of our own, openssl would add the system's v3_ca extensions.
_REQ_CONFIG = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n"
_USAGE = {"server": "serverAuth", "client": "clientAuth"}


class TlsConfigError(OSError):
    """Certificate files that are missing, unreadable or not usable together.

    An OSError, as ssl.SSLError is, so each command's handler for file
    problems reports it like any other unreadable file."""


@dataclass(frozen=True)
class TlsFiles:
    """One process's TLS identity: the CA it trusts and its own key and certificate."""

    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """Serves TLS 1.3 only to clients with a certificate from `ca`."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.verify_mode = ssl.CERT_REQUIRED
        return self._load(context)

    def client_context(self) -> ssl.SSLContext:
        """Connects over TLS 1.3 only to servers whose certificate from `ca`
        names the address dialled, presenting our own certificate."""
        return self._load(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """gRPC client credentials: the CA to check the server, and our certificate."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca, "CA certificate"),
            private_key=_read(self.key, "key"),
            certificate_chain=_read(self.cert, "certificate"),
        )

    def server_credentials(self) -> grpc.ServerCredentials:
        """gRPC server credentials: our certificate, and clients must present
        one from `ca` (a TCP API of the controller or a classifier)."""
        return grpc.ssl_server_credentials(
            [(_read(self.key, "key"), _read(self.cert, "certificate"))],
            root_certificates=_read(self.ca, "CA certificate"),
            require_client_auth=True,
        )

    def _load(self, context: ssl.SSLContext) -> ssl.SSLContext:
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        for path, what in ((self.ca, "CA certificate"), (self.cert, "certificate"),
                           (self.key, "key")):  # fmt: skip
            _read(path, what)  # names the missing file, where ssl would only say "No such file"
        try:
            context.load_verify_locations(cafile=self.ca)
        except ssl.SSLError as error:
            raise TlsConfigError(f"CA certificate {self.ca}: {error.reason or error}") from error
        try:
            context.load_cert_chain(self.cert, self.key)
        except ssl.SSLError as error:
            raise TlsConfigError(
                f"certificate {self.cert} with key {self.key}: {error.reason or error}"
            ) from error
        return context


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TlsConfigError(f"{what} {path}: {error.strerror or error}") from error


# ---------------------------------------------------------------- command line


def add_tls_arguments(parser: argparse.ArgumentParser, use: str) -> None:
    """`--tls-ca`, `--tls-cert`, `--tls-key`: all three turn TLS on for `use`."""
    group = parser.add_argument_group("TLS", f"all three turn on mutual TLS for {use}")
    group.add_argument("--tls-ca", type=Path, help="CA certificate (PEM) of the peers")
    group.add_argument("--tls-cert", type=Path, help="this process's certificate (PEM)")
    group.add_argument("--tls-key", type=Path, help="this process's private key (PEM)")


def tls_files(args: argparse.Namespace) -> TlsFiles | None:
    """The files named by `add_tls_arguments`' flags; None when none is given."""
    given = {"--tls-ca": args.tls_ca, "--tls-cert": args.tls_cert, "--tls-key": args.tls_key}
    missing = [flag for flag, value in given.items() if value is None]
    if len(missing) == len(given):
        return None
    if missing:
        raise TlsConfigError(f"{' and '.join(missing)} missing: TLS needs all three --tls-* flags")
    return TlsFiles(args.tls_ca, args.tls_cert, args.tls_key)


# ---------------------------------------------------------------- a lab's certificates


@dataclass(frozen=True)
class Identity:
    """A process to certify: `server` identities serve (switch, agents) under
    the names and addresses given, `client` identities only connect."""

    name: str
    role: Literal["server", "client"]
    names: tuple[str, ...] = ()  # DNS names and IP addresses

    def alt_names(self) -> str:
        entries = []
        for name in (self.name, *self.names):
            try:
                entries.append(f"IP:{ipaddress.ip_address(name)}")
            except ValueError:
                entries.append(f"DNS:{name}")
        return ",".join(entries)


def issue_certificates(directory: Path, identities: Sequence[Identity]) -> dict[str, TlsFiles]:
    """A fresh CA (`ca.crt`) and NAME.crt/NAME.key per identity in `directory`
    (mode 0700, keys 0600); returns each identity's files by name."""
    if shutil.which("openssl") is None:
        raise TlsConfigError("making TLS certificates needs the openssl command (Debian: openssl)")
    names = [identity.name for identity in identities]
    clashes = sorted({n for n in names if names.count(n) > 1 or n == CA_NAME})
    if clashes:
        raise TlsConfigError(f"identity names must be unique and not {CA_NAME!r}: {clashes}")
    if directory.exists():
        shutil.rmtree(directory)  # an old lab's certificates must not be mixed with new ones
    directory.mkdir(parents=True, mode=0o700)
    ca_cert = directory / f"{CA_NAME}.crt"
    with tempfile.TemporaryDirectory(prefix="handoff-ca-") as secret:
        config = Path(secret) / "req.cnf"
        config.write_text(_REQ_CONFIG)
        ca_key = Path(secret) / f"{CA_NAME}.key"
        _openssl(config, "-keyout", ca_key, "-out", ca_cert, "-subj", "/CN=handoff lab CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
        issued = {}
        for identity in identities:
            files = TlsFiles(ca_cert, directory / f"{identity.name}.crt",
                             directory / f"{identity.name}.key")  # fmt: skip
            _openssl(config, "-keyout", files.key, "-out", files.cert,
                     "-subj", f"/CN={identity.name}", "-CA", ca_cert, "-CAkey", ca_key,
                     "-addext", "basicConstraints=critical,CA:FALSE",
                     "-addext", "keyUsage=critical,digitalSignature",
                     "-addext", f"extendedKeyUsage={_USAGE[identity.role]}",
                     "-addext", f"subjectAltName={identity.alt_names()}")  # fmt: skip
            files.key.chmod(0o600)
            issued[identity.name] = files
    return issued


def _openssl(config: Path, *args: str | Path) -> None:
    argv = ["openssl", "req", "-config", str(config), "-x509", *_EC_KEY,
            "-days", str(VALID_DAYS), *map(str, args)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TlsConfigError(f"`{' '.join(argv)}` failed ({done.returncode}): "
                             f"{done.stderr.strip()}")  # fmt: skip
