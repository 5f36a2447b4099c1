"""Fault injection on a whole lab as `handoff lab up` builds it (tests/system/test_faults.py).

`FaultLab` is the lab harness (controller.lab.session.LabSession: the basic
topology as `handoff lab up` builds it, with e2e_support.PIN_POLICY, so a
request picks its back-end with `X-Handoff-To`) plus the leak assertions of
these tests over the harness's three reads — encap_map entries on the switch
(P4Runtime Read), decapsulation mappings in each back-end (nft), flows the
controller still holds. Here: impairing a host's link, and clients that
record what each of them saw.

`LinkImpairment` is `tc netem` where the kernel has it. Kernels built without
sch_netem (the one these tests were written on among them) get the same three faults from
what they do have: a random share of frames dropped by a blackhole qdisc,
another held in a slow HTB class (so later frames overtake them: reordering
with a few milliseconds of delay), and an nftables `dup` for duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from e2e_support import PIN_HEADER, body_chunks, body_sha256, get, post_head
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from controller.examples.demo_backend import pattern_sha256
from controller.lab.lab import AGENT_PORT
from controller.lab.netns import in_netns, run
from controller.lab.session import LabSession, call_in, run_async_in, wait_for

START_TIMEOUT_S = 30.0


class FaultLab(LabSession):
    """The harness's lab with the leak checks of the fault tests."""

    def backend_by_port(self) -> dict[int, str]:
        """Client port -> the back-end its latest flow went to (ended flows too)."""
        flows = sorted(self.flows(include_ended=True), key=lambda f: f.created_at)
        return {f.connection.client_port: f.backend_name for f in flows}

    def settle(self, timeout: float = 15.0) -> None:
        """Let the flows of a test end; end through the controller those a
        failed (or expected-to-fail) test left held, so the next test starts
        from nothing."""
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not self.leaks(), timeout, "the flows to end")
        self.end_flows({f.client_port for f in self.held_flows()}, "test cleanup")

    def assert_nothing_leaked(self, timeout: float = 20.0, idle: Collection[int] = ()) -> None:
        """Once every connection has ended: no encap_map entry, no
        decapsulation mapping, no flow id out of quarantine — within the
        controller's end grace (2 s, twice if packets still came) and the
        agents' release round trip. Connections of the client ports in `idle`
        ended without the switch seeing a FIN or RST from the client: theirs
        go when their entries' idle timeout fires, which must be set."""
        deadline = time.monotonic() + timeout
        while (left := self.leaks().without(set(idle))) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert not left, f"left behind after every connection ended: {left}"
        waiting = [e for e in self.switch_entries() if e.client_port in idle]
        assert all(e.idle_timeout_ns > 0 for e in waiting), [str(e) for e in waiting]


# ---------------------------------------------------------------- impaired links


@dataclass(frozen=True)
class Impairment:
    loss_pct: float = 1.0
    duplicate_pct: float = 1.0
    reorder_pct: float = 25.0
    delay_ms: float = 5.0

    def __str__(self) -> str:
        return (f"loss {self.loss_pct:g}% duplicate {self.duplicate_pct:g}% "
                f"reorder {self.reorder_pct:g}% delay {self.delay_ms:g} ms")  # fmt: skip


def netem_available() -> bool:
    """Whether this kernel has sch_netem (tried on a veth in a scratch namespace)."""
    probe = f"fltnetem{os.getpid()}"
    run(["ip", "netns", "add", probe])
    try:
        run(in_netns(probe, ["ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1"]))
        done = run(in_netns(probe, ["tc", "qdisc", "add", "dev", "d0", "root", "netem",
                                    "delay", "1ms"]), check=False)  # fmt: skip
        return done.returncode == 0
    finally:
        run(["ip", "netns", "del", probe], check=False)


_SKF_AD_RANDOM = 0xFFFFF000 + 56  # classic BPF ancillary load: a random u32


