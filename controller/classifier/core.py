"""`handoff classifier`: accepts connections on a VIP and hands each to a back-end.

For every connection the classifier reads the first request bytes (no more
than the policy's size limit, no longer than its time limit), lets the
policy pick a back-end among those whose agents answer heartbeats, and then
moves the live connection there, in the order of docs/blob-format.md "One
handoff, message by message":

    a flow id -> lock the 4-tuple -> freeze (TCP_REPAIR) -> sealed handoff
    to the back-end's agent, and InstallFlow alongside it -> once the agent
    is "ready" and the entry written: sealed commit (not waited for) ->
    close the frozen copy silently -> unlock

The flow id comes from a block the controller leased to this classifier
(controller.classifier.flow_ids: LeaseFlowIds, no round trip per handoff);
the InstallFlow that writes the switch entry names the connection, which
binds the leased id to it. A controller without leases gets AllocateFlow.

The agent restores the connection before it answers "ready" but gives it to
the application only on the commit, which leaves once the switch steers the
client's packets to the back-end: whatever the client sends after the
application's first answer (its ACK, its FIN, the next request) reaches the
back-end, not the lock here. The switch write does not wait for "ready":
until the commit the back-end has no decapsulation mapping for the flow and
drops the client's segments silently (the client retransmits them), so a
ready socket never acknowledges a byte the frozen copy here would not have.
"Decision to the application holding the socket" (`decision_to_handover`)
is therefore the longer of the agent's restore and the switch write, plus
the commit.

Anything that fails before the agent's "ready" leaves the connection here and
usable: the flow id is given back (RemoveFlow, which also deletes the switch
entry if it was written; only then does the client's next segment come here
again), the socket is unlocked and thawed, and the client gets a clean
answer, an HTTP 503 (or a FIN, as the policy's `on_no_match` says; non-HTTP
requests always get the FIN). A request that matches no rule gets the same
answer straight away; nothing ever waits for a client that sends nothing.
When an agent's answer was lost and the abort could not settle the outcome
either, the connection is still ours (the agent hands a socket over, and
lets the client's segments reach it, only on a commit): the flow is given
back with a release for the agent, and the connection is thawed and
answered. When the switch entry cannot be written, the ready copy on the
back-end is aborted and the connection is dropped (the entry may exist
after all, and would steer the client's segments away from a thawed copy).

The kernel steps (controller.handoff.nft.FlowLock, controller.handoff.tcprepair)
and the controller's API reach the classifier through `Kernel`
(controller.classifier.kernel) and `ControllerApi`
(controller.classifier.controller_client), so tests can run it with fakes;
controller.classifier.main wires the real ones, and
controller.classifier.service serves its gRPC API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from controller.classifier.agent_pool import AgentPool
from controller.classifier.controller_client import ControllerApi, ControllerError, FlowRef
from controller.classifier.flow_ids import FlowIds
from controller.classifier.kernel import RELEASE_HOLD_S, Endpoint, Kernel
from controller.classifier.policy import Policy, load_policy
from controller.classifier.recent import RecentHandoffs, TracingLatencyLog, note_flow
from controller.classifier.request import Request, RequestIncomplete, parse_request
from controller.handoff import tcprepair
from controller.handoff.agent_protocol import AgentError
from controller.handoff.blob import Handoff, seal
from controller.handoff.keys import Keyring
from controller.handoff.nft import NftError
from controller.handoff.stats import LATENCY_BUCKETS, stats_response
from controller.proto import handoff_pb2 as pb

log = logging.getLogger("p4handoff.classifier")

_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


@dataclass(frozen=True)
class Settings:
    name: str
    vip: Endpoint
    agent_timeout_s: float = 2.0
    # Dual stack: the VIP's IPv6 address and port, listened on as well.
    vip6: Endpoint | None = None
    abort_timeout_s: float = 2.0
    # An agent that certainly failed (refused the connection or the blob,
    # answered an error): the frozen connection goes to another back-end of
    # the same pool, at most this many more times, before the 503.
    agent_retries: int = 2
    # After the agent's "ready", InstallFlow is retried this long (a controller
    # restart or a backup taking over answers UNAVAILABLE for a moment). The
    # commit must reach the agent before its commit timeout (default 15 s).
    install_deadline_s: float = 10.0
    drain_s: float = 5.0  # reading what the client still sends after our answer
    refresh_s: float = 1.0  # least-connections counts from the controller
    backlog: int = 1024


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.connections = Counter(
            "p4handoff_classifier_connections",
            "Connections accepted, by how they ended here",
            ["outcome"],
            registry=registry,
        )
        self.retries = Counter(
            "p4handoff_classifier_agent_retries",
            "Handoffs sent to another back-end of the pool after an agent certainly failed",
            registry=registry,
        )
        self.in_progress = Gauge(
            "p4handoff_classifier_in_progress", "Connections being read or handed off",
            registry=registry,
        )  # fmt: skip
        self.steps = Histogram(
            "p4handoff_classifier_step_seconds",
            "Durations of the handoff steps (decision_to_handover: policy decision to the "
            "application holding the socket)",
            ["step"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


class Classifier:
    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        backends: Mapping[str, str],
        agents: AgentPool,
        controller: ControllerApi,
        keys: Keyring,
        kernel: Kernel,
        *,
        registry: CollectorRegistry | None = None,
        backends6: Mapping[str, str] | None = None,
    ) -> None:
        """`backends`: back-end name -> address (the flow's tunnel destination);
        `backends6`: the same for IPv6 connections (dual stack)."""
        self.settings = settings
        self.policy = policy
        self.backends = dict(backends)
        self.backends6 = dict(backends6 or {})
        self.agents = agents
        self.controller = controller
        self.keys = keys
        self.kernel = kernel
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = _Metrics(self.registry)
        self.latencies = TracingLatencyLog(self.metrics.steps)
        self.recent = RecentHandoffs()  # per connection, for `handoff trace`
        self.flow_ids = FlowIds(controller, settings.name)
        # leased flow -> (client, VIP) its InstallFlow binds it to
        self._leased: weakref.WeakKeyDictionary[FlowRef, tuple[Endpoint, Endpoint]] = (
            weakref.WeakKeyDictionary()
        )
        self._listener: socket.socket | None = None
        self._listener6: socket.socket | None = None
        self.bound6: Endpoint | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._background: list[asyncio.Task[None]] = []
        self._flush: asyncio.TimerHandle | None = None  # of the queued lock releases

    # ------------------------------------------------------------ life cycle

    async def start(self) -> Endpoint:
        """Listen on the VIP; returns the bound address (port 0 picks one)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(self.settings.vip)
        listener.listen(self.settings.backlog)
        listener.setblocking(False)
        self._listener = listener
        bound: Endpoint = listener.getsockname()[:2]
        self._background = [
            asyncio.create_task(self._accept(listener)),
            asyncio.create_task(self._refresh_active()),
        ]
        log.info("classifier %s listening on %s:%d", self.settings.name, *bound)
        if self.settings.vip6 is not None:
            listener6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            listener6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            listener6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener6.bind(self.settings.vip6)
            listener6.listen(self.settings.backlog)
            listener6.setblocking(False)
            self._listener6 = listener6
            self.bound6 = listener6.getsockname()[:2]
            self._background.append(asyncio.create_task(self._accept(listener6)))
            log.info("classifier %s listening on [%s]:%d", self.settings.name, *self.bound6)
        return bound

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for listening in (self._listener, self._listener6):
            if listening is not None:
                listening.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.settings.agent_timeout_s * 3)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    def reload_policy(self) -> Policy:
        """Read the policy file again; raises PolicyError and keeps the old one."""
        self.policy = load_policy(self.policy.source, self.backends.keys())
        log.info("policy %s reloaded", self.policy.source)
        return self.policy

    # ------------------------------------------------------------ connections

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, peer = await loop.sock_accept(listener)
            except OSError as exc:
                log.warning("accept failed: %s", exc)
                await asyncio.sleep(0.05)
                continue
            task = asyncio.create_task(self._connection(conn, peer[:2]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _connection(self, conn: socket.socket, peer: Endpoint) -> None:
        self.metrics.in_progress.inc()
        accepted = time.perf_counter()
        outcome = "error"
        trace = self.recent.begin(peer, conn.getsockname()[:2])
        try:
            policy = self.policy
            read = await self._read_request(conn, peer[0], policy)
            if read is None:
                outcome = "nothing_sent"
                conn.close()
                return
            data, request = read
            self.latencies.add("read", time.perf_counter() - accepted)
            decision = policy.decide(request, self.agents.live())
            trace.decided(request, decision)
            if decision.backend is None or decision.pool is None:
                outcome = "no_match"
                await self._answer(conn, request, policy, "no back-end for this request")
                return
            policy.pools[decision.pool].opened(decision.backend.name)
            outcome = await self._hand_off(
                conn, peer, data, request, policy, decision.backend.name, decision.pool
            )
        except Exception:
            log.exception("connection from %s:%d failed", *peer)
            conn.close()
        finally:
            self.metrics.connections.labels(outcome).inc()
            self.metrics.in_progress.dec()
            trace.finish(outcome)

    async def _read_request(
        self, conn: socket.socket, client_ip: str, policy: Policy
    ) -> tuple[bytes, Request] | None:
        """The first bytes, parsed as far as they go. An HTTP head that is not
        complete within the limits is matched as raw bytes (so HTTP rules miss
        and the client is answered); None when the client sent nothing."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + policy.read_timeout_s
        data = b""
        while len(data) < policy.read_limit_bytes:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    chunk = await loop.sock_recv(conn, policy.read_limit_bytes - len(data))
            except TimeoutError:
                break
            except OSError:
                return None
            if not chunk:
                break
            data += chunk
            try:
                return data, parse_request(data, client_ip)
            except RequestIncomplete:
                continue
        if not data:
            return None
        return data, Request(data=data, client_ip=client_ip)

    async def _hand_off(
        self,
        conn: socket.socket,
        peer: Endpoint,
        data: bytes,
        request: Request,
        policy: Policy,
        backend: str,
        pool: str | None = None,
    ) -> str:
        vip: Endpoint = conn.getsockname()[:2]
        decided = time.perf_counter()
        try:
            flow, leased = await self.flow_ids.take(peer, vip, self._address_of(backend, vip))
        except (ControllerError, KeyError) as exc:
            log.warning("no flow id for %s:%d -> %s: %s", *peer, backend, exc)
            await self._answer(conn, request, policy, "no flow id from the controller")
            return "no_flow_id"
        allocated = time.perf_counter()
        if leased:  # InstallFlow binds the leased id to this connection
            self._leased[flow] = (peer, vip)
        note_flow(flow, vip)
        self.latencies.add("allocate", allocated - decided)
        try:
            self.kernel.lock(peer, vip)
        except NftError as exc:
            log.error("locking %s:%d failed: %s", *peer, exc)
            await self._give_back(flow, f"lock failed: {exc}", release_agent=False)
            await self._answer(conn, request, policy, "handoff failed")
            return "lock_failed"
        try:
            state = self.kernel.freeze(conn, data)  # thawed again if it fails
        except tcprepair.RepairError as exc:
            log.warning("freezing %s:%d failed: %s", *peer, exc)
            self._unlock(peer, vip)
            await self._give_back(flow, f"freeze failed: {exc}", release_agent=False)
            await self._answer(conn, request, policy, "handoff failed")
            return "freeze_failed"
        frozen = time.perf_counter()
        self.latencies.add("freeze", frozen - allocated)
        blob = seal(Handoff(flow.flow_id, flow.forwarder, state), self.keys)
        install = self._start_install(flow, frozen - decided)
        outcome = await self.agents.client(backend).hand_off(
            blob,
            flow_id=flow.flow_id,
            forwarder_ip=flow.forwarder,
            keys=self.keys,
            timeout=self.settings.agent_timeout_s,
            abort_timeout=self.settings.abort_timeout_s,
        )
        tried = {backend}
        while not outcome.ready and outcome.certain and len(tried) <= self.settings.agent_retries:
            # Nothing reached the back-end's application and no switch entry
            # was written: the connection, still frozen and locked (the
            # client's segments meanwhile are dropped and retransmitted
            # later), goes to another back-end of the pool with the same state.
            if outcome.reply is None:
                self.agents.unreachable(backend, outcome.detail)
            choices = policy.pools.get(pool) if pool is not None else None
            chosen = choices.choose(request, self.agents.live() - tried) if choices else None
            if choices is None or chosen is None:
                break
            try:
                taken = await self.flow_ids.take(peer, vip, self._address_of(chosen.name, vip))
            except (ControllerError, KeyError) as exc:
                log.warning("no flow id for %s:%d -> %s: %s", *peer, chosen.name, exc)
                break
            retry, retry_leased = taken
            log.warning(
                "handoff of %s:%d to %s failed (%s); trying %s", *peer, backend, outcome.detail,
                chosen.name,
            )  # fmt: skip
            self.metrics.retries.inc()
            # One entry per connection: the first goes before the next is written.
            await self._call_off(install, flow, f"agent_failed: {outcome.detail}", False)
            choices.opened(chosen.name)
            backend, flow = chosen.name, retry
            tried.add(backend)
            if retry_leased:
                self._leased[flow] = (peer, vip)
            note_flow(flow, vip)
            blob = seal(Handoff(flow.flow_id, flow.forwarder, state), self.keys)
            install = self._start_install(flow, time.perf_counter() - decided)
            outcome = await self.agents.client(backend).hand_off(
                blob,
                flow_id=flow.flow_id,
                forwarder_ip=flow.forwarder,
                keys=self.keys,
                timeout=self.settings.agent_timeout_s,
                abort_timeout=self.settings.abort_timeout_s,
            )
        ready = time.perf_counter()
        self.latencies.add("agent", ready - frozen)
        if outcome.ready:
            self.latencies.add("decision_to_ready", ready - decided)
            return await self._switch_over(
                conn, peer, vip, backend, flow, blob, install, decided, frozen
            )
        if outcome.reply is None:
            self.agents.unreachable(backend, outcome.detail)
        # Even when the agent's answer is unknown the connection is still
        # ours: an agent hands a restored socket to its application, and
        # installs the mapping that lets the client's segments reach it, only
        # on a commit, withdrawing it silently on release or when its commit
        # timeout passes. The switch entry goes first, so that the client's
        # segments come here again.
        log.warning(
            "handoff of %s:%d to %s %s (%s); serving it here", *peer, backend,
            "failed" if outcome.certain else "unsettled", outcome.detail,
        )  # fmt: skip
        await self._call_off(install, flow, f"agent_failed: {outcome.detail}",
                             release_agent=not outcome.certain)  # fmt: skip
        self._unlock(peer, vip)  # before the thaw, whose window probe must get out
        self.kernel.thaw(conn)
        await self._answer(conn, request, policy, "handoff failed")
        return "recovered" if outcome.certain else "recovered_unsettled"

    async def _switch_over(
        self,
        conn: socket.socket,
        peer: Endpoint,
        vip: Endpoint,
        backend: str,
        flow: FlowRef,
        blob: bytes,
        install: asyncio.Task[bool],
        decided: float,
        frozen: float,
    ) -> str:
        """The back-end holds the restored connection: once the switch steers
        the client there, commit and let go of the frozen copy."""
        agent = self.agents.client(backend)
        installed = await install
        entry = time.perf_counter()
        self.latencies.add("install", entry - frozen)
        if not installed:
            undone = await agent.abort(
                blob, flow_id=flow.flow_id, forwarder_ip=flow.forwarder, keys=self.keys,
                timeout=self.settings.abort_timeout_s,
            )  # fmt: skip
            log.error(
                "no switch entry for %s:%d: handoff to %s aborted (%s), connection dropped",
                *peer, backend, undone.detail,
            )  # fmt: skip
            self.kernel.close_silently(conn)
            self._unlock(peer, vip)
            await self._give_back(flow, "install failed", release_agent=not undone.certain)
            return "install_failed"
        committing = agent.commit(
            blob, flow_id=flow.flow_id, forwarder_ip=flow.forwarder, keys=self.keys,
            timeout=self.settings.agent_timeout_s,
        )  # fmt: skip
        commit = asyncio.ensure_future(committing)
        await asyncio.sleep(0)  # the commit's frame leaves before the kernel work below
        self.kernel.close_silently(conn)
        self._release_lock(peer, vip)
        self.latencies.add("decision_to_switchover", time.perf_counter() - decided)
        try:
            reply = await commit
        except AgentError as exc:
            why = str(exc)
        else:
            if reply.ok:
                handed = time.perf_counter()
                self.latencies.add("commit", handed - entry)
                self.latencies.add("decision_to_handover", handed - decided)
                return "handed_off"
            why = reply.reason
        # The switch steers the client to a back-end whose application never
        # got the socket (the agent closes it silently when its commit
        # timeout passes): the connection is lost.
        log.error("commit of %s:%d to %s failed: %s", *peer, backend, why)
        await self._give_back(flow, f"commit failed: {why}", release_agent=True)
        return "commit_failed"

    def _start_install(self, flow: FlowRef, latency_s: float) -> asyncio.Task[bool]:
        """InstallFlow in the background, alongside the agent's restore."""
        return asyncio.create_task(self._install(flow, latency_s))

    async def _call_off(
        self, install: asyncio.Task[bool], flow: FlowRef, reason: str, release_agent: bool
    ) -> None:
        """Give back a flow whose handoff will not go on, deleting its entry
        if it was written. The InstallFlow is waited for, not cancelled: a
        cancelled one may still be written after the RemoveFlow, over the
        entry of the connection's next handoff."""
        await asyncio.shield(install)
        await self._give_back(flow, reason, release_agent)

    async def _install(self, flow: FlowRef, latency_s: float) -> bool:
        """InstallFlow, retried on UNAVAILABLE, all within the install deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.install_deadline_s
        delay = 0.05
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    try:
                        binding = self._leased.get(flow)
                        if binding is None:
                            await self.controller.install(flow, latency_s)
                        else:
                            await self.controller.install(flow, latency_s, binding)
                        return True
                    except ControllerError as exc:
                        if exc.code not in _RETRYABLE or loop.time() + delay > deadline:
                            log.error("InstallFlow of flow %#010x failed: %s", flow.flow_id, exc)
                            return False
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.5)
        except TimeoutError:
            log.error(
                "InstallFlow of flow %#010x: no answer within %g s", flow.flow_id,
                self.settings.install_deadline_s,
            )  # fmt: skip
            return False

    async def _give_back(self, flow: FlowRef, reason: str, release_agent: bool) -> None:
        binding = self._leased.get(flow)  # a leased id: the controller keeps the connection
        try:
            if binding is None:
                await self.controller.remove(flow, reason, release_agent)
            else:
                await self.controller.remove(flow, reason, release_agent, binding)
        except ControllerError as exc:
            # The controller gives back pending ids by itself after a while.
            log.warning("RemoveFlow of flow %#010x failed: %s", flow.flow_id, exc)

    def _release_lock(self, client: Endpoint, vip: Endpoint) -> None:
        """The lock of a connection handed over is kept RELEASE_HOLD_S, then
        goes with the next lock's transaction (controller.classifier.kernel),
        or with a flush when no handoff follows."""
        self.kernel.release(client, vip)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(RELEASE_HOLD_S, self._flush_locks)

    def _flush_locks(self) -> None:
        self._flush = None
        wait = self.kernel.flush()
        if wait is not None:
            self._flush = asyncio.get_running_loop().call_later(wait, self._flush_locks)

    def _unlock(self, client: Endpoint, vip: Endpoint) -> None:
        try:
            self.kernel.unlock(client, vip)
        except NftError as exc:
            log.error("unlocking %s:%d failed: %s", *client, exc)

    async def _answer(
        self, conn: socket.socket, request: Request, policy: Policy, why: str
    ) -> None:
        """503 (HTTP requests, unless the policy says close) or a plain FIN;
        then read what the client still sends, so closing sends no RST."""
        loop = asyncio.get_running_loop()
        try:
            if request.is_http and policy.on_no_match == "http-503":
                body = f"{why}\n".encode()
                head = (
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n"
                    f"X-Handoff-Classifier: {self.settings.name}\r\n\r\n"
                )
                await loop.sock_sendall(conn, head.encode() + body)
            conn.shutdown(socket.SHUT_WR)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.drain_s):
                    while await loop.sock_recv(conn, 1 << 16):
                        pass
        except OSError as exc:
            log.info("answering %s failed: %s", why, exc)
        finally:
            conn.close()

    def _address_of(self, backend: str, vip: Endpoint) -> str:
        """The back-end's address of the connection's family (the flow's
        tunnel destination); KeyError when it has none."""
        if ":" in vip[0]:
            if backend not in self.backends6:
                raise KeyError(f"back-end {backend} has no IPv6 address")
            return self.backends6[backend]
        return self.backends[backend]

    async def _refresh_active(self) -> None:
        """Least connections needs to see connections end, which only the
        controller knows: take its installed-flow counts periodically."""
        names = {address: name for name, address in self.backends.items()}
        names.update({address: name for name, address in self.backends6.items()})
        while True:
            await asyncio.sleep(self.settings.refresh_s)
            if not any(p.algorithm == "least_connections" for p in self.policy.pools.values()):
                continue  # no pool weighs them (a policy reload may add one)
            try:
                counts = await self.controller.installed_per_backend()
            except ControllerError:
                continue
            for pool in self.policy.pools.values():
                for backend in pool.backends:
                    pool.active[backend.name] = 0
                for address, count in counts.items():
                    name = names.get(address)
                    if name in pool.active:  # IPv4 and IPv6 flows of one back-end add up
                        pool.active[name] += count

    # ------------------------------------------------------------ reporting

    def stats(self) -> pb.StatsResponse:
        return stats_response(
            "classifier", self.settings.name, False, self.registry, self.latencies
        )

    def describe_policy(self) -> pb.PolicyResponse:
        policy = self.policy
        live = self.agents.live()
        try:
            text = Path(policy.source).read_text()
        except OSError:
            text = ""
        return pb.PolicyResponse(
            source=str(policy.source),
            text=text,
            on_no_match=policy.on_no_match,
            pools=[
                pb.Pool(
                    name=pool.name,
                    algorithm=pool.algorithm,
                    backends=[
                        pb.PoolBackend(
                            name=b.name,
                            weight=b.weight,
                            live=b.name in live,
                            active=pool.active.get(b.name, 0),
                        )
                        for b in pool.backends
                    ],
                )
                for pool in policy.pools.values()
            ],
        )
