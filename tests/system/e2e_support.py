"""End-to-end lab for the handoff tests and bench: the basic topology with the
forwarder on a real switch process, real agents and demo back-ends, and a
test classifier.

`E2ELab.start()` builds topologies/basic.yaml as namespaces under a unique
prefix, starts the switch (p4sim by default, bmv2 with TARGET=bmv2), pushes
the forwarder pipeline and the lab's routes, gateway ARP and VIP steering
entries through controller.p4rt, starts one demo back-end and one migrator
agent in each back-end namespace, and a `Classifier` in the classifier
namespace. `close()` tears all of it down whatever state it is in.

The classifier is a stand-in for the real one (issue 6), written for tests:
it accepts on the VIP, reads the first request head, asks its `policy`
where the connection goes, and then does the handoff the design describes —
lock, freeze, seal, agent ("ready"), `encap_map` entry (this harness is also
the controller), commit, silent close, unlock — or, when the agent does not
take the connection, thaws it and serves the request itself (`X-Backend:
k1`). Every attempt leaves a `HandoffRecord` with its timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from kernel_lab import netns
from needs import skip_reason
from paths import ROOT

from controller import tcprepair
from controller.agent_protocol import AgentClient, AgentError, HandoffOutcome
from controller.blob import Handoff, Release, seal
from controller.keys import Keyring
from controller.lab.netns import LabNames, create, destroy, in_netns, run
from controller.lab.processes import ProcessRecord, ProcessTable, alive, stop, wait_for_path
from controller.lab.switch import (
    RunningSwitch,
    build_pipeline,
    start_switch,
    stop_switch,
)
from controller.lab.topology import Host, Topology, load_topology
from controller.nft import FlowLock, Nft
from controller.p4rt import P4RuntimeClient, TableEntry, Update

TOPOLOGY = ROOT / "topologies" / "basic.yaml"
AGENT_PORT = 7100
KEY_ID = 1
MAX_HEAD = 16 * 1024
T = TypeVar("T")
_labs = itertools.count()



def in_thread_of(namespace: str, call: Callable[[], T]) -> T:
    """Run `call` on a fresh thread inside `namespace` (sockets it creates
    stay there) and return its result."""
    result: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            with netns(namespace):
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
    """Run a coroutine on its own event loop in `namespace`, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(make(), timeout)

    return in_thread_of(namespace, lambda: asyncio.run(bounded()))


# ---------------------------------------------------------------- the classifier


@dataclass(frozen=True)
class Decision:
    """Where a connection goes: a back-end's name, or None to serve it here.
    `hold_s` waits before freezing, so more of the request queues up."""

    backend: str | None
    hold_s: float = 0.0


