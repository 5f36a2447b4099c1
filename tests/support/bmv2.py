"""Real bmv2 for the differential tests: p4c compiles, simple_switch_grpc runs
the program, packets travel over bmv2's nanomsg packet interface.

`simple_switch_grpc --packet-in ipc://PATH` takes packets from a nanomsg PAIR
socket instead of network interfaces: each message is `<iii` (type, port,
length) in host order followed by the frame, type 3 into the switch and 4 out
of it. That needs no root and no veth, and unlike a veth it carries frames of
any length (the STF corpus is mostly 2 to 12 byte "packets", which the kernel
refuses to send on an Ethernet device). The nanomsg IPC transport is a Unix
stream socket with an 8-byte protocol header (`\\0SP\\0`, protocol 16 = PAIR,
two zero bytes) each way, then messages framed as one type byte (1) and a
64-bit big-endian length, so this module speaks it with the standard library.

The switch and p4c are found on PATH only (`tests/support/needs.py` says why a
test skips when they are not there). P4Runtime goes through the project's
client (controller/p4rt) on a Unix socket in a private directory; the Thrift
server bmv2 always starts gets a free TCP port on 127.0.0.1's side.
"""

from __future__ import annotations

import contextlib
import queue
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from controller.p4rt import P4RuntimeClient
from controller.p4rt.p4info import load_p4info

MSG_PACKET_IN = 3  # into the switch
MSG_PACKET_OUT = 4  # out of the switch
_SP_HEADER = b"\x00SP\x00" + struct.pack(">HH", 16, 0)  # nanomsg PAIR
_FRAME = struct.Struct("<iii")


@dataclass(frozen=True)
class Compiled:
    """p4c's output for one program: bmv2 JSON and the P4Info it wrote."""

    json_path: Path
    p4info_path: Path

    @property
    def device_config(self) -> bytes:
        return self.json_path.read_bytes()

    def p4info(self):  # type: ignore[no-untyped-def]
        return load_p4info(self.p4info_path)


def compile_p4c(program: Path, out_dir: Path) -> Compiled:
    """`p4c --target bmv2 --arch v1model` into `out_dir`; raises with p4c's
    messages when it refuses the program."""
    out_dir.mkdir(parents=True, exist_ok=True)
    p4info = out_dir / f"{program.stem}.p4info.txtpb"
    result = subprocess.run(
        ["p4c", "--target", "bmv2", "--arch", "v1model", "--p4runtime-files", str(p4info),
         "-o", str(out_dir), str(program)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"p4c refused {program.name}:\n{result.stdout}{result.stderr}")
    return Compiled(out_dir / f"{program.stem}.json", p4info)


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NanomsgPorts:
    """The test's end of bmv2's packet socket: `send(port, frame)`, and every
    frame the switch emits, in order, from `receive(deadline)`."""

    def __init__(self, path: Path, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"bmv2 never listened on {path}") from None
                time.sleep(0.01)
        sock.sendall(_SP_HEADER)
        sock.settimeout(timeout)
        header = self._exactly(sock, 8)
        if header != _SP_HEADER:
            raise RuntimeError(f"not a nanomsg PAIR peer on {path}: {header!r}")
        sock.settimeout(None)
        self._sock = sock
        self._out: queue.Queue[tuple[int, bytes] | None] = queue.Queue()
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="bmv2-packets", daemon=True)
        self._reader.start()

    @staticmethod
    def _exactly(sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError("bmv2 closed its packet socket")
            data += chunk
        return data

    def _read(self) -> None:
        try:
            while True:
                kind_length = self._exactly(self._sock, 9)
                (length,) = struct.unpack(">Q", kind_length[1:])
                body = self._exactly(self._sock, length)
                kind, port, size = _FRAME.unpack_from(body)
                if kind == MSG_PACKET_OUT:
                    self._out.put((port, body[_FRAME.size : _FRAME.size + size]))
        except (OSError, EOFError):
            self._out.put(None)

    def send(self, port: int, frame: bytes) -> None:
        body = _FRAME.pack(MSG_PACKET_IN, port, len(frame)) + frame
        with self._send_lock:
            self._sock.sendall(b"\x01" + struct.pack(">Q", len(body)) + body)

    def receive(self, timeout: float) -> tuple[int, bytes] | None:
        """The next emitted (port, frame), or None when none came in time."""
        try:
            item = self._out.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        if item is None:
            self._out.put(None)  # keep saying so
            raise EOFError("bmv2 closed its packet socket (did it crash?)")
        return item

    def collect(self, count: int, timeout: float, quiet: float = 0.0) -> list[tuple[int, bytes]]:
        """At least `count` frames, waiting up to `timeout` for them, then
        whatever else arrives until `quiet` seconds pass without a frame."""
        got: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            item = self.receive(deadline - time.monotonic())
            if item is None:
                return got
            got.append(item)
        while quiet > 0:
            item = self.receive(quiet)
            if item is None:
                break
            got.append(item)
        return got

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


@dataclass
class Bmv2:
    process: subprocess.Popen[bytes]
    directory: Path
    grpc_address: str
    ports: NanomsgPorts
    log: Path

    def client(self, **kwargs: object) -> P4RuntimeClient:
        return P4RuntimeClient(self.grpc_address, **kwargs)  # type: ignore[arg-type]

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


@contextlib.contextmanager
def running_bmv2(
    *, cpu_port: int | None = None, device_id: int = 0, timeout: float = 20.0
) -> Iterator[Bmv2]:
    """simple_switch_grpc without a program (`--no-p4`), P4Runtime on a Unix
    socket, packets on a nanomsg socket; stopped and its files removed on exit."""
    if shutil.which("simple_switch_grpc") is None:
        raise RuntimeError("simple_switch_grpc is not on PATH")
    directory = Path(tempfile.mkdtemp(prefix="bmv2-diff-"))
    ipc = directory / "packets.ipc"
    grpc_sock = directory / "p4runtime.sock"
    log = directory / "switch.log"
    argv = ["simple_switch_grpc", "--device-id", str(device_id), "--no-p4",
            "--packet-in", f"ipc://{ipc}", "--thrift-port", str(_free_tcp_port()),
            "--", "--grpc-server-addr", f"unix:{grpc_sock}"]  # fmt: skip
    if cpu_port is not None:
        argv += ["--cpu-port", str(cpu_port)]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    ports: NanomsgPorts | None = None
    try:
        ports = NanomsgPorts(ipc, process, timeout)
        deadline = time.monotonic() + timeout
        while not grpc_sock.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bmv2 did not serve P4Runtime:\n{log.read_text()[-2000:]}")
            time.sleep(0.01)
        yield Bmv2(process, directory, f"unix:{grpc_sock}", ports, log)
    finally:
        if ports is not None:
            ports.close()
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)
