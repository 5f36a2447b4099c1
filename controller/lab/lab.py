"""Bring a whole lab up and down: namespaces, switch, back-ends, agents,
controller and classifiers, in the order each needs the one before.

`up` either finishes with every process serving or removes everything it
started and says which step failed with the tail of that process's log; `down`
works from the run directory and the namespace prefix alone, so it also
cleans up after an `up` that crashed or a machine that rebooted mid-run.

`up(tls=True)` makes a CA and one certificate per process in RUN_DIR/tls
(controller.handoff.tls) and runs P4Runtime and every agent connection over mutual
TLS; `down` deletes those keys with the processes that used them.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from controller.config.topology import Host, Topology, load_topology
from controller.handoff.tls import Identity, TlsConfigError, TlsFiles, issue_certificates
from controller.lab.netns import LabError, LabNames, create, destroy, in_netns, list_namespaces
from controller.lab.processes import (
    ProcessRecord,
    ProcessTable,
    alive,
    start_up_failure,
    stop,
    wait_for_path,
)
from controller.lab.switch import SwitchTls, start_switch
from controller.p4rt import P4RuntimeClient, P4RuntimeError

AGENT_PORT = 7100
KEY_ID = 1
START_TIMEOUT_S = 60.0

Step = Callable[[str], None]
Certificates = dict[str, TlsFiles] | None  # by process name; None: the lab runs without TLS


@dataclass(frozen=True)
class Lab:
    """Where one topology's lab lives: its namespaces and its run directory."""

    topology: Topology
    names: LabNames
    run_dir: Path

    @classmethod
    def of(cls, topology_path: str | Path, run_root: Path) -> Lab:
        topology = load_topology(topology_path)
        return cls(topology, LabNames(f"ph-{topology.name}"), run_root / topology.name)

    @property
    def table(self) -> ProcessTable:
        return ProcessTable(self.run_dir)

    @property
    def keys(self) -> Path:
        return self.run_dir / "agent.keys"

    def handover_socket(self, backend: str) -> Path:
        return self.run_dir / f"{backend}.handover.sock"

    def classifier_socket(self, classifier: str) -> Path:
        return self.run_dir / f"classifier-{classifier}.sock"

    @property
    def controller_socket(self) -> Path:
        return self.run_dir / "controller.sock"

    @property
    def tls_dir(self) -> Path:
        return self.run_dir / "tls"


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def up(
    lab: Lab, target: str | None = None, step: Step = lambda _: None, *, tls: bool = False
) -> None:
    """Build and start everything; on any failure remove all of it and re-raise."""
    _, records = lab.table.load()
    running = [r.name for r in records if alive(r.pid)]
    if running:
        raise LabError(
            f"lab {lab.topology.name!r} is already up ({', '.join(running)} running): "
            f"`handoff lab down {lab.topology.source}` first"
        )
    if lab.run_dir.exists():
        # A new lab starts with a new switch: flows of an earlier lab must not
        # be reinstalled on it, so its flow table goes too (logs stay).
        for stale in [*lab.run_dir.glob("*.sock"), *lab.run_dir.glob("flows.sqlite*")]:
            stale.unlink()
        (lab.run_dir / "lab.json").unlink(missing_ok=True)
    lab.run_dir.mkdir(parents=True, exist_ok=True)
    # A target given overrides every switch's; without, each switch runs its
    # own (a topology may mix p4sim and bmv2 switches).
    targets = {s.name: target or s.target for s in lab.topology.all_switches}
    info: dict[str, object] = {
        "topology": str(lab.topology.source.resolve()),
        "prefix": lab.names.prefix,
        "target": target or lab.topology.switch.target,
        "targets": targets,
        # The entry switch's P4Runtime socket, for `handoff shell`.
        "switch_socket": lab.topology.p4runtime_socket(lab.topology.switch.name),
        "started_at": time.time(),
        "tls": tls,
    }
    lab.table.save(info, [])
    try:
        _write_keys(lab.keys)
        certificates: Certificates = None
        if tls:
            step(f"a CA and a TLS certificate per process in {lab.tls_dir}")
            certificates = _issue_certificates(lab)
        step(f"namespaces and veths for {len(lab.topology.hosts)} hosts")
        create(lab.topology, lab.names)
        switch_tls = None
        if certificates is not None:
            switch_tls = SwitchTls(certificates["switch"], certificates["controller"])
        for name, chosen in targets.items():
            namespace = lab.names.switch_of(lab.topology, name)
            step(f"switch ({chosen}) in {namespace}")
            start_switch(lab.table, info, lab.topology, lab.names, target=chosen,
                         tls=switch_tls, switch=name)  # fmt: skip
        for host in lab.topology.hosts_with_role("backend"):
            step(f"demo back-end and migrator agent on {host.name}")
            _start_backend(lab, info, host, certificates)
        step("controller: pipeline, routes, ARP and steering entries")
        _start_controller(lab, info, target if lab.topology.multi_switch else str(info["target"]),
                          certificates)  # fmt: skip
        if lab.topology.multi_switch:
            step("controller: every switch programmed (pipeline and routes)")
            _wait_switches_programmed(lab, switch_tls)
        for name in _classifier_names(lab.topology):
            step(f"classifier on {name}")
            _start_classifier(lab, info, name, certificates)
    except BaseException:
        down(lab)
        raise