_HEADER = re.compile(rb"^([A-Za-z0-9-]+):[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def header(head: bytes, name: str) -> str | None:
    for match in _HEADER.finditer(head):
        if match.group(1).decode().lower() == name.lower():
            return match.group(2).decode("latin-1").rstrip("\r")
    return None


def header_policy(head: bytes) -> Decision:
    """`X-Handoff-To: b2` picks the back-end (default b1, `none` serves here);
    `X-Handoff-Hold-Ms: 200` delays the freeze."""
    target = header(head, "X-Handoff-To") or "b1"
    hold = header(head, "X-Handoff-Hold-Ms")
    return Decision(None if target == "none" else target, int(hold) / 1000 if hold else 0.0)


@dataclass
class HandoffRecord:
    """One connection the classifier decided on, with perf_counter timestamps."""

    client: tuple[str, int]
    backend: str | None
    flow_id: int | None = None
    ready: bool = False  # the agent restored the connection and held it for the commit
    committed: bool = False  # the commit was answered OK: the application holds it
    certain: bool = True
    detail: str = ""
    queued: int = 0  # receive-side bytes carried: the head read plus the kernel's queue
    decided_at: float = 0.0  # just before the 4-tuple is locked
    sent_at: float = 0.0  # locked, frozen and sealed: the blob goes to the agent
    answered_at: float = 0.0  # the agent answered the handoff ("ready" or not)
    entry_at: float = 0.0  # the encap_map entry is written
    done_at: float = 0.0  # commit sent, frozen copy closed and lock released, or served here
    handed_at: float = 0.0  # the commit was answered: the application holds the socket
    served_here: bool = False
    error: str = ""

    @property
    def latency_s(self) -> float:
        """Classifier decision to the application holding the socket."""
        return self.handed_at - self.decided_at

    @property
    def answer_s(self) -> float:
        """Classifier decision to the agent's answer to the handoff."""
        return self.answered_at - self.decided_at

    @property
    def switchover_s(self) -> float:
        """Classifier decision to the client's packets flowing to the back-end."""
        return self.done_at - self.decided_at


@dataclass
class ClassifierSettings:
    keys: Keyring
    timeout: float = 5.0  # for the agent's answer to a handoff
    abort_timeout: float = 5.0
    agent_port: int = AGENT_PORT


class EntryWriter:
    """Writes encap_map entries for many concurrent handoffs, coalescing those
    that wait at the same time into one P4Runtime Write (as a controller
    would), off the event loop."""

    def __init__(self, p4: P4RuntimeClient, executor: ThreadPoolExecutor) -> None:
        self.p4 = p4
        self.executor = executor
        self.pending: list[tuple[TableEntry, asyncio.Future[None]]] = []
        self.flushing = False
        self.task: asyncio.Future[None] | None = None
        self.batches: list[int] = []

    async def insert(self, entry: TableEntry) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((entry, future))
        if not self.flushing:
            self.flushing = True
            self.task = asyncio.ensure_future(self._flush())
        await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                self.batches.append(len(batch))
                updates = [Update.insert(entry) for entry, _ in batch]
                try:
                    await loop.run_in_executor(self.executor, self.p4.write, updates)
                except Exception as exc:
                    for _, future in batch:
                        future.set_exception(exc)
                else:
                    for _, future in batch:
                        future.set_result(None)
        finally:
            self.flushing = False


class Classifier:
    """The test classifier of one classifier host; runs its own event loop on
    a thread inside that host's namespace."""

    def __init__(self, lab: E2ELab, host: str = "k1") -> None:
        self.lab = lab
        self.name = host
        self.namespace = lab.names.host(host)
        self.vip = (str(lab.topology.vips[0].address), lab.topology.vips[0].port)
        self.policy: Callable[[bytes], Decision] = header_policy
        self.settings = ClassifierSettings(keys=lab.keys)
        self.records: list[HandoffRecord] = []
        self.in_progress = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._agents: dict[str, AgentClient] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._executor = ThreadPoolExecutor(2, thread_name_prefix="classifier-p4rt")
        self.writer = EntryWriter(lab.p4, self._executor)

    # ------------------------------------------------------------ life cycle

    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._run, name="classifier", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"classifier {self.name} did not start within {timeout} s")
        if self._startup_error is not None:
            raise self._startup_error

    def _run(self) -> None:
        try:
            with netns(self.namespace):
                asyncio.run(self._main())
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self.lock = FlowLock(Nft())
        self.lock.setup()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(self.vip)
        listener.listen(1024)
        listener.setblocking(False)
        self._ready.set()
        accepting = asyncio.ensure_future(self._accept(listener))
        try:
            await self._stopping.wait()
        finally:
            accepting.cancel()
            listener.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(accepting, *self._tasks, return_exceptions=True)
            for agent in self._agents.values():
                await agent.close()
            self.lock.teardown()

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(15)
        self._executor.shutdown(wait=True)

    def call(self, make: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run a coroutine on the classifier's loop (in its namespace)."""
        assert self._loop is not None

        async def wrapped() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(timeout)

    def wait_idle(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.in_progress and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.in_progress:
            raise TimeoutError(f"classifier still busy with {self.in_progress} connections")

    def agent(self, backend: str) -> AgentClient:
        """The persistent agent connection of a back-end (loop thread only)."""
        if backend not in self._agents:
            address = str(self.lab.topology.host(backend).interface.ip)
            self._agents[backend] = AgentClient(address, self.settings.agent_port)
        return self._agents[backend]

    async def forget_agent(self, backend: str) -> None:
        """Drop the persistent connection (after the agent was restarted)."""
        agent = self._agents.pop(backend, None)
        if agent is not None:
            await agent.close()

    # ------------------------------------------------------------ connections

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, peer = await loop.sock_accept(listener)
            task = asyncio.ensure_future(self._connection(conn, peer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _connection(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        self.in_progress += 1
        record = HandoffRecord(client=peer, backend=None)
        try:
            head = await self._read_head(conn)
            if head is None:
                conn.close()
                return
            decision = self.policy(head)
            record.backend = decision.backend
            self.records.append(record)
            if decision.hold_s:
                await asyncio.sleep(decision.hold_s)
            if decision.backend is None:
                await self._serve_here(conn, head, "not handed off", record)
            else:
                await self._hand_off(conn, peer, head, decision.backend, record)
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            conn.close()
        finally:
            self.in_progress -= 1

    async def _read_head(self, conn: socket.socket, timeout: float = 10.0) -> bytes | None:
        """Consume exactly the first request head, leaving anything after it
        (body, pipelined requests) in the kernel's receive queue."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            try:
                peeked = conn.recv(MAX_HEAD, socket.MSG_PEEK)
            except BlockingIOError:
                peeked = None
            if peeked == b"":
                return None
            if peeked:
                end = peeked.find(b"\r\n\r\n")
                if end >= 0:
                    return conn.recv(end + 4)
                if len(peeked) >= MAX_HEAD:
                    return None
            await asyncio.sleep(0.001)
        return None

    async def _hand_off(
        self, conn: socket.socket, peer: tuple[str, int], head: bytes, backend: str,
        record: HandoffRecord,
    ) -> None:  # fmt: skip
        settings = self.settings
        record.decided_at = time.perf_counter()
        self.lock.lock(peer, self.vip)
        try:
            state = tcprepair.freeze(conn, already_read=head)
        except tcprepair.RepairError as exc:
            self.lock.unlock(peer, self.vip)
            await self._serve_here(conn, head, f"freeze failed: {exc}", record)
            return
        record.queued = len(state.receive)
        flow_id = self.lab.allocate_flow_id()
        record.flow_id = flow_id
        forwarder = str(self.lab.topology.switch.forwarder_address)
        blob = seal(Handoff(flow_id, forwarder, state), settings.keys)
        record.sent_at = time.perf_counter()
        agent = self.agent(backend)
        outcome: HandoffOutcome = await agent.hand_off(
            blob, flow_id=flow_id, forwarder_ip=forwarder, keys=settings.keys,
            timeout=settings.timeout, abort_timeout=settings.abort_timeout,
        )  # fmt: skip
        record.answered_at = time.perf_counter()
        record.ready, record.certain, record.detail = (
            outcome.ready, outcome.certain, outcome.detail,
        )  # fmt: skip
        if outcome.ready:
            # The back-end holds the restored connection: steer the client's
            # segments to it, then let its application have the socket (so
            # whatever the client sends after its first answer goes there),
            # and drop the frozen copy and the lock while the commit travels.
            await self.writer.insert(self.lab.encap_entry(peer, flow_id, backend))
            record.entry_at = time.perf_counter()
            committing = agent.commit(
                blob, flow_id=flow_id, forwarder_ip=forwarder, keys=settings.keys,
                timeout=settings.timeout,
            )  # fmt: skip
            commit = asyncio.ensure_future(committing)
            await asyncio.sleep(0)  # the commit's frame leaves before the kernel work below
            tcprepair.close_silently(conn)
            self.lock.unlock(peer, self.vip)
            record.done_at = time.perf_counter()
            try:
                reply = await commit
            except AgentError as exc:
                record.detail = f"commit: {exc}"
            else:
                record.committed, record.detail = reply.ok, reply.reason
            record.handed_at = time.perf_counter()
        elif outcome.certain:
            self.lock.unlock(peer, self.vip)  # first, or the thaw's window probe is dropped
            tcprepair.thaw(conn)
            await self._serve_here(conn, head, f"agent of {backend}: {outcome.detail}", record)
        else:
            # Neither the handoff nor an abort was answered. Keep it frozen
            # and locked (dropped), as the real classifier does.
            tcprepair.close_silently(conn)
            record.done_at = time.perf_counter()

    async def _serve_here(
        self, conn: socket.socket, head: bytes, why: str, record: HandoffRecord
    ) -> None:
        """Answer the request with the SHA-256 of its body and close cleanly."""
        loop = asyncio.get_running_loop()
        length = int(header(head, "Content-Length") or 0)
        digest = hashlib.sha256()
        while length:
            chunk = await asyncio.wait_for(loop.sock_recv(conn, min(length, 1 << 16)), 30)
            if not chunk:
                break
            digest.update(chunk)
            length -= len(chunk)
        body = f"{digest.hexdigest()}\n".encode()
        reason = re.sub(r"[^\x20-\x7e]", " ", why)[:200]
        response = (
            f"HTTP/1.1 200 OK\r\nX-Backend: {self.name}\r\nX-Handoff: {reason}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        await loop.sock_sendall(conn, response)
        record.served_here = True
        conn.shutdown(socket.SHUT_WR)
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(10):
                while await loop.sock_recv(conn, 1 << 16):
                    pass  # closing with unread data would send a RST
        conn.close()
        record.done_at = time.perf_counter()


# ---------------------------------------------------------------- the lab


@dataclass
class E2ELab:
    """The whole system on the basic topology; see the module docstring."""

    target: str = field(default_factory=lambda: os.environ.get("TARGET") or "p4sim")
    topology: Topology = field(default_factory=lambda: load_topology(TOPOLOGY))
    names: LabNames = field(
        default_factory=lambda: LabNames(f"e{os.getpid() % 10000:04d}{next(_labs) % 10}")
    )
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    agent_metrics_port: int | None = None  # agents serve Prometheus metrics there when set

    def __post_init__(self) -> None:
        self.keys = Keyring({KEY_ID: self.key})
        self.run_dir = Path(tempfile.mkdtemp(prefix="p4h-e2e-"))
        self.table = ProcessTable(self.run_dir)
        self.info: dict[str, object] = {"prefix": self.names.prefix, "target": self.target}
        self.switch: RunningSwitch | None = None
        self._p4: P4RuntimeClient | None = None
        self.agents: dict[str, ProcessRecord] = {}
        self.backends: dict[str, ProcessRecord] = {}
        self.classifier: Classifier | None = None
        self._flow_ids = itertools.count()
        self._flow_lock = threading.Lock()
        self.keys_path = self.run_dir / "keys"

    # ------------------------------------------------------------ names

    @property
    def p4(self) -> P4RuntimeClient:
        assert self._p4 is not None, "the lab is not started"
        return self._p4

    def ns(self, host: str) -> str:
        return self.names.host(host)

    def host(self, name: str) -> Host:
        return self.topology.host(name)

    @property
    def vip(self) -> tuple[str, int]:
        return str(self.topology.vips[0].address), self.topology.vips[0].port

    @property
    def forwarder(self) -> str:
        return str(self.topology.switch.forwarder_address)

    def backend_names(self) -> list[str]:
        return [h.name for h in self.topology.hosts_with_role("backend")]

    # ------------------------------------------------------------ start / stop

    def start(self) -> E2ELab:
        try:
            create(self.topology, self.names)
            self._start_switch()
            self._program_switch()
            self.keys_path.write_text(f"{KEY_ID} {self.key.hex()}\n")
            self.keys_path.chmod(0o600)
            for name in self.backend_names():
                self.start_backend(name)
                self.start_agent(name)
            for name in self.backend_names():
                self.wait_for_agent(name)
            self.rst = RstCounter(self.ns("c1"))
            self.classifier = Classifier(self)
            self.classifier.start()
        except BaseException:
            self.close()
            raise
        return self

    def _start_switch(self) -> None:
        self.switch = start_switch(
            self.table, self.info, self.topology, self.names, target=self.target
        )
        self._p4 = P4RuntimeClient(self.switch.grpc_address, election_id=10)
        self._p4.connect()
        self._p4.require_primary()
        pipeline = build_pipeline(self.topology.switch.program, self.target, self.run_dir / "p4")
        self._p4.set_pipeline(pipeline.p4info, pipeline.device_config)

    def _program_switch(self) -> None:
        """Routes to every host, gateway ARP, and every VIP bucket to a classifier."""
        e = self.p4.entities
        mac = self.topology.switch.mac
        updates = [
            Update.insert(
                e.table_entry(
                    "routes", {"dst_addr": f"{h.interface.ip}/32"}, "set_next_hop",
                    {"port": h.port, "src_mac": mac, "dst_mac": h.mac},
                )
            )
            for h in self.topology.hosts
        ]  # fmt: skip
        for gateway in sorted({str(h.gateway) for h in self.topology.hosts}):
            updates.append(
                Update.insert(
                    e.table_entry(
                        "gateway_arp", {"gateway_addr": gateway}, "answer_arp",
                        {"gateway_mac": mac},
                    )
                )
            )  # fmt: skip
        buckets = 2 ** self.p4.index.table("vip_steering").field("bucket").bitwidth
        for vip in self.topology.vips:
            for bucket in range(buckets):
                classifier = self.host(vip.classifiers[bucket % len(vip.classifiers)])
                updates.append(
                    Update.insert(
                        e.table_entry(
                            "vip_steering", {"vip": str(vip.address), "bucket": bucket},
                            "steer_to_classifier", {"classifier": str(classifier.interface.ip)},
                        )
                    )
                )  # fmt: skip
        self.p4.write(updates)

    def _python(self, module: str, *args: str) -> list[str]:
        return [sys.executable, "-m", module, *args]

    def app_socket(self, backend: str) -> Path:
        return self.run_dir / f"{backend}.app.sock"

    def start_backend(self, name: str) -> None:
        path = self.app_socket(name)
        path.unlink(missing_ok=True)
        argv = self._python("controller.demo_backend", "--name", name, "--handover", str(path))
        record = self.table.start(self.info, f"backend-{name}", self.ns(name), argv)
        self.backends[name] = record
        wait_for_path(path, record, 20)

    def start_agent(self, name: str, *extra: str) -> None:
        address = str(self.host(name).interface.ip)
        vip, port = self.vip
        argv = self._python(
            "controller.agent", "--listen", f"{address}:{AGENT_PORT}",
            "--keys", str(self.keys_path), "--handover", str(self.app_socket(name)),
            "--backend-address", address, "--forwarder", self.forwarder,
            "--vip", f"{vip}:{port}", "-v", *extra,
        )  # fmt: skip
        if self.agent_metrics_port is not None:
            argv += ["--metrics", f"{address}:{self.agent_metrics_port}"]
        self.agents[name] = self.table.start(self.info, f"agent-{name}", self.ns(name), argv)

    def wait_for_agent(self, name: str, timeout: float = 20.0) -> None:
        record = self.agents[name]
        address = (str(self.host(name).interface.ip), AGENT_PORT)
        deadline = time.monotonic() + timeout

        def answers() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(address, timeout=0.5):
                return True
            return False

        while not in_thread_of(self.ns(name), answers):
            if not alive(record.pid) or time.monotonic() > deadline:
                log = self.log_tail(f"agent-{name}")
                raise RuntimeError(f"agent {name} is not listening on {address}:\n{log}")
            time.sleep(0.05)

    def agent_metrics(self, name: str) -> dict[str, float]:
        """The agent's Prometheus samples (needs `agent_metrics_port`), by
        name with labels, e.g. `p4handoff_agent_handoff_seconds_sum`."""
        assert self.agent_metrics_port is not None, "agents were started without --metrics"
        url = f"http://{self.host(name).interface.ip}:{self.agent_metrics_port}/metrics"

        def scrape() -> str:
            with urllib.request.urlopen(url, timeout=5) as answer:
                text: str = answer.read().decode()
                return text

        samples = {}
        for line in in_thread_of(self.ns(name), scrape).splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return samples

    def kill_agent(self, name: str) -> None:
        """The agent dies: nothing listens on its port any more (and the
        classifier's next handoff to it opens a new connection)."""
        stop([self.agents.pop(name)], grace_s=0)
        self._forget_agent(name)

    def signal_agent(self, name: str, signum: signal.Signals) -> None:
        os.kill(self.agents[name].pid, signum)

    def restart_agent(self, name: str, *extra: str) -> None:
        if name in self.agents:
            stop([self.agents.pop(name)])
        self.start_agent(name, *extra)
        self.wait_for_agent(name)
        self._forget_agent(name)

    def _forget_agent(self, name: str) -> None:
        classifier = self.classifier
        if classifier is not None:
            classifier.call(lambda: classifier.forget_agent(name))

    def close(self) -> None:
        """Stop everything and remove the namespaces, whatever was started."""
        if self.classifier is not None:
            with contextlib.suppress(Exception):
                self.classifier.stop()
            self.classifier = None
        if self._p4 is not None:
            with contextlib.suppress(Exception):
                self._p4.close()
            self._p4 = None
        stop([*self.agents.values(), *self.backends.values()])
        self.agents.clear()
        self.backends.clear()
        if self.switch is not None:
            stop_switch(self.switch)
            self.switch = None
        destroy(self.names)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.run_dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    # ------------------------------------------------------------ the controller's part

    def allocate_flow_id(self) -> int:
        """A flow id never used before in this lab, both 16-bit halves non-zero
        (they travel as TCP ports)."""
        with self._flow_lock:
            n = next(self._flow_ids)
        return ((1 + n // 0xFFFF) << 16) | (1 + n % 0xFFFF)

    def encap_entry(self, client: tuple[str, int], flow_id: int, backend: str) -> TableEntry:
        vip, port = self.vip
        return self.p4.entities.table_entry(
            "encap_map",
            {"ipv4_src": client[0], "ipv4_dst": vip, "tcp_sport": client[1], "tcp_dport": port},
            "encap_to_backend",
            {"flow_id": flow_id, "tunnel_src": self.forwarder,
             "backend": str(self.host(backend).interface.ip)},
        )  # fmt: skip

    def encap_entries(self) -> list[TableEntry]:
        return self.p4.read_table("encap_map")

    def release_flows(self, grace_s: float = 0.2) -> None:
        """What the controller does when connections end: delete their
        encap_map entries and the agents' decapsulation mappings. The grace
        period lets the last segments of closing connections (the client's
        final ACK) leave the switch first; without the entry they would reach
        the classifier, which answers them with a RST."""
        classifier = self.classifier
        assert classifier is not None
        classifier.wait_idle()
        time.sleep(grace_s)
        self.p4.write([Update.delete(e) for e in self.encap_entries()])
        committed = [r for r in classifier.records if r.committed and r.flow_id is not None]

        async def release(record: HandoffRecord) -> str | None:
            assert record.backend is not None and record.flow_id is not None
            message = seal(Release(record.flow_id, self.forwarder), self.keys)
            try:
                reply = await classifier.agent(record.backend).request(message, 10)
            except Exception as exc:
                return f"flow {record.flow_id} on {record.backend}: {exc}"
            return None if reply.ok else f"flow {record.flow_id} on {record.backend}: {reply}"

        async def release_all() -> list[str | None]:
            return list(await asyncio.gather(*(release(r) for r in committed)))

        failures = [f for f in classifier.call(release_all, timeout=60) if f is not None]
        classifier.records.clear()
        classifier.writer.batches.clear()
        if failures:
            raise RuntimeError(f"{len(failures)} releases failed, first: {failures[0]}")

    # ------------------------------------------------------------ the client's side

    def client_socket(self, host: str = "c1") -> socket.socket:
        return in_thread_of(
            self.ns(host), lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        )

    def connect(self, host: str = "c1", timeout: float = 20.0) -> socket.socket:
        sock = self.client_socket(host)
        sock.settimeout(timeout)
        sock.connect(self.vip)
        return sock

    @contextlib.contextmanager
    def tcp_options(
        self, host: str, *, timestamps: bool, sack: bool, wscale: bool
    ) -> Iterator[None]:
        """TCP option sysctls of one namespace for the block (restored after)."""
        keys = {
            "net.ipv4.tcp_timestamps": int(timestamps),
            "net.ipv4.tcp_sack": int(sack),
            "net.ipv4.tcp_window_scaling": int(wscale),
        }
        before = {k: run(in_netns(self.ns(host), ["sysctl", "-n", k])).stdout.strip() for k in keys}
        try:
            for k, v in keys.items():
                run(in_netns(self.ns(host), ["sysctl", "-qw", f"{k}={v}"]))
            yield
        finally:
            for k, old in before.items():
                run(in_netns(self.ns(host), ["sysctl", "-qw", f"{k}={old}"]))


# ---------------------------------------------------------------- observing the wire


class RstCounter:
    """Counts TCP segments with RST entering and leaving one namespace (nft)."""

    TABLE = "e2e_rstwatch"

    def __init__(self, namespace: str) -> None:
        self.nft = in_thread_of(namespace, Nft)
        t = f"ip {self.TABLE}"
        self.nft.run(
            f"add table {t}\nadd counter {t} rst\n"
            f"add chain {t} in {{ type filter hook prerouting priority raw; }}\n"
            f"add chain {t} out {{ type filter hook output priority raw; }}\n"
            f'add rule {t} in tcp flags rst counter name "rst"\n'
            f'add rule {t} out tcp flags rst counter name "rst"\n'
        )

    def count(self) -> int:
        packets: int = self.nft.query(f"list counter ip {self.TABLE} rst")[0]["counter"]["packets"]
        return packets


@dataclass(frozen=True)
class Segment:
    src: str
    dst: str
    sport: int
    dport: int
    flags: int
    payload: int


class WireCapture:
    """Every IPv4/TCP segment arriving on one namespace's eth0 while it runs."""

    def __init__(self, namespace: str, interface: str = "eth0") -> None:
        def open_socket() -> socket.socket:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
            sock.bind((interface, 0))
            sock.settimeout(0.1)
            return sock

        self.sock = in_thread_of(namespace, open_socket)
        self.segments: list[Segment] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                frame, address = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if address[2] == socket.PACKET_OUTGOING or len(frame) < 34 or frame[23] != 6:
                continue
            ihl = (frame[14] & 0x0F) * 4
            total = struct.unpack_from("!H", frame, 16)[0]
            tcp = 14 + ihl
            sport, dport = struct.unpack_from("!HH", frame, tcp)
            offset = (frame[tcp + 12] >> 4) * 4
            self.segments.append(
                Segment(
                    socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34]),
                    sport, dport, frame[tcp + 13], total - ihl - offset,
                )
            )  # fmt: skip

    def stop(self) -> list[Segment]:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        return self.segments


# ---------------------------------------------------------------- HTTP on a client socket


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    length: int
    sha256: str
    body: bytes  # empty when the caller asked not to keep it


class HttpConnection:
    """A blocking HTTP/1.1 client on one socket: keep-alive, pipelining,
    bodies streamed through SHA-256."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError(f"connection closed with {len(self.buffer)} bytes buffered")
        self.buffer += chunk

    def read_response(self, keep_body: bool = True) -> Response:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        status = int(head[0].split(" ")[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        digest = hashlib.sha256()
        body = bytearray()
        left = length
        while left:
            if not self.buffer:
                self._fill()
            take = bytes(self.buffer[:left])
            del self.buffer[: len(take)]
            digest.update(take)
            if keep_body:
                body += take
            left -= len(take)
        return Response(status, headers, length, digest.hexdigest(), bytes(body))

    def close(self) -> None:
        """Half-close, wait for the server's FIN, then close: no RST either way."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
            while self.sock.recv(1 << 16):
                pass
        self.sock.close()


def get(path: str, **headers: str) -> bytes:
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return f"GET {path} HTTP/1.1\r\nHost: vip\r\n{extra}\r\n".encode()


def post_head(path: str, length: int, **headers: str) -> bytes:
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return f"POST {path} HTTP/1.1\r\nHost: vip\r\nContent-Length: {length}\r\n{extra}\r\n".encode()


def body_chunks(length: int, seed: int, chunk: int = 1 << 16) -> Iterator[bytes]:
    """Deterministic pseudo-random upload data (SHA-256 counter mode)."""
    block = 0
    sent = 0
    while sent < length:
        out = bytearray()
        while len(out) < chunk:
            out += hashlib.sha256(struct.pack("!QQ", seed, block)).digest()
            block += 1
        piece = bytes(out[: min(chunk, length - sent)])
        sent += len(piece)
        yield piece


def body_sha256(length: int, seed: int) -> str:
    digest = hashlib.sha256()
    for piece in body_chunks(length, seed):
        digest.update(piece)
    return digest.hexdigest()


# ---------------------------------------------------------------- pytest fixtures


@pytest.fixture(name="e2e_lab", scope="module")
def e2e_lab_fixture() -> Iterator[E2ELab]:
    """One lab per test module (building it takes a few seconds)."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    lab = E2ELab().start()
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture(name="e2e")
def e2e_fixture(e2e_lab: E2ELab) -> Iterator[E2ELab]:
    """The module's lab, given back clean: the test's flows are released and
    the classifier's policy and settings reset, pass or fail."""
    classifier = e2e_lab.classifier
    assert classifier is not None
    yield e2e_lab
    e2e_lab.release_flows()
    classifier.policy = header_policy
    classifier.settings = ClassifierSettings(keys=e2e_lab.keys)