def _random_share(pct: float, classid: int) -> str:
    """Classic BPF for cls_bpf: class `classid` for a random `pct` % of frames."""
    threshold = min(int(pct / 100 * (1 << 32)), (1 << 32) - 1)
    # ld rand; jge threshold -> no match; ret classid; ret 0 (no match)
    return f"4,32 0 0 {_SKF_AD_RANDOM},53 1 0 {threshold},6 0 0 {classid},6 0 0 0"


@dataclass(frozen=True)
class ImpairmentStats:
    """What the impairment did to the frames it saw (None: netem does not say)."""

    dropped: int
    duplicated: int | None
    delayed: int | None


class LinkImpairment:
    """Loss, duplication and reordering on what one host sends on its eth0."""

    TABLE = "fault_impair"

    def __init__(self, lab: FaultLab, host: str, impairment: Impairment, *, netem: bool) -> None:
        self.namespace = lab.ns(host)
        self.gateway = str(lab.topology.host(host).gateway)
        gateway6 = lab.topology.host(host).gateway6
        self.gateway6 = None if gateway6 is None else str(gateway6)
        self.impairment = impairment
        self.netem = netem

    def _tc(self, *argv: str) -> str:
        return run(in_netns(self.namespace, ["tc", *argv])).stdout

    def __str__(self) -> str:
        how = "tc netem" if self.netem else "tc htb/bpf/blackhole + nft dup (no sch_netem here)"
        return f"{how}: {self.impairment}"

    def __enter__(self) -> LinkImpairment:
        i = self.impairment
        if self.netem:
            # netem sends reorder_pct % of the frames at once, ahead of the
            # others, which wait delay_ms.
            self._tc("qdisc", "add", "dev", "eth0", "root", "netem", "delay", f"{i.delay_ms}ms",
                     "reorder", f"{i.reorder_pct}%", "loss", f"{i.loss_pct}%",
                     "duplicate", f"{i.duplicate_pct}%")  # fmt: skip
            return self
        try:
            self._emulate(i)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _emulate(self, i: Impairment) -> None:
        # Class 1:10 sends at once; 1:20 (slow) sends a full frame per tenth
        # of delay_ms, so its frames are overtaken: one alone is late by that,
        # one behind a burst by up to delay_ms and more; 1:30 drops silently
        # (a blackhole tells the sender nothing, like a lost frame).
        slow_rate = int(1514 * 8 / (i.delay_ms / 10_000))
        tc = self._tc
        tc("qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb", "default", "10")
        for classid, rate in (("1:10", "10gbit"), ("1:30", "10gbit")):
            tc("class", "add", "dev", "eth0", "parent", "1:", "classid", classid, "htb",
               "rate", rate, "quantum", "60000")  # fmt: skip
        tc("class", "add", "dev", "eth0", "parent", "1:", "classid", "1:20", "htb",
           "rate", f"{slow_rate}bit", "burst", "1514", "cburst", "1514")  # fmt: skip
        tc("qdisc", "add", "dev", "eth0", "parent", "1:20", "handle", "20:", "pfifo",
           "limit", "100")  # fmt: skip
        tc("qdisc", "add", "dev", "eth0", "parent", "1:30", "handle", "30:", "blackhole")
        for prio, pct, target in (("1", i.loss_pct, 0x10030), ("2", i.reorder_pct, 0x10020)):
            tc("filter", "add", "dev", "eth0", "parent", "1:", "prio", prio, "bpf", "bytecode",
               _random_share(pct, target))  # fmt: skip
        # Duplicates of IPv4 frames in the ip table, of IPv6 frames (a
        # dual-stack host) in the ip6 one.
        gateways = [("ip", self.gateway)]
        if self.gateway6 is not None:
            gateways.append(("ip6", self.gateway6))
        for family, gateway in gateways:
            t = f"{family} {self.TABLE}"
            nft_script(self.namespace, [
                f"add table {t}",
                f"add counter {t} duplicated",
                f"add chain {t} out {{ type filter hook postrouting priority 0; }}",
                f'add rule {t} out oifname "eth0" numgen random mod 10000 < '
                f'{int(i.duplicate_pct * 100)} counter name "duplicated" dup to {gateway}'
                ' device "eth0"',
            ])  # fmt: skip

    def stats(self) -> ImpairmentStats:
        qdiscs = json.loads(self._tc("-s", "-j", "qdisc", "show", "dev", "eth0"))
        if self.netem:
            (netem,) = [q for q in qdiscs if q["kind"] == "netem"]
            return ImpairmentStats(netem["drops"], None, None)
        by_handle = {q["handle"]: q for q in qdiscs}
        return ImpairmentStats(
            dropped=by_handle["30:"]["drops"],
            duplicated=sum(
                nft_counter(self.namespace, self.TABLE, "duplicated", family)
                for family in (("ip", "ip6") if self.gateway6 is not None else ("ip",))
            ),
            delayed=by_handle["20:"]["packets"],
        )

    def __exit__(self, *exc: object) -> None:
        run(in_netns(self.namespace, ["tc", "qdisc", "del", "dev", "eth0", "root"]), check=False)
        for family in ("ip", "ip6"):
            run(in_netns(self.namespace, ["nft", "delete", "table", family, self.TABLE]),
                check=False)  # fmt: skip