def _write_keys(path: Path) -> None:
    path.write_text(
        f"# pre-shared agent key, made by `handoff lab up`\n{KEY_ID} {secrets.token_hex(32)}\n"
    )
    path.chmod(0o600)


def _issue_certificates(lab: Lab) -> dict[str, TlsFiles]:
    """Servers are named as their clients dial them: the switch by its local
    socket (`localhost`), each agent by its host's address."""
    identities = [Identity("switch", "server", ("localhost",)), Identity("controller", "client")]
    identities += [
        Identity(f"agent-{host.name}", "server", (host.name, str(host.interface.ip)))
        for host in lab.topology.hosts_with_role("backend")
    ]
    identities += [
        Identity(f"classifier-{name}", "client") for name in _classifier_names(lab.topology)
    ]
    try:
        return issue_certificates(lab.tls_dir, identities)
    except TlsConfigError as error:
        raise LabError(f"TLS certificates for the lab: {error}") from error


def _tls_argv(certificates: Certificates, process: str) -> list[str]:
    if certificates is None:
        return []
    files = certificates[process]
    return ["--tls-ca", str(files.ca), "--tls-cert", str(files.cert), "--tls-key", str(files.key)]


def _classifier_names(topology: Topology) -> list[str]:
    names: list[str] = []
    for vip in topology.vips:
        names += [name for name in vip.classifiers if name not in names]
    return names


def _start_backend(
    lab: Lab, info: dict[str, object], host: Host, certificates: Certificates
) -> None:
    namespace = lab.names.host(host.name)
    handover = lab.handover_socket(host.name)
    app = lab.table.start(
        info,
        f"backend-{host.name}",
        namespace,
        _python("controller.cli", "backend", "--name", host.name, "--handover", str(handover)),
    )
    wait_for_path(handover, app, START_TIMEOUT_S)
    argv = _python(
        "controller.cli",
        "agent",
        "--listen",
        f"{host.interface.ip}:{AGENT_PORT}",
        "--keys",
        str(lab.keys),
        "--handover",
        str(handover),
        "--forwarder",
        str(lab.topology.switch.forwarder_address),
        "--backend-address",
        str(host.interface.ip),
    )
    forwarder6 = lab.topology.switch.forwarder_address6
    if forwarder6 is not None and host.interface6 is not None:
        argv += ["--forwarder", str(forwarder6), "--backend-address", str(host.interface6.ip)]
    for vip in lab.topology.vips:
        argv += ["--vip", f"{vip.address}:{vip.port}"]
        if vip.address6 is not None and host.interface6 is not None:
            argv += ["--vip", f"[{vip.address6}]:{vip.port}"]
    argv += _tls_argv(certificates, f"agent-{host.name}")
    agent = lab.table.start(info, f"agent-{host.name}", namespace, argv)
    _wait_for_listener(namespace, AGENT_PORT, agent)


