"""The lab's switch process: p4sim (or bmv2's simple_switch_grpc) in the switch namespace.

The switch opens the switch-namespace end of every host's veth (`port<N>`) as
port N and serves P4Runtime on a Unix socket in the run directory. A Unix
socket lives in the filesystem, not in a network namespace, so the
controller reaches the switch from any namespace without a management
network. Both targets take the same flags (p4sim keeps simple_switch_grpc's
names), so swapping targets changes only the program name and the pipeline
files: p4sim compiles the P4 source itself, bmv2 needs p4c's JSON.

With several switches (a `switches:` topology) each runs in its own
namespace as process `switch-NAME`, serves on `p4runtime-NAME.sock`, and
opens its hosts' ports and its links' ports; each has its own target.

The switch starts without a program (`--no-p4`) unless one is given; the
controller pushes the pipeline with SetForwardingPipelineConfig, as it would
on a hardware switch.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from controller.config.topology import TARGETS, Topology
from controller.handoff.tls import TlsFiles
from controller.lab.netns import LabError, LabNames
from controller.lab.processes import ProcessRecord, ProcessTable, alive, stop, wait_for_path
from controller.p4rt import grpc_tls_options
from controller.switch.pipeline import missing_tools

SOCKET_NAME = "p4runtime.sock"


@dataclass(frozen=True)
class SwitchTls:
    """Mutual TLS on the switch's P4Runtime server: its own files, and a
    client identity the lab trusts (the controller's) to see it serve."""

    server: TlsFiles
    client: TlsFiles


@dataclass(frozen=True)
class RunningSwitch:
    record: ProcessRecord
    target: str
    grpc_address: str  # `unix:/path`, for P4RuntimeClient
    socket_path: Path
    device_id: int
    credentials: grpc.ChannelCredentials | None = None  # for P4RuntimeClient when it serves TLS


def process_name(topology: Topology, switch: str | None = None) -> str:
    """The lab's name of a switch process: `switch`, or `switch-NAME` of several."""
    if not topology.multi_switch:
        return "switch"
    return f"switch-{switch or topology.switch.name}"


def switch_ports(topology: Topology, switch: str) -> list[int]:
    """The ports `switch` opens: its hosts' and its ends of links, in order."""
    ports = [host.port for host in topology.hosts_on(switch)]
    for link in topology.links:
        end = link.end(switch)
        if end is not None:
            ports.append(end[0])
    return sorted(ports)


def switch_argv(
    topology: Topology,
    names: LabNames,
    grpc_address: str,
    *,
    target: str | None = None,
    program: Path | None = None,
    device_id: int = 0,
    tls: TlsFiles | None = None,
    switch: str | None = None,
) -> list[str]:
    """The switch's command line: one `-i N@port<N>` per host (and link), CPU
    port from the topology; `program` None starts it empty (`--no-p4`);
    `tls` serves P4Runtime only to clients with a certificate from its CA.
    `switch`: which of several (default the entry switch)."""
    spec = topology.switch_named(switch) if switch else topology.switch
    chosen = target or spec.target
    if chosen not in TARGETS:
        raise LabError(f"unknown switch target {chosen!r} (expected one of {', '.join(TARGETS)})")
    if topology.multi_switch:
        ports = switch_ports(topology, spec.name)
    else:
        ports = [host.port for host in topology.hosts]
    interfaces = [arg for port in ports for arg in ("-i", f"{port}@{names.switch_port(port)}")]
    loaded = [str(program)] if program is not None else ["--no-p4"]
    common = ["--device-id", str(device_id), *interfaces, *loaded]
    target_options = [
        "--grpc-server-addr", grpc_address, "--cpu-port", str(spec.cpu_port),
    ]  # fmt: skip
    if tls is not None:
        target_options += [
            "--grpc-server-ssl", "--grpc-server-cert", str(tls.cert),
            "--grpc-server-key", str(tls.key), "--grpc-server-cacert", str(tls.ca),
            "--grpc-server-with-client-auth",
        ]  # fmt: skip
    if chosen == "bmv2":
        # simple_switch_grpc wants its target options after a bare `--`.
        return ["simple_switch_grpc", *common, "--", *target_options]
    return [sys.executable, "-m", "p4sim.cli", *common, *target_options]


def start_switch(
    table: ProcessTable,
    lab: dict[str, object],
    topology: Topology,
    names: LabNames,
    *,
    target: str | None = None,
    program: Path | None = None,
    device_id: int = 0,
    timeout_s: float = 30.0,
    tls: SwitchTls | None = None,
    switch: str | None = None,
) -> RunningSwitch:
    """Start the switch (`switch` of several; default the entry switch) in
    its namespace and return once its P4Runtime server accepts connections;
    stops it again if it never does."""
    spec = topology.switch_named(switch) if switch else topology.switch
    chosen = target or spec.target
    missing = missing_tools(chosen)
    if missing:
        raise LabError(f"target {chosen} needs {' and '.join(missing)} on PATH")
    socket_path = table.run_dir / topology.p4runtime_socket(spec.name)
    socket_path.unlink(missing_ok=True)  # a crashed predecessor's socket would look ready
    address = f"unix:{socket_path}"
    argv = switch_argv(
        topology, names, address, target=chosen, program=program, device_id=device_id,
        tls=None if tls is None else tls.server, switch=spec.name,
    )  # fmt: skip
    namespace = names.switch_of(topology, spec.name)
    record = table.start(lab, process_name(topology, spec.name), namespace, argv)
    credentials = None if tls is None else tls.client.channel_credentials()
    running = RunningSwitch(record, chosen, address, socket_path, device_id, credentials)
    try:
        wait_for_path(socket_path, record, timeout_s)
        wait_until_serving(running, timeout_s)
    except BaseException:
        stop_switch(running)
        raise
    return running


def wait_until_serving(switch: RunningSwitch, timeout_s: float) -> None:
    """Wait until the switch's gRPC server completes a connection."""
    deadline = time.monotonic() + timeout_s
    if switch.credentials is None:
        channel = grpc.insecure_channel(switch.grpc_address)
    else:
        channel = grpc.secure_channel(
            switch.grpc_address, switch.credentials, options=grpc_tls_options(switch.grpc_address)
        )
    with channel:
        ready = grpc.channel_ready_future(channel)
        while True:
            try:
                ready.result(timeout=0.2)
                return
            except grpc.FutureTimeoutError:
                pass
            if not alive(switch.record.pid):
                raise LabError(
                    f"the {switch.target} switch exited during start-up; see {switch.record.log}"
                )
            if time.monotonic() > deadline:
                raise LabError(
                    f"the {switch.target} switch did not serve P4Runtime on "
                    f"{switch.grpc_address} within {timeout_s:.0f} s; see {switch.record.log}"
                )


def stop_switch(switch: RunningSwitch, grace_s: float = 3.0) -> None:
    stop([switch.record], grace_s)
    switch.socket_path.unlink(missing_ok=True)