def nft_script(namespace: str, lines: list[str]) -> None:
    """Apply nft commands in `namespace` as one transaction."""
    done = subprocess.run(in_netns(namespace, ["nft", "-f", "-"]), input="\n".join(lines) + "\n",
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, f"nft in {namespace}: {done.stderr}"


def nft_counter(namespace: str, table: str, name: str, family: str = "ip") -> int:
    done = run(in_netns(namespace, ["nft", "-j", "list", "counter", family, table, name]))
    for item in json.loads(done.stdout)["nftables"]:
        if "counter" in item:
            packets: int = item["counter"]["packets"]
            return packets
    raise AssertionError(f"no counter {name} in table {table} of {namespace}")


def nft_set_elements(namespace: str, table: str, name: str, family: str = "ip") -> list[str]:
    """The connections in a set of `address . port . address . port`
    elements, as `address:port -> address:port`."""
    done = run(in_netns(namespace, ["nft", "-j", "list", "set", family, table, name]))
    for item in json.loads(done.stdout)["nftables"]:
        if "set" in item:
            shown = []
            for element in item["set"].get("elem", []):
                value = element["elem"]["val"] if "elem" in element else element
                src, sport, dst, dport = value["concat"]
                shown.append(f"{src}:{sport} -> {dst}:{dport}")
            return shown
    raise AssertionError(f"no set {name} in table {table} of {namespace}")


# ---------------------------------------------------------------- clients


@dataclass(frozen=True)
class Exchange:
    """One client connection: an upload (POST /sha256) then a download
    (GET /bytes/N) on the same keep-alive connection, then a clean close."""

    upload: int = 64 * 1024
    download: int = 64 * 1024
    backend: str | None = None  # pin it (X-Fault-Backend), else round robin
    seed: int = 0
    pause_s: float = 0.0  # between the two requests: the connection idles, handed off
    hold: threading.Event | None = None  # and, if given, until this is set


@dataclass(frozen=True)
class Outcome:
    """What one client saw. `kind`: ok (every byte right), wrong_bytes,
    refused (a clean HTTP error answer, e.g. the classifier's 503), closed
    (FIN before an answer), reset, timeout (no answer in time: a hang)."""

    kind: str
    backend: str = ""
    status: int = 0
    detail: str = ""
    seconds: float = 0.0
    client_port: int = 0


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], str, bytes]:
    """Status, headers, SHA-256 of the body and the body itself when short."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ")[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if status == 100:
        return await _response(reader)
    length = int(headers.get("content-length", "0"))
    digest = hashlib.sha256()
    short = bytearray()
    while length:
        chunk = await reader.read(min(length, 1 << 16))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", length)
        digest.update(chunk)
        if len(short) < 4096:
            short += chunk[: 4096 - len(short)]
        length -= len(chunk)
    return status, headers, digest.hexdigest(), bytes(short)


@dataclass
class _Seen:
    port: int = 0
    backend: str = ""
    status: int = 0


async def exchange(
    vip: tuple[str, int],
    plan: Exchange,
    timeout: float,
    first_answer: Callable[[], None] = lambda: None,
) -> Outcome:
    """Run `plan` on a new connection to `vip`; never raises, never takes
    longer than `timeout` (then the outcome is a timeout). `first_answer` is
    called when the first response head arrived: the handoff is over."""
    started = time.monotonic()
    seen = _Seen()
    writer: asyncio.StreamWriter | None = None

    def outcome(kind: str, detail: str = "") -> Outcome:
        return Outcome(kind, seen.backend, seen.status, detail, time.monotonic() - started,
                       seen.port)  # fmt: skip

    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(*vip)
            seen.port = writer.get_extra_info("sockname")[1]
            kind, detail = await _converse(reader, writer, plan, seen, first_answer)
            return outcome(kind, detail)
    except TimeoutError:
        if writer is not None:
            _give_up(writer)
        return outcome("timeout", f"no answer within {timeout:g} s")
    except ConnectionResetError as exc:
        return outcome("reset", str(exc))
    except (asyncio.IncompleteReadError, OSError) as exc:
        return outcome("closed", f"{type(exc).__name__}: {exc}")
    finally:
        if writer is not None:
            writer.close()


def _give_up(writer: asyncio.StreamWriter) -> None:
    """Reset the connection, as a client that stops waiting does: nothing of
    it (a FIN retransmitted for minutes) reaches a later test."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _converse(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    plan: Exchange,
    seen: _Seen,
    first_answer: Callable[[], None],
) -> tuple[str, str]:
    pin = {PIN_HEADER.replace("-", "_"): plan.backend} if plan.backend else {}
    body = b"".join(body_chunks(plan.upload, seed=plan.seed))
    writer.write(post_head("/sha256", plan.upload, **pin) + body)
    seen.status, headers, _, answer = await _response(reader)
    first_answer()
    seen.backend = headers.get("x-backend", headers.get("x-handoff-classifier", ""))
    if seen.status != 200:
        await _close(reader, writer)
        return "refused", answer.decode(errors="replace").strip()
    # POST /sha256 answers with the hex digest of the body that arrived.
    uploaded_ok = answer.decode().strip() == body_sha256(plan.upload, seed=plan.seed)
    await asyncio.sleep(plan.pause_s)
    while plan.hold is not None and not plan.hold.is_set():
        await asyncio.sleep(0.01)
    writer.write(get(f"/bytes/{plan.download}"))
    seen.status, headers, digest, _ = await _response(reader)
    downloaded_ok = seen.status == 200 and digest == pattern_sha256(plan.download)
    await _close(reader, writer)
    if uploaded_ok and downloaded_ok:
        return "ok", ""
    return "wrong_bytes", f"upload digest right: {uploaded_ok}, download: {downloaded_ok}"