def _wait_for_listener(namespace: str, port: int, record: ProcessRecord) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        listening = subprocess.run(
            in_netns(namespace, ["ss", "-Hltn", f"sport = :{port}"]),
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if listening:
            return
        if not alive(record.pid):
            raise start_up_failure(record, "exited during start-up")
        if time.monotonic() > deadline:
            raise start_up_failure(record, f"did not listen on port {port} in time")
        time.sleep(0.05)


def _start_controller(
    lab: Lab, info: dict[str, object], target: str | None, certificates: Certificates
) -> None:
    """`target` None: each switch's own (a multi-switch topology's)."""
    host = lab.topology.controller_host
    namespace = lab.names.host(host.name) if host else None
    chosen = ["--target", target] if target else []
    record = lab.table.start(
        info,
        "controller",
        namespace,
        _python(
            "controller.cli",
            "controller",
            "--topology",
            str(lab.topology.source.resolve()),
            "--run-dir",
            str(lab.run_dir),
            "--keys",
            str(lab.keys),
            *chosen,
            "--agent-port",
            str(AGENT_PORT),
            *_tls_argv(certificates, "controller"),
        ),
    )
    wait_for_path(lab.controller_socket, record, START_TIMEOUT_S)


def _wait_switches_programmed(lab: Lab, tls: SwitchTls | None) -> None:
    """Wait until the controller has programmed every switch: the API is up
    once the entry switch is, the transit switches follow in their own
    threads, and a lab whose leaf has no routes yet drops the first
    connections. Read through a backup session (election id 1)."""
    expected = len(lab.topology.hosts)
    credentials = None if tls is None else tls.client.channel_credentials()
    for switch in lab.topology.all_switches:
        address = f"unix:{lab.run_dir / lab.topology.p4runtime_socket(switch.name)}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            client = P4RuntimeClient(address, election_id=1, timeout=5, credentials=credentials)
            try:
                client.connect()
                client.fetch_pipeline()
                if len(client.read_table("routes")) == expected:
                    break
            except P4RuntimeError:
                pass  # no pipeline yet
            finally:
                client.close()
            if time.monotonic() > deadline:
                raise LabError(
                    f"the controller did not program switch {switch.name} within "
                    f"{START_TIMEOUT_S:.0f} s; see {lab.run_dir / 'logs' / 'controller.log'}"
                )
            time.sleep(0.1)


def _start_classifier(
    lab: Lab, info: dict[str, object], name: str, certificates: Certificates
) -> None:
    record = lab.table.start(
        info,
        f"classifier-{name}",
        lab.names.host(name),
        _python(
            "controller.cli",
            "classifier",
            "--topology",
            str(lab.topology.source.resolve()),
            "--name",
            name,
            "--run-dir",
            str(lab.run_dir),
            "--keys",
            str(lab.keys),
            "--agent-port",
            str(AGENT_PORT),
            *_tls_argv(certificates, f"classifier-{name}"),
        ),
    )
    wait_for_path(lab.classifier_socket(name), record, START_TIMEOUT_S)


def down(lab: Lab) -> tuple[list[str], list[str]]:
    """Stop every process and remove every namespace; returns both lists."""
    _, records = lab.table.load()
    stop(records)
    stopped = [r.name for r in records]
    removed = destroy(lab.names)
    if lab.run_dir.exists():
        for socket in lab.run_dir.glob("*.sock"):
            socket.unlink()
        (lab.run_dir / "lab.json").unlink(missing_ok=True)
        shutil.rmtree(lab.tls_dir, ignore_errors=True)
    return stopped, removed


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    namespace: str
    pid: int
    running: bool
    log: str


def status(lab: Lab) -> tuple[list[ProcessStatus], list[str]]:
    """Every recorded process with whether it runs, and the lab's namespaces."""
    _, records = lab.table.load()
    processes = [
        ProcessStatus(r.name, r.namespace or "(root)", r.pid, alive(r.pid), r.log) for r in records
    ]
    namespaces = [ns for ns in list_namespaces() if lab.names.owns(ns)]
    return processes, namespaces


def require_tools() -> None:
    missing = [tool for tool in ("ip", "nft", "ethtool", "ss") if shutil.which(tool) is None]
    if missing:
        raise LabError(
            f"the lab needs {', '.join(missing)}: run `make debs` (Debian packages "
            "iproute2, nftables, ethtool)"
        )
