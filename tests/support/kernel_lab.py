"""Network-namespace scaffolding for the kernel tests (TCP_REPAIR, nftables, handover).

Every test builds its own namespaces named `ph-<pid>-<n>-<role>` and removes
them when it ends, pass or fail. Sockets are created inside a namespace by
switching the calling thread into it (`Lab.enter`); once created they keep
their namespace wherever they are used from.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from controller.handoff.nft import Nft

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_counter = itertools.count()


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextmanager
def netns(name: str) -> Iterator[None]:
    """Run the calling thread inside namespace `name` for the block."""
    with open("/proc/thread-self/ns/net", "rb") as home, open(f"/run/netns/{name}", "rb") as ns:
        _setns(ns.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())


def run(*args: str, check: bool = True) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Lab:
    """A set of namespaces wired with veth pairs; `close` removes them all."""

    prefix: str = field(default_factory=lambda: f"ph-{os.getpid()}-{next(_counter)}")
    names: list[str] = field(default_factory=list)

    def ns(self, role: str) -> str:
        name = f"{self.prefix}-{role}"
        run("ip", "netns", "add", name)
        self.names.append(name)
        self.ip(name, "link", "set", "lo", "up")
        return name

    def ip(self, ns: str, *args: str) -> str:
        return run("ip", "-n", ns, *args)

    def sh(self, ns: str, *args: str, check: bool = True) -> str:
        return run("ip", "netns", "exec", ns, *args, check=check)

    def sysctl(self, ns: str, key: str, value: int | str) -> None:
        self.sh(ns, "sysctl", "-q", "-w", f"{key}={value}")

    def link(self, a: str, a_addr: str, b: str, b_addr: str) -> tuple[str, str]:
        """A veth pair between namespaces a and b with /24 addresses; returns
        the interface names (a's end, b's end)."""
        n = len(self.names) * 100 + next(_counter) % 100
        a_if, b_if = f"v{n}a", f"v{n}b"
        run("ip", "link", "add", a_if, "netns", a, "type", "veth", "peer", b_if, "netns", b)
        for ns, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
            self.ip(ns, "addr", "add", f"{addr}/24", "dev", ifname)
            self.ip(ns, "link", "set", ifname, "up")
        return a_if, b_if

    def link6(self, a: str, a_addr: str, b: str, b_addr: str) -> tuple[str, str]:
        """`link` with IPv6 /64 addresses (no duplicate address detection in
        either namespace); returns once IPv6 works on both ends."""
        for ns in (a, b):
            self.sysctl(ns, "net.ipv6.conf.all.accept_dad", 0)
            self.sysctl(ns, "net.ipv6.conf.default.accept_dad", 0)
        n = len(self.names) * 100 + next(_counter) % 100
        a_if, b_if = f"v{n}a", f"v{n}b"
        run("ip", "link", "add", a_if, "netns", a, "type", "veth", "peer", b_if, "netns", b)
        for ns, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
            self.ip(ns, "-6", "addr", "add", f"{addr}/64", "dev", ifname, "nodad")
            self.ip(ns, "link", "set", ifname, "up")
        for ns, ifname in ((a, a_if), (b, b_if)):
            self._wait_ipv6_configured(ns, ifname)
        return a_if, b_if

    def _wait_ipv6_configured(self, ns: str, ifname: str) -> None:
        """Wait until the kernel has configured IPv6 on the interface, which
        it shows by adding the link-local address. Until then (up to a second
        after `link set up`, when the link watcher reports the carrier) the
        interface has no multicast route: neighbour solicitations to it are
        dropped, and a first connection waits a second or two for the
        solicitation's retry, leaving its socket with a 3-6 s RTO."""
        deadline = time.monotonic() + 10
        while not self.ip(ns, "-6", "addr", "show", "dev", ifname, "scope", "link").strip():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{ns} {ifname}: no IPv6 link-local address after 10 s")
            time.sleep(0.01)

    @contextmanager
    def enter(self, ns: str) -> Iterator[None]:
        with netns(ns):
            yield

    def socket_in(
        self, ns: str, kind: int = socket.SOCK_STREAM, family: int = socket.AF_INET
    ) -> socket.socket:
        with netns(ns):
            return socket.socket(family, kind)

    def close(self) -> None:
        for name in reversed(self.names):
            run("ip", "netns", "del", name, check=False)
        self.names.clear()


def tcp_settings(lab: Lab, ns: str, *, timestamps: bool, sack: bool, wscale: bool) -> None:
    lab.sysctl(ns, "net.ipv4.tcp_timestamps", int(timestamps))
    lab.sysctl(ns, "net.ipv4.tcp_sack", int(sack))
    lab.sysctl(ns, "net.ipv4.tcp_window_scaling", int(wscale))


class Reader(threading.Thread):
    """Reads exactly `length` bytes from a socket in the background and keeps
    their SHA-256 and count (the data itself is not kept); with `pause` it
    reads at most `slice_len` bytes per pause, like a slow application. With
    `hold_after` it stops reading once it has that many bytes, sets `holding`
    and goes on only when `resume` is set: the sender's queue then stays full
    for as long as the test needs it to."""

    def __init__(
        self,
        sock: socket.socket,
        length: int,
        slice_len: int = 1 << 20,
        pause: float = 0.0,
        hold_after: int | None = None,
    ) -> None:
        super().__init__(daemon=True)
        import hashlib

        self.sock = sock
        self.length = length
        self.slice_len = slice_len
        self.pause = pause
        self.hold_after = hold_after
        self.holding = threading.Event()
        self.resume = threading.Event()
        self.digest = hashlib.sha256()
        self.count = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while self.count < self.length:
                if self.hold_after is not None and self.count >= self.hold_after:
                    self.holding.set()
                    self.resume.wait()
                    self.hold_after = None
                limit = self.length - self.count
                if self.hold_after is not None:
                    limit = min(limit, self.hold_after - self.count)
                chunk = self.sock.recv(min(self.slice_len, limit))
                if not chunk:
                    raise ConnectionError(f"EOF after {self.count} of {self.length} bytes")
                self.digest.update(chunk)
                self.count += len(chunk)
                if self.pause:
                    time.sleep(self.pause)
        except BaseException as exc:
            self.error = exc

    def result(self, timeout: float) -> str:
        self.join(timeout)
        if self.is_alive():
            raise TimeoutError(f"read {self.count} of {self.length} bytes in {timeout} s")
        if self.error is not None:
            raise self.error
        return self.digest.hexdigest()