async def _close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, read to the server's FIN, close: no RST from our side."""
    writer.write_eof()
    while await reader.read(1 << 16):
        pass
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def clients(
    lab: FaultLab, plans: list[Exchange], timeout: float, vip: tuple[str, int] | None = None
) -> list[Outcome]:
    """Run every exchange at once from c1 to `vip` (the lab's, unless given:
    the IPv6 VIP, say); one Outcome per plan, in order."""
    target = vip or lab.vip

    async def everything() -> list[Outcome]:
        return list(await asyncio.gather(*(exchange(target, p, timeout) for p in plans)))

    return run_async_in(lab.ns("c1"), everything, timeout + 30)


class ClientBatch:
    """`clients` on a thread of its own, so the test can inject a fault while
    they run; `outcomes()` waits for them."""

    def __init__(
        self,
        lab: FaultLab,
        plans: list[Exchange],
        timeout: float,
        vip: tuple[str, int] | None = None,
    ) -> None:
        self._result: list[Outcome] = []
        self._error: BaseException | None = None
        self._timeout = timeout

        def body() -> None:
            try:
                self._result = clients(lab, plans, timeout, vip)
            except BaseException as exc:
                self._error = exc

        self._thread = threading.Thread(target=body, daemon=True)

    def __enter__(self) -> ClientBatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(self._timeout + 60)

    def outcomes(self) -> list[Outcome]:
        self._thread.join(self._timeout + 60)
        assert not self._thread.is_alive(), "the clients did not end"
        if self._error is not None:
            raise self._error
        return self._result


