"""Network namespaces and veth pairs for tests that move real frames.

Each `VethHost` is a namespace holding one end of a veth pair; the other end
stays in the root namespace for the switch. Names carry the test process id
so parallel runs do not collide, and `close` removes everything even after a
failure. Offloads are turned off on both ends, as the lab does.
A raw AF_PACKET socket opened *inside* the namespace (from a helper thread
that joins it with setns) lets the test send and receive as the host.
"""

from __future__ import annotations

import ctypes
import os
import select
import socket
import subprocess
import threading
import time
from collections.abc import Callable

from controller.lab.netns import offloads_off

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
_libc = ctypes.CDLL("libc.so.6", use_errno=True)



def _ip(*args: str, ns: str | None = None) -> None:
    command = ["ip", *(("-n", ns) if ns else ()), *args]
    subprocess.run(command, check=True, capture_output=True, text=True)


class VethHost:
    def __init__(self, tag: str) -> None:
        self.ns = f"p4t-{os.getpid()}-{tag}"
        self.switch_if = f"p4s{os.getpid() % 100000}{tag}"[:15]
        self.host_if = "eth0"
        self._sockets: list[socket.socket] = []
        _ip("netns", "add", self.ns)
        try:
            _ip(
                "link",
                "add",
                self.switch_if,
                "type",
                "veth",
                "peer",
                "name",
                self.host_if,
                "netns",
                self.ns,
            )
            _ip("link", "set", self.switch_if, "up")
            _ip("link", "set", self.host_if, "up", ns=self.ns)
            offloads_off(self.switch_if)
            offloads_off(self.host_if, self.ns)
            # IPv6 autoconfiguration would put stray frames on the wire.
            subprocess.run(
                ["sysctl", "-qw", f"net.ipv6.conf.{self.switch_if}.disable_ipv6=1"],
                check=False,
                capture_output=True,
            )
            subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    self.ns,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.disable_ipv6=1",
                ],
                check=False,
                capture_output=True,
            )
        except Exception:
            self.close()
            raise

    def socket(self) -> socket.socket:
        """A raw socket on the host end, opened inside the namespace."""
        result: dict[str, object] = {}

        def join_and_open() -> None:
            try:
                fd = os.open(f"/var/run/netns/{self.ns}", os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns failed")
                finally:
                    os.close(fd)
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                sock.bind((self.host_if, 0))
                result["socket"] = sock
            except OSError as error:
                result["error"] = error

        thread = threading.Thread(target=join_and_open)
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]  # type: ignore[misc]
        sock = result["socket"]
        assert isinstance(sock, socket.socket)
        self._sockets.append(sock)
        return sock

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()
        subprocess.run(["ip", "link", "del", self.switch_if], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], check=False, capture_output=True)


def receive(
    sock: socket.socket,
    count: int,
    timeout: float = 3.0,
    keep: Callable[[bytes], bool] = lambda frame: True,
) -> list[bytes]:
    """Up to `count` frames that `keep` accepts, arriving on `sock` within
    `timeout` seconds (frames the socket itself sent are skipped)."""
    frames: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(frames) < count:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            break
        data, address = sock.recvfrom(65535)
        if address[2] != socket.PACKET_OUTGOING and keep(data):
            frames.append(data)
    return frames
