"""Where the `handoff` commands for people find a lab or a deployment.

Every such subcommand (`lab`, `flows`, `stats`, `policy`, `trace`, `shell`)
takes the same flags, from one argparse parent (`address_parent`):

- a lab, by its run directory (`--run-dir`), by its topology (`--topology`,
  whose run directory is RUN_ROOT/NAME) or, with one lab up under
  `--run-root` (default `run/`), by nothing at all; its processes' Unix
  sockets and, for a `--tls` lab, its certificates are found in the run
  directory;
- or a deployment, by address: `--controller HOST:PORT`, `--classifier
  NAME=HOST:PORT` (repeated), `--switch HOST:PORT` (P4Runtime, for `shell`),
  each also `unix:PATH`; `--tls-ca/--tls-cert/--tls-key` (as the processes
  take them) make those channels mutual TLS.

Addresses given with a lab replace the lab's own.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from controller.handoff.cliargs import host_port
from controller.handoff.tls import TlsConfigError, TlsFiles, add_tls_arguments, tls_files

DEFAULT_RUN_ROOT = Path("run")
CONTROLLER_SOCKET = "controller.sock"
SWITCH_SOCKET = "p4runtime.sock"
CLASSIFIER_SOCKETS = "classifier-*.sock"


class AddressError(Exception):
    """The lab or deployment named on the command line cannot be found or reached."""


def service_address(text: str) -> str:
    """`HOST:PORT` or `unix:PATH`, as a gRPC target."""
    if text.startswith("unix:"):
        if len(text) == len("unix:"):
            raise argparse.ArgumentTypeError(f"{text!r}: unix: needs a path")
        return text
    host, port = host_port(text)
    if not host:
        raise argparse.ArgumentTypeError(f"{text!r} has no host: give HOST:PORT")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def named_address(text: str) -> tuple[str, str]:
    """`NAME=HOST:PORT` (or `NAME=unix:PATH`)."""
    name, sep, where = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=HOST:PORT")
    return name, service_address(where)


def address_parent() -> argparse.ArgumentParser:
    """The addressing flags, shared by every subcommand for people."""
    parent = argparse.ArgumentParser(add_help=False)
    lab = parent.add_argument_group(
        "which lab", "a lab by its run directory or topology (default: the one lab up)"
    )
    lab.add_argument("--run-root", type=Path, default=DEFAULT_RUN_ROOT, metavar="DIR",
                     help="where labs keep their run directories (default run/)")  # fmt: skip
    lab.add_argument("--topology", metavar="FILE",
                     help="the lab of this topology (run directory RUN_ROOT/NAME)")  # fmt: skip
    lab.add_argument("--run-dir", type=Path, metavar="DIR", help="the lab's run directory")
    deployment = parent.add_argument_group(
        "which deployment", "the processes by address (HOST:PORT or unix:PATH)"
    )
    deployment.add_argument("--controller", type=service_address, metavar="HOST:PORT",
                            help="the controller's API (its --listen)")  # fmt: skip
    deployment.add_argument(
        "--classifier", dest="classifiers", action="append", type=named_address, default=[],
        metavar="NAME=HOST:PORT", help="a classifier's API (its --rpc); repeat for each",
    )  # fmt: skip
    deployment.add_argument("--switch", type=service_address, metavar="HOST:PORT",
                            help="the switch's P4Runtime server")  # fmt: skip
    add_tls_arguments(parent, "the channels to the addresses given (the lab's own for a --tls lab)")
    return parent


@dataclass(frozen=True)
class Services:
    """The processes one command talks to, and how."""

    where: str  # for messages: "lab basic (run/basic)" or "the addresses given"
    run_dir: Path | None = None
    lab_info: dict[str, object] = field(default_factory=dict)
    controller: str | None = None
    classifiers: dict[str, str] = field(default_factory=dict)
    switch: str | None = None
    tls: TlsFiles | None = None  # for the addresses given
    switch_tls: TlsFiles | None = None  # P4Runtime: the lab's or the one given

    def channel(self, target: str, what: str) -> grpc.Channel:
        if target.startswith("unix:"):
            path = Path(target.removeprefix("unix:"))
            if not path.exists():
                raise AddressError(f"{what}: {path} does not exist: is it running?")
            return grpc.insecure_channel(f"unix:{path.resolve()}")
        if self.tls is None:
            return grpc.insecure_channel(target)
        try:
            credentials = self.tls.channel_credentials()
        except TlsConfigError as error:
            raise AddressError(str(error)) from None
        return grpc.secure_channel(target, credentials)

    def controller_target(self) -> str:
        if self.controller is None:
            raise AddressError(f"no controller in {self.where}: give --controller HOST:PORT")
        return self.controller

    def classifier_targets(self, name: str | None = None) -> dict[str, str]:
        if name is None:
            return dict(self.classifiers)
        if name not in self.classifiers:
            known = ", ".join(sorted(self.classifiers)) or "none"
            raise AddressError(f"no classifier named {name!r} in {self.where} (known: {known})")
        return {name: self.classifiers[name]}


def find_run_dir(run_root: Path, topology: str | None = None, run_dir: Path | None = None) -> Path:
    """The run directory of the lab named by `run_dir` or `topology`, or of the
    one lab up under `run_root`."""
    if run_dir is not None:
        if not (run_dir / "lab.json").exists():
            raise AddressError(f"{run_dir} is not a lab run directory (no lab.json): is it up?")
        return run_dir
    if topology is not None:
        found = run_root / _topology_name(topology)
        if not (found / "lab.json").exists():
            raise AddressError(f"the lab of {topology} is not up (no {found}/lab.json): "
                               f"`handoff lab up {topology}`")  # fmt: skip
        return found
    labs = sorted(p.parent for p in run_root.glob("*/lab.json"))
    if not labs:
        raise AddressError(f"no lab is up (no {run_root}/*/lab.json): start one with "
                           "`handoff lab up TOPOLOGY`, or give --run-root, --run-dir or "
                           "--controller")  # fmt: skip
    if len(labs) > 1:
        names = ", ".join(str(p) for p in labs)
        raise AddressError(f"several labs are up ({names}): name one with --topology or --run-dir")
    return labs[0]


def _topology_name(topology: str) -> str:
    from controller.config.topology import TopologyError, load_topology

    try:
        return load_topology(topology).name
    except (TopologyError, OSError) as error:
        raise AddressError(f"--topology {topology}: {error}") from None


def lab_tls(run_dir: Path, info: dict[str, object]) -> TlsFiles | None:
    """A `--tls` lab's certificates for a backup P4Runtime client (the controller's)."""
    if not info.get("tls"):
        return None
    tls = run_dir / "tls"
    return TlsFiles(tls / "ca.crt", tls / "controller.crt", tls / "controller.key")


def resolve(args: argparse.Namespace) -> Services:
    """What the addressing flags in `args` name."""
    try:
        given_tls = tls_files(args)
    except TlsConfigError as error:
        raise AddressError(str(error)) from None
    explicit = bool(args.controller or args.classifiers or args.switch)
    classifiers = dict(args.classifiers)
    if explicit and args.run_dir is None and args.topology is None:
        return Services("the addresses given", controller=args.controller,
                        classifiers=classifiers, switch=args.switch, tls=given_tls,
                        switch_tls=given_tls)  # fmt: skip
    run_dir = find_run_dir(args.run_root, args.topology, args.run_dir)
    info = _lab_info(run_dir)
    sockets = sorted(run_dir.glob(CLASSIFIER_SOCKETS))
    lab_classifiers = {s.stem.removeprefix("classifier-"): f"unix:{s}" for s in sockets}
    name = info.get("name") or run_dir.name
    return Services(
        f"lab {name} ({run_dir})",
        run_dir=run_dir,
        lab_info=info,
        controller=args.controller or f"unix:{run_dir / CONTROLLER_SOCKET}",
        classifiers={**lab_classifiers, **classifiers},
        # The entry switch's socket (lab.json names it in a multi-switch lab).
        switch=args.switch or f"unix:{run_dir / str(info.get('switch_socket', SWITCH_SOCKET))}",
        tls=given_tls,
        switch_tls=given_tls or lab_tls(run_dir, info),
    )


def lab_services(run_dir: Path) -> Services:
    """A lab's services by its run directory (for code that knows it)."""
    parsed = address_parent().parse_args(["--run-dir", str(run_dir)])
    return resolve(parsed)


def _lab_info(run_dir: Path) -> dict[str, object]:
    try:
        document = json.loads((run_dir / "lab.json").read_text())
    except (OSError, ValueError) as error:
        raise AddressError(f"{run_dir}/lab.json: {error}") from None
    info = document.get("lab", {}) if isinstance(document, dict) else {}
    return dict(info) if isinstance(info, dict) else {}