class ClientStream:
    """`workers` clients from c1 doing exchange after exchange until stopped,
    so a fault lands while connections are being handed off. `quiesce` holds
    new connections back until none is waiting for its first answer (so no
    handoff is in flight); `resume` lets them go again."""

    def __init__(
        self, lab: FaultLab, make: Callable[[int], Exchange], workers: int, timeout: float
    ) -> None:
        self.lab = lab
        self.make = make
        self.workers = workers
        self.timeout = timeout
        self.outcomes: list[tuple[float, Outcome]] = []  # (monotonic start, outcome)
        self._stop = threading.Event()
        self._open = threading.Event()
        self._open.set()
        self._unanswered = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._error: BaseException | None = None

    def __enter__(self) -> ClientStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._open.set()
        self._stop.set()
        self._thread.join(self.timeout + 30)

    def quiesce(self, timeout: float = 20.0) -> None:
        self._open.clear()
        wait_for(lambda: self._unanswered == 0, timeout, "every started handoff to settle")

    def resume(self) -> None:
        self._open.set()

    def stop(self) -> list[tuple[float, Outcome]]:
        self.__exit__()
        assert not self._thread.is_alive(), "the client stream did not end"
        if self._error is not None:
            raise self._error
        return self.outcomes

    def _run(self) -> None:
        counter = iter(range(1 << 30))

        async def one(index: int) -> None:
            started = time.monotonic()
            self._unanswered += 1
            answered = False

            def first_answer() -> None:
                nonlocal answered
                if not answered:
                    answered = True
                    self._unanswered -= 1

            outcome = await exchange(self.lab.vip, self.make(index), self.timeout, first_answer)
            first_answer()
            self.outcomes.append((started, outcome))

        async def worker() -> None:
            while not self._stop.is_set():
                if self._open.is_set():
                    await one(next(counter))
                else:
                    await asyncio.sleep(0.01)

        async def all_workers() -> None:
            await asyncio.gather(*(worker() for _ in range(self.workers)))

        try:
            run_async_in(self.lab.ns("c1"), all_workers, 3600)
        except BaseException as exc:
            self._error = exc


def unexpected(outcomes: list[Outcome], allowed: set[str]) -> list[Outcome]:
    return [o for o in outcomes if o.kind not in allowed]


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        key = f"{outcome.kind}:{outcome.backend or '-'}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


# ---------------------------------------------------------------- resets on the wire


