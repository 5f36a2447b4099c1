"""A lab brought up from Python: the harness of every system test and benchmark.

`LabSession` builds a topology exactly as `handoff lab up` does
(controller.lab.lab `up()`/`down()`: namespaces, switch, demo back-ends,
agents, controller, classifiers, each the shipped process with its shipped
command line), but under a namespace prefix and in a run root of its own, so
a session never collides with a user's lab or with another session. Nothing
in it stands in for a product component: everything a test or a benchmark
learns, it learns from the processes' own interfaces.

    with LabSession(policy={...}) as lab:          # up(); down() on the way out
        sock = lab.connect("c1")                   # a client socket in c1, to the VIP
        lab.flows(include_ended=True)              # the controller's ListFlows
        lab.classifier_stats("k1").latencies       # the classifier's Stats
        lab.encap_entries()                        # encap_map, read over P4Runtime
        lab.kill("agent-b3"); lab.restart_agent("b3")

- Hosts: `ns(host)`, `address(host)`, `call_in(host, fn)` (fn runs on a
  thread inside the host's namespace; sockets it makes stay there),
  `run_async_in`, `socket_in`, `connect`, `command`.
- Processes (names as lab.json records them: `switch`, `controller`,
  `classifier-k1`, `agent-b1`, `backend-b1`): `record`, `log`, `signal`,
  `kill`, `start_again`, `restart_switch`, `restart_controller`,
  `restart_classifier`, `restart_agent`, `restart_backend`, `spawn` (a
  further process, recorded so `down` stops it too), `link_down`/`link_up`.
- The control plane's APIs: `flows`, `controller_stats`, `classifier_stats`,
  `counters`, `outcomes`, `latencies`, `classifier_policy`, `live_backends`,
  `end_flows`; the data plane's state: `switch_client`, `encap_entries`,
  `switch_entries`, `decap_flow_ids`, `leaks`.
- `wait_for(condition, timeout, what)`: poll with a deadline, never
  sleep-and-hope.

`down()` stops every recorded process and removes every namespace of the
prefix, whatever state `up()` or the test left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal as signals
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
import yaml

from controller.config.topology import Host, Topology, load_topology
from controller.handoff.nft import DECAP_TABLE
from controller.handoff.tls import TlsFiles
from controller.lab import lab as labs
from controller.lab.netns import LabNames, destroy, in_netns, list_namespaces, run
from controller.lab.processes import ProcessRecord, alive, stop, wait_for_path
from controller.lab.query import classifier_stats, controller_stats, list_flows
from controller.lab.switch import RunningSwitch, process_name, wait_until_serving
from controller.p4rt import P4RuntimeClient, TableEntry
from controller.proto import handoff_pb2 as pb
from controller.proto import handoff_pb2_grpc as pb_grpc
from controller.switch.tables import ENCAP_TABLES, connection_of, flow_id_of

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
BASIC_TOPOLOGY = ROOT / "topologies" / "basic.yaml"
START_TIMEOUT_S = 30.0
AGENT_PORT = labs.AGENT_PORT


# ---------------------------------------------------------------- waiting


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` (an exception counts as not yet) until it holds;
    AssertionError naming `what` and the last exception after `timeout`."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            if condition():
                return
            last = ""
        except Exception as exc:
            last = f" (last: {type(exc).__name__}: {exc})"
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{last}")
        time.sleep(0.02)


# ---------------------------------------------------------------- namespaces from Python

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def entered(namespace: str) -> Iterator[None]:
    """Run the calling thread inside network namespace `namespace` for the block."""
    with (
        open("/proc/thread-self/ns/net", "rb") as home,
        open(f"/run/netns/{namespace}", "rb") as ns,
    ):
        _setns(ns.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())


def call_in(namespace: str, call: Callable[[], T]) -> T:
    """`call()` on a fresh thread inside `namespace`; its result or its exception.
    Sockets it creates stay in that namespace wherever they are used later."""
    result: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            with entered(namespace):
                result.append(call())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=body, name=f"in-{namespace}")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def run_async_in(namespace: str, make: Callable[[], Awaitable[T]], timeout: float) -> T:
    """A coroutine on an event loop of its own inside `namespace`, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(make(), timeout)

    return call_in(namespace, lambda: asyncio.run(bounded()))