class Writer(threading.Thread):
    """Sends `data` in paced slices, so a handoff happens while bytes still flow."""

    def __init__(self, sock: socket.socket, data: bytes, slice_len: int, pause: float) -> None:
        super().__init__(daemon=True)
        self.sock, self.data, self.slice_len, self.pause = sock, data, slice_len, pause
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for start in range(0, len(self.data), self.slice_len):
                self.sock.sendall(self.data[start : start + self.slice_len])
                time.sleep(self.pause)
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout: float) -> None:
        self.join(timeout)
        assert not self.is_alive(), "writer still blocked"
        if self.error is not None:
            raise self.error


def fill_send_queue(sock: socket.socket, data: bytes, peer_reader: Reader) -> int:
    """Write without blocking until the kernel refuses more while the peer's
    reader holds; returns the bytes taken. The refusal proves bytes are queued
    (sent but unacknowledged, or not sent), and they stay queued until the
    test sets `peer_reader.resume`."""
    sent = 0
    sock.setblocking(False)
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            if sent == len(data):
                raise AssertionError(f"all {sent} bytes were taken: nothing stays queued")
            try:
                sent += sock.send(data[sent : sent + 65536])
            except BlockingIOError:
                if peer_reader.holding.is_set():
                    return sent
                peer_reader.holding.wait(0.001)
        raise AssertionError(f"the send queue did not fill in 20 s ({sent} bytes taken)")
    finally:
        sock.setblocking(True)


VIP = "10.0.0.100"


def handoff_topology(lab: Lab) -> dict[str, str]:
    """Client C (10.0.1.10) - router R - classifier A (10.0.2.10) and back-end
    B (10.0.3.11), both with the VIP on lo; R routes the VIP to A. Returns the
    namespace of each role."""
    names = {role: lab.ns(role) for role in ("client", "router", "classifier", "backend")}
    c, r, a, b = names["client"], names["router"], names["classifier"], names["backend"]
    lab.link(c, "10.0.1.10", r, "10.0.1.1")
    lab.link(a, "10.0.2.10", r, "10.0.2.1")
    lab.link(b, "10.0.3.11", r, "10.0.3.1")
    lab.sysctl(r, "net.ipv4.ip_forward", 1)
    for ns, gateway in ((c, "10.0.1.1"), (a, "10.0.2.1"), (b, "10.0.3.1")):
        lab.ip(ns, "route", "add", "default", "via", gateway)
    for ns in (a, b):
        lab.ip(ns, "addr", "add", f"{VIP}/32", "dev", "lo")
    lab.ip(r, "route", "add", f"{VIP}/32", "via", "10.0.2.10")
    return names


VIP6 = "2001:db8::100"


def handoff_topology6(lab: Lab) -> dict[str, str]:
    """`handoff_topology` in IPv6: client C (2001:db8:1::10) - router R -
    classifier A (2001:db8:2::10) and back-end B (2001:db8:3::11), both with
    VIP6 on lo; R routes VIP6 to A."""
    names = {role: lab.ns(role) for role in ("client", "router", "classifier", "backend")}
    c, r, a, b = names["client"], names["router"], names["classifier"], names["backend"]
    lab.link6(c, "2001:db8:1::10", r, "2001:db8:1::1")
    lab.link6(a, "2001:db8:2::10", r, "2001:db8:2::1")
    lab.link6(b, "2001:db8:3::11", r, "2001:db8:3::1")
    lab.sysctl(r, "net.ipv6.conf.all.forwarding", 1)
    for ns, gateway in ((c, "2001:db8:1::1"), (a, "2001:db8:2::1"), (b, "2001:db8:3::1")):
        lab.ip(ns, "-6", "route", "add", "default", "via", gateway)
    for ns in (a, b):
        lab.ip(ns, "-6", "addr", "add", f"{VIP6}/128", "dev", "lo")
    lab.ip(r, "-6", "route", "add", f"{VIP6}/128", "via", "2001:db8:2::10")
    return names


def rst_watch(lab: Lab, ns: str) -> Nft:
    """Counts RST segments entering and leaving the client namespace."""
    with lab.enter(ns):
        nft = Nft()
    nft.run(
        "add table inet rstwatch\nadd counter inet rstwatch rst\n"
        "add chain inet rstwatch in { type filter hook prerouting priority raw; }\n"
        "add chain inet rstwatch out { type filter hook output priority raw; }\n"
        'add rule inet rstwatch in tcp flags rst counter name "rst"\n'
        'add rule inet rstwatch out tcp flags rst counter name "rst"\n'
    )
    return nft


def rst_count(nft: Nft) -> int:
    """RST segments in or out, IPv4 and IPv6."""
    packets: int = nft.query("list counter inet rstwatch rst")[0]["counter"]["packets"]
    return packets