class ResetWatch:
    """Counts the RSTs that matter, in the kernel (nft counters), so none is missed.

    On the client: RSTs that reach a connection before its server's FIN
    (`during`: the connection was broken) and after it (`after_fin`: a late
    duplicate or reordered segment reached a socket the server had already
    closed, which any TCP answers with a RST, handoff or not; the client has
    its whole answer by then). On the classifier: RSTs it sends (`classifier`),
    which for a handed-off connection can only come from the handoff. Those
    on its own connections to agents (`classifier_to_agents`: an agent killed
    with requests unread resets its end, and the classifier's end may answer
    what comes after) reach no client and are counted apart. `report` adds
    the connections those RSTs belonged to, for a failing test's message.
    """

    TABLE = "fault_resets"

    def __init__(
        self, lab: FaultLab, client: str = "c1", classifier: str = "k1", family: str = "ip"
    ) -> None:
        """`family` "ip6" watches IPv6 connections instead."""
        self.client, self.classifier = lab.ns(client), lab.ns(classifier)
        self.family = family
        t = f"{family} {self.TABLE}"
        key = f"{family} saddr . tcp sport . {family} daddr . tcp dport"
        addr = "ipv6_addr" if family == "ip6" else "ipv4_addr"
        connections = f"type {addr} . inet_service . {addr} . inet_service;"
        nft_script(self.client, [
            f"add table {t}",
            f"add set {t} finished {{ {connections} flags dynamic, timeout; timeout 5m; }}",
            f"add set {t} reset_during {{ {connections} flags dynamic; size 1024; }}",
            f"add counter {t} during", f"add counter {t} after_fin", f"add counter {t} sent",
            f"add chain {t} in {{ type filter hook prerouting priority raw; }}",
            f"add chain {t} out {{ type filter hook output priority raw; }}",
            f"add rule {t} in tcp flags fin add @finished {{ {key} }}",
            f'add rule {t} in tcp flags rst {key} @finished counter name "after_fin"',
            f'add rule {t} in tcp flags rst {key} != @finished counter name "during"'
            f" add @reset_during {{ {key} }}",
            f'add rule {t} out tcp flags rst counter name "sent"',
        ])  # fmt: skip
        nft_script(self.classifier, [
            f"add table {t}", f"add counter {t} sent", f"add counter {t} to_agents",
            f"add set {t} reset_sent {{ {connections} flags dynamic; size 1024; }}",
            f"add chain {t} out {{ type filter hook output priority raw; }}",
            f'add rule {t} out tcp flags rst tcp dport {AGENT_PORT} counter name "to_agents"',
            f'add rule {t} out tcp flags rst tcp dport != {AGENT_PORT} counter name "sent"'
            f" add @reset_sent {{ {key} }}",
        ])  # fmt: skip

    def counts(self) -> dict[str, int]:
        f = self.family
        return {
            "during": nft_counter(self.client, self.TABLE, "during", f),
            "after_fin": nft_counter(self.client, self.TABLE, "after_fin", f),
            "client_sent": nft_counter(self.client, self.TABLE, "sent", f),
            "classifier_sent": nft_counter(self.classifier, self.TABLE, "sent", f),
            "classifier_to_agents": nft_counter(self.classifier, self.TABLE, "to_agents", f),
        }

    def report(self) -> str:
        """The counts, and which connections the RSTs that fail a test
        belonged to (source -> destination of the RST)."""
        during = nft_set_elements(self.client, self.TABLE, "reset_during", self.family)
        sent = nft_set_elements(self.classifier, self.TABLE, "reset_sent", self.family)
        return (f"{self.counts()}; RSTs the client got before the server's FIN: "
                f"{during or 'none'}; RSTs the classifier sent: {sent or 'none'}")  # fmt: skip

    def close(self) -> None:
        for namespace in (self.client, self.classifier):
            argv = ["nft", "delete", "table", self.family, self.TABLE]
            run(in_netns(namespace, argv), check=False)


def no_reset_from_the_handoff(resets: ResetWatch) -> None:
    counts = resets.counts()
    assert counts["during"] == 0 and counts["classifier_sent"] == 0, resets.report()


# ---------------------------------------------------------------- a client that keeps sending


class AckStream:
    """ACK segments of one client connection (its 4-tuple) sent from the
    client's eth0 every `interval_s` while it runs, as a busy client keeps
    sending. Their sequence and acknowledgement numbers lie far outside the
    connection's window, so wherever they land they cannot disturb it; what
    matters is where the switch sends them."""

    def __init__(self, lab: FaultLab, client_port: int, interval_s: float = 0.0005) -> None:
        client = lab.topology.host("c1")
        packet = (
            Ether(src=client.mac, dst=lab.topology.switch.mac)
            / IP(src=str(client.interface.ip), dst=lab.vip[0])
            / TCP(sport=client_port, dport=lab.vip[1], flags="A", seq=0x12345, ack=0x6789A)
        )
        self.frame = bytes(packet)
        self.interval_s = interval_s
        self.sent = 0
        self._socket = call_in(
            lab.ns("c1"), lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        )
        self._socket.bind(("eth0", 0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):  # e.g. ENOBUFS while the switch is down
                self._socket.send(self.frame)
                self.sent += 1
            time.sleep(self.interval_s)

    def __enter__(self) -> AckStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()