# ---------------------------------------------------------------- what the system holds


@dataclass(frozen=True, order=True)
class SwitchEntry:
    """One encap_map entry: the client port it steers, its flow id, and the
    idle timeout that removes it if nothing else does."""

    client_port: int
    flow_id: int
    idle_timeout_ns: int

    def __str__(self) -> str:
        return f"port {self.client_port} -> flow {self.flow_id:#010x}"


@dataclass(frozen=True)
class HeldFlow:
    """A controller flow out of quarantine."""

    client_port: int
    backend: str
    flow_id: int
    state: str
    on_switch: bool

    def __str__(self) -> str:
        return f"port {self.client_port} -> {self.backend} flow {self.flow_id:#010x} {self.state}"


@dataclass
class Leaks:
    """What the system still holds; all empty once every connection ended."""

    entries: list[SwitchEntry] = field(default_factory=list)
    decap: dict[str, list[int]] = field(default_factory=dict)  # back-end -> flow ids
    flows: list[HeldFlow] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.entries or any(self.decap.values()) or self.flows)

    def __str__(self) -> str:
        decap = {b: [f"{i:#010x}" for i in ids] for b, ids in self.decap.items() if ids}
        return (f"encap_map entries {[str(e) for e in self.entries]}, decapsulation "
                f"mappings {decap}, flows {[str(f) for f in self.flows]}")  # fmt: skip

    def without(self, ports: Collection[int]) -> Leaks:
        """What is left once the connections of client `ports` are set aside."""
        gone = {(f.backend, f.flow_id) for f in self.flows if f.client_port in ports}
        return Leaks(
            [e for e in self.entries if e.client_port not in ports],
            {b: [i for i in ids if (b, i) not in gone] for b, ids in self.decap.items()},
            [f for f in self.flows if f.client_port not in ports],
        )


# ---------------------------------------------------------------- the session


def _unique_prefix(tag: str) -> str:
    """Six characters (the lab's veth names carry the first six): `tag`'s
    first letter and random hex, not used by any namespace now."""
    taken = {ns.split("-")[0] for ns in list_namespaces()}
    while True:
        prefix = f"{tag[:1] or 't'}{secrets.token_hex(3)[:5]}"
        if prefix not in taken:
            return prefix


def topology_with_policy(
    topology: Path, policy: Mapping[str, object] | Path, directory: Path
) -> Path:
    """A copy of `topology` in `directory` whose VIPs use `policy` (a policy
    document, written next to it, or a policy file); the switch program's path
    made absolute so the copy works from anywhere."""
    spec = yaml.safe_load(topology.read_text())
    for switch in spec["switches"] if "switches" in spec else [spec["switch"]]:
        switch["program"] = str((topology.parent / switch["program"]).resolve())
    if isinstance(policy, Path):
        policy_path = policy.resolve()
    else:
        policy_path = directory / "policy.yaml"
        policy_path.write_text(yaml.safe_dump(dict(policy), sort_keys=False))
    for vip in spec["vips"]:
        vip["policy"] = str(policy_path)
    path = directory / topology.name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


