"""The migrator agent with an IPv6 connection, on the real kernel: the
classifier freezes an IPv6 connection and seals it, a dual-stack agent
(an IPv4 and an IPv6 back-end address) installs the ip6 decapsulation
mapping, restores the socket with TCP_REPAIR (AF_INET6) and hands it to the
application, which goes on with the conversation: 2 MB each way, checked
with SHA-256, and no RST seen by the client."""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import threading
import time
from pathlib import Path

from handoff_samples import KEYS
from kernel_lab import VIP6, Lab, Reader, handoff_topology6, rst_count, rst_watch

from controller.agent.core import Agent, AgentConfig
from controller.agent.kernel import kernel_backends
from controller.handoff import tcprepair
from controller.handoff.agent_protocol import AgentClient, HandoffOutcome, Reply
from controller.handoff.blob import Handoff, Release, seal
from controller.handoff.handover import MigratedSocketListener
from controller.handoff.nft import FlowLock, Nft

FORWARDER6 = "2001:db8:3::fe"
BACKEND6 = "2001:db8:3::11"
BACKEND4 = "10.0.3.11"  # the same host's IPv4 address; unused by this flow


def test_dual_stack_agent_moves_a_live_ipv6_connection(lab: Lab, tmp_path: Path) -> None:
    ns = handoff_topology6(lab)
    rst = rst_watch(lab, ns["client"])
    app_path = str(tmp_path / "app.sock")
    rng = random.Random(6)
    upload, download = rng.randbytes(2 << 20), rng.randbytes(2 << 20)
    ready: list[tuple[Agent, int]] = []
    stop = threading.Event()

    def agent_thread() -> None:
        async def main() -> None:
            backends, adopted = kernel_backends([BACKEND4, BACKEND6], app_path)
            config = AgentConfig(
                forwarders=frozenset({FORWARDER6, "10.0.3.254"}), vips=frozenset({(VIP6, 80)})
            )
            agent = Agent(KEYS, backends, config)
            agent.adopt(adopted)
            _, port = await agent.start(BACKEND6, 0)
            ready.append((agent, port))
            while not stop.is_set():
                await asyncio.sleep(0.02)
            await agent.stop()

        with lab.enter(ns["backend"]):
            asyncio.run(main())

    served: dict[str, object] = {}

    def application(listener: MigratedSocketListener) -> None:
        try:
            sock, _ = listener.accept(timeout=10)
            with sock:
                served["family"] = sock.family
                served["request"] = sock.recv(1000)
                reader = Reader(sock, len(upload))
                reader.start()
                sock.sendall(download)
                served["upload"] = reader.result(30)
        except BaseException as exc:
            served["error"] = exc

    listener = MigratedSocketListener(app_path)
    app = threading.Thread(target=application, args=(listener,), daemon=True)
    app.start()
    agent_runner = threading.Thread(target=agent_thread, daemon=True)
    agent_runner.start()
    try:
        deadline = time.monotonic() + 10
        while not ready and time.monotonic() < deadline and agent_runner.is_alive():
            time.sleep(0.02)
        agent, port = ready[0]

        front = lab.socket_in(ns["classifier"], family=socket.AF_INET6)
        front.bind((VIP6, 80))
        front.listen()
        client = lab.socket_in(ns["client"], family=socket.AF_INET6)
        client.settimeout(30)
        client.connect((VIP6, 80))
        request = b"GET /moved HTTP/1.1\r\nHost: vip6\r\n\r\n"
        client.sendall(request)
        conn, peer6 = front.accept()
        peer = (peer6[0], peer6[1])
        already_read = conn.recv(len(request), socket.MSG_WAITALL)
        with lab.enter(ns["classifier"]):
            lock = FlowLock(Nft())
        lock.setup()
        flow_id = 0x00070008
        sealed = {"flow_id": flow_id, "forwarder_ip": FORWARDER6, "keys": KEYS}
        with lock.held(peer, (VIP6, 80)):
            state = tcprepair.freeze(conn, already_read=already_read)
            blob = seal(Handoff(flow_id, FORWARDER6, state), KEYS)

            async def send() -> tuple[HandoffOutcome, Reply]:
                async with AgentClient(BACKEND6, port) as agent_client:
                    outcome = await agent_client.hand_off(blob, timeout=5, **sealed)
                    assert outcome.ready and outcome.certain, outcome.detail
                    # The route stands in for the switch entry, written between the phases.
                    lab.ip(ns["router"], "-6", "route", "replace", f"{VIP6}/128", "via", BACKEND6)
                    return outcome, await agent_client.commit(blob, timeout=5, **sealed)

            with lab.enter(ns["classifier"]):
                _, committed = asyncio.run(send())
            assert committed.ok, committed
            tcprepair.close_silently(conn)

        decap_map = ("nft", "list", "map", "ip6", "p4handoff_decap", "flow_index")
        listing = lab.sh(ns["backend"], *decap_map)
        assert f"{FORWARDER6} . {BACKEND6} . 7 . 8" in listing
        client_reader = Reader(client, len(download))
        client_reader.start()
        client.sendall(upload)
        assert client_reader.result(30) == hashlib.sha256(download).hexdigest()
        app.join(30)
        assert "error" not in served, served
        assert served["family"] == socket.AF_INET6 and served["request"] == request
        assert served["upload"] == hashlib.sha256(upload).hexdigest()
        assert agent.live_flows() == {(FORWARDER6, flow_id): (peer[0], peer[1], VIP6, 80)}

        async def release() -> Reply:
            async with AgentClient(BACKEND6, port) as agent_client:
                return await agent_client.request(seal(Release(flow_id, FORWARDER6), KEYS), 5)

        with lab.enter(ns["classifier"]):
            assert asyncio.run(release()).ok
        assert agent.live_flows() == {}
        assert FORWARDER6 not in lab.sh(ns["backend"], *decap_map)
        assert rst_count(rst) == 0
        for sock in (client, front):
            sock.close()
    finally:
        stop.set()
        agent_runner.join(10)
        listener.close()