class LabSession:
    """One lab, up from `up()` to `down()`; see the module's docstring."""

    def __init__(
        self,
        topology: str | Path = BASIC_TOPOLOGY,
        *,
        policy: Mapping[str, object] | Path | None = None,
        target: str | None = None,
        tls: bool = False,
        run_root: Path | None = None,
        tag: str = "t",
    ) -> None:
        self._own_root = run_root is None
        self.run_root = Path(tempfile.mkdtemp(prefix="p4h-lab-")) if run_root is None else run_root
        self.run_root.mkdir(parents=True, exist_ok=True)
        source = Path(topology)
        if policy is not None:
            source = topology_with_policy(source, policy, self.run_root)
        loaded = load_topology(source)
        self.lab = labs.Lab(loaded, LabNames(_unique_prefix(tag)), self.run_root / loaded.name)
        # With several switches, None keeps each switch's own target (mixed labs).
        self.target: str | None = target or loaded.switch.target
        if loaded.multi_switch:
            self.target = target
        self.tls = tls
        self._argv: dict[str, tuple[str, ...]] = {}  # as `up` started each process

    # ------------------------------------------------------------ life cycle

    def up(self) -> LabSession:
        """Everything up and serving, or everything removed again and the
        failing step's error raised."""
        try:
            labs.up(self.lab, self.target, tls=self.tls)
            self._argv = {r.name: self._own_argv(r) for r in self.records()}
            self.wait_whole()
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """Stop every recorded process and remove every namespace of the
        prefix; never raises past a failed step without trying the rest."""
        try:
            labs.down(self.lab)
        finally:
            destroy(self.lab.names)
            if self._own_root:
                shutil.rmtree(self.run_root, ignore_errors=True)

    def __enter__(self) -> LabSession:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # ------------------------------------------------------------ the topology

    @property
    def topology(self) -> Topology:
        return self.lab.topology

    @property
    def names(self) -> LabNames:
        return self.lab.names

    @property
    def run_dir(self) -> Path:
        return self.lab.run_dir

    @property
    def vip(self) -> tuple[str, int]:
        vip = self.topology.vips[0]
        return str(vip.address), vip.port

    @property
    def forwarder(self) -> str:
        return str(self.topology.switch.forwarder_address)

    @property
    def backends(self) -> list[str]:
        return [h.name for h in self.topology.hosts_with_role("backend")]

    @property
    def classifiers(self) -> list[str]:
        return labs._classifier_names(self.topology)

    def host(self, name: str) -> Host:
        return self.topology.host(name)

    def ns(self, host: str) -> str:
        return self.names.host(host)

    def address(self, host: str) -> str:
        return str(self.host(host).interface.ip)

    # ------------------------------------------------------------ inside a host

    def call_in(self, host: str, call: Callable[[], T]) -> T:
        return call_in(self.ns(host), call)

    def run_async_in(self, host: str, make: Callable[[], Awaitable[T]], timeout: float) -> T:
        return run_async_in(self.ns(host), make, timeout)

    def socket_in(
        self,
        host: str,
        family: int = socket.AF_INET,
        kind: int = socket.SOCK_STREAM,
        proto: int = 0,
    ) -> socket.socket:
        return self.call_in(host, lambda: socket.socket(family, kind, proto))

    def connect(self, host: str = "c1", timeout: float = 20.0) -> socket.socket:
        """A TCP connection from `host` to the VIP."""
        sock = self.socket_in(host)
        sock.settimeout(timeout)
        try:
            sock.connect(self.vip)
        except BaseException:
            sock.close()
            raise
        return sock

    def command(self, host: str, argv: Sequence[str], *, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """`argv` run in `host`'s namespace."""
        done = subprocess.run(in_netns(self.ns(host), argv), capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"`{' '.join(argv)}` in {host} failed ({done.returncode}): "
                                 f"{done.stderr or done.stdout}")  # fmt: skip
        return done

    def link_down(self, host: str) -> None:
        """Cut `host` off the network (its end of the link goes down)."""
        run(in_netns(self.ns(host), ["ip", "link", "set", "eth0", "down"]))

    def link_up(self, host: str) -> None:
        """Plug `host` back in: the link, and the default route the kernel
        removed with it."""
        gateway = str(self.host(host).gateway)
        run(in_netns(self.ns(host), ["ip", "link", "set", "eth0", "up"]))
        run(in_netns(self.ns(host), ["ip", "route", "replace", "default", "via", gateway,
                                     "dev", "eth0"]))  # fmt: skip

    # ------------------------------------------------------------ processes

    def records(self) -> list[ProcessRecord]:
        return self.lab.table.load()[1]

    def record(self, name: str) -> ProcessRecord:
        found = [r for r in self.records() if r.name == name]
        if not found:
            raise KeyError(f"no process {name!r} in {self.lab.table.path}")
        return found[-1]

    def alive(self, name: str) -> bool:
        return alive(self.record(name).pid)

    def log(self, name: str, chars: int | None = None) -> str:
        """What process `name` logged (the last `chars` characters)."""
        try:
            text = Path(self.record(name).log).read_text(errors="replace")
        except (KeyError, OSError):
            return "(no log)"
        return text if chars is None else text[-chars:]

    def signal(self, name: str, signum: int) -> None:
        os.kill(self.record(name).pid, signum)

    def kill(self, name: str) -> None:
        """SIGKILL to the process group, as a crash would; returns once it is gone."""
        record = self.record(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.pid, signals.SIGKILL)
        wait_for(lambda: not alive(record.pid), 10, f"{name} to die")

    def argv(self, name: str) -> list[str]:
        """The command line `up` started process `name` with (no `ip netns exec`)."""
        return list(self._argv[name])

    @staticmethod
    def _own_argv(record: ProcessRecord) -> tuple[str, ...]:
        """The command line without the `ip netns exec NS` in front of it."""
        return record.argv[4:] if record.namespace is not None else record.argv

    def start_again(self, name: str, *extra: str, grace_s: float = 3.0) -> ProcessRecord:
        """Start `name` again in its namespace with the command line `up`
        gave it plus `extra` (stopping what is left of it first: SIGTERM,
        SIGKILL after `grace_s`), recorded in lab.json in place of the old
        one so `down` stops the new one."""
        info, records = self.lab.table.load()
        old = self.record(name)
        if alive(old.pid):
            stop([old], grace_s=grace_s)
            wait_for(lambda: not alive(old.pid), 10, f"{name} to end")  # its sockets with it
        argv = [*self._argv.get(name, self._own_argv(old)), *extra]
        self.lab.table.save(info, [r for r in records if r.name != name])
        return self.lab.table.start(info, name, old.namespace, argv)

    def spawn(self, name: str, host: str | None, argv: Sequence[str]) -> ProcessRecord:
        """A further process in `host`'s namespace (None: the root one),
        recorded in lab.json so `down` stops it."""
        info, _ = self.lab.table.load()
        return self.lab.table.start(info, name, None if host is None else self.ns(host), argv)

    def retire(self, name: str) -> None:
        """Stop a process `spawn` added and drop its record, so the lab is
        again what `up` made of it."""
        info, records = self.lab.table.load()
        stop([self.record(name)])
        self.lab.table.save(info, [r for r in records if r.name != name])

    def switch_process(self, switch: str | None = None) -> str:
        """The process name of `switch` (default the entry switch): `switch`,
        or `switch-NAME` with several."""
        return process_name(self.topology, switch)

    def switch_target(self, switch: str | None = None) -> str:
        spec = self.topology.switch_named(switch) if switch else self.topology.switch
        return self.target or spec.target

    def restart_switch(self, switch: str | None = None) -> None:
        """Start the switch again (default the entry switch), empty, as `up`
        did; returns once it serves P4Runtime."""
        name = switch or self.topology.switch.name
        socket_path = self.run_dir / self.topology.p4runtime_socket(name)
        socket_path.unlink(missing_ok=True)
        record = self.start_again(self.switch_process(name), grace_s=0)
        wait_for_path(socket_path, record, START_TIMEOUT_S)
        running = RunningSwitch(
            record, self.switch_target(name), f"unix:{socket_path}", socket_path, 0
        )
        wait_until_serving(running, START_TIMEOUT_S)

    def restart_controller(self, *extra: str, grace_s: float = 0) -> None:
        self.start_again("controller", *extra, grace_s=grace_s)
        wait_for(self.controller_serves, START_TIMEOUT_S, "the restarted controller to serve")

    def restart_classifier(self, name: str = "k1", *extra: str) -> None:
        """Stopped cleanly and started with `up`'s command line plus `extra`
        (e.g. `--agent-timeout 2`); returns once it serves its API, with its
        pools as its first heartbeats found them."""
        socket_path = self.lab.classifier_socket(name)
        record = self.start_again(f"classifier-{name}", *extra)
        socket_path.unlink(missing_ok=True)
        wait_for_path(socket_path, record, START_TIMEOUT_S)
        wait_for(lambda: self.classifier_stats(name) is not None, START_TIMEOUT_S,
                 f"classifier-{name} to serve")  # fmt: skip

    def restart_agent(self, host: str, *extra: str) -> None:
        """The agent of `host` with `up`'s command line plus `extra` (e.g.
        `--max-age-ms 2000`); returns once it listens."""
        record = self.start_again(f"agent-{host}", *extra)
        wait_for(lambda: self.agent_listens(host) or not alive(record.pid), START_TIMEOUT_S,
                 f"agent-{host} to listen")  # fmt: skip
        if not alive(record.pid):
            raise AssertionError(f"agent-{host} exited: {self.log(f'agent-{host}', 2000)}")

    def restart_backend(self, host: str) -> None:
        """The demo application, then its agent (which adopts the mappings
        its predecessor left in the kernel)."""
        handover = self.lab.handover_socket(host)
        handover.unlink(missing_ok=True)
        app = self.start_again(f"backend-{host}", grace_s=0)
        wait_for_path(handover, app, START_TIMEOUT_S)
        self.restart_agent(host)

    def agent_listens(self, host: str) -> bool:
        def connects() -> bool:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.address(host), AGENT_PORT), timeout=0.5),
            ):
                return True
            return False

        return self.call_in(host, connects)

    def controller_serves(self) -> bool:
        try:
            list_flows(self.run_dir)
        except Exception:
            return False
        return True

    def wait_whole(self, timeout: float = START_TIMEOUT_S) -> None:
        """Every recorded process running and every back-end in every
        classifier's pools: what a test may assume of the lab it is given."""
        dead = [r.name for r in self.records() if not alive(r.pid)]
        if dead:
            raise AssertionError(f"processes not running: {dead}")
        wait_for(lambda: self.live_backends_everywhere() == set(self.backends), timeout,
                 "every back-end to answer the classifiers' heartbeats")  # fmt: skip

    # ------------------------------------------------------------ the control plane's APIs

    def flows(self, include_ended: bool = False) -> list[pb.Flow]:
        """The controller's ListFlows, with the switch's counters."""
        return list(list_flows(self.run_dir, include_ended=include_ended).flows)

    def flows_of(self, port: int) -> list[pb.Flow]:
        """Every flow (ended ones too) of client port `port`, oldest first."""
        found = [f for f in self.flows(include_ended=True) if f.connection.client_port == port]
        return sorted(found, key=lambda f: f.created_at)

    def controller_stats(self) -> pb.StatsResponse:
        return controller_stats(self.run_dir)

    def classifier_stats(self, name: str = "k1") -> pb.StatsResponse:
        (stats,) = classifier_stats(self.run_dir, name)
        return stats

    def counters(self, name: str = "k1") -> dict[str, float]:
        """The classifier's counters (Prometheus samples by name with labels)."""
        return dict(self.classifier_stats(name).counters)

    def outcomes(self, name: str = "k1") -> dict[str, int]:
        """How the classifier's connections ended so far, by outcome
        (handed_off, recovered, no_match, ...)."""
        prefix = 'p4handoff_classifier_connections_total{outcome="'
        return {
            key[len(prefix) : -2]: int(value)
            for key, value in self.counters(name).items()
            if key.startswith(prefix)
        }

    def latencies(self, name: str = "k1") -> dict[str, pb.Latency]:
        """The classifier's handoff steps (read, allocate, freeze, agent,
        install, commit, decision_to_handover, ...) over its recent samples."""
        return {lat.step: lat for lat in self.classifier_stats(name).latencies}

    def classifier_policy(self, name: str = "k1") -> pb.PolicyResponse:
        with grpc.insecure_channel(f"unix:{self.lab.classifier_socket(name)}") as channel:
            stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
            response: pb.PolicyResponse = stub.GetPolicy(pb.GetPolicyRequest(), timeout=5)
        return response

    def live_backends(self, name: str = "k1") -> set[str]:
        """The back-ends the classifier's heartbeats keep in its pools."""
        policy = self.classifier_policy(name)
        return {b.name for pool in policy.pools for b in pool.backends if b.live}

    def live_backends_everywhere(self) -> set[str]:
        live = [self.live_backends(name) for name in self.classifiers]
        return set.intersection(*live) if live else set()

    def end_flows(self, ports: Collection[int], reason: str) -> None:
        """End the live flows of client `ports` through the controller's
        RemoveFlow, as a classifier gives a flow back (entry, mapping, id)."""
        with grpc.insecure_channel(f"unix:{self.lab.controller_socket}") as channel:
            stub = pb_grpc.ControllerStub(channel)  # type: ignore[no-untyped-call]
            for flow in self.flows():
                if flow.state != "quarantine" and flow.connection.client_port in ports:
                    request = pb.RemoveFlowRequest(flow=flow.ref, reason=reason,
                                                   release_agent=True)  # fmt: skip
                    stub.RemoveFlow(request, timeout=10)

    # ------------------------------------------------------------ the data plane's state

    @contextlib.contextmanager
    def switch_client(self, switch: str | None = None) -> Iterator[P4RuntimeClient]:
        """A short-lived backup P4Runtime session on the switch (election id
        1, below the controller's: it never takes over a live controller);
        `switch` of several (default the entry switch)."""
        socket = self.topology.p4runtime_socket(switch or self.topology.switch.name)
        credentials = None
        if self.tls:
            tls = self.lab.tls_dir
            files = TlsFiles(tls / "ca.crt", tls / "controller.crt", tls / "controller.key")
            credentials = files.channel_credentials()
        client = P4RuntimeClient(f"unix:{self.run_dir / socket}", election_id=1, timeout=5,
                                 credentials=credentials)  # fmt: skip
        try:
            client.connect()
            client.fetch_pipeline()
            yield client
        finally:
            client.close()

    def encap_entries(self, switch: str | None = None) -> list[TableEntry]:
        """encap_map's entries, then encap_map6's (IPv6 connections), of the
        entry switch (or `switch`)."""
        with self.switch_client(switch) as client:
            return [e for table in ENCAP_TABLES for e in client.read_table(table)]

    def switch_entries(self) -> list[SwitchEntry]:
        return sorted(
            SwitchEntry(connection_of(e)[1], flow_id_of(e) or 0, e.idle_timeout_ns)
            for e in self.encap_entries()
        )

    def decap_flow_ids(self, host: str) -> list[int]:
        """Flow ids of the decapsulation mappings in `host`'s kernel (nft),
        IPv4 and IPv6."""
        ids = []
        for family in ("ip", "ip6"):
            argv = ["nft", "-j", "list", "map", family, DECAP_TABLE, "flow_index"]
            done = run(in_netns(self.ns(host), argv), check=False)
            if done.returncode != 0:
                continue  # no table: the agent tore it down, or never made it
            for item in json.loads(done.stdout)["nftables"]:
                for key, _ in item.get("map", {}).get("elem", []):
                    _, _, high, low = key["concat"]
                    ids.append(int(high) << 16 | int(low))
        return sorted(ids)

    def held_flows(self) -> list[HeldFlow]:
        """The controller's flows out of quarantine (pending or installed)."""
        return [
            HeldFlow(f.connection.client_port, f.backend_name, f.ref.flow_id, f.state, f.on_switch)
            for f in self.flows()
            if f.state != "quarantine"
        ]

    def leaks(self) -> Leaks:
        """Switch entries, decapsulation mappings and live flows: all empty
        once every connection has ended and been released."""
        return Leaks(
            entries=self.switch_entries(),
            decap={b: self.decap_flow_ids(b) for b in self.backends},
            flows=self.held_flows(),
        )

    def wait_nothing_left(self, timeout: float, what: str) -> None:
        """Wait for `leaks()` to be empty; on timeout the AssertionError
        lists what is still there."""
        try:
            wait_for(lambda: not self.leaks(), timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; still there: {self.leaks()}") from None
