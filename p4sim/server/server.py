"""A running switch: a Device behind a gRPC server, on one event loop.

`SwitchServer` is what the `p4sim` command runs and what tests, benchmarks
and the PTF smoke start in-process (`ServerThread` runs one on a private
event loop in a background thread).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

import grpc
from finsy.proto import p4r, p4r_grpc

from p4sim.compiler import CompiledProgram
from p4sim.ports.afpacket import AfPacketPort
from p4sim.ports.memory import MemoryPort
from p4sim.ports.pcap import PcapSet
from p4sim.server.device import Device
from p4sim.server.grpc_service import P4RuntimeService
from p4sim.server.pipeline import Pipeline

T = TypeVar("T")

# Pipeline configs and large batches exceed grpc's 4 MiB default.
GRPC_OPTIONS = (
    ("grpc.max_receive_message_length", 256 << 20),
    ("grpc.max_send_message_length", 256 << 20),
)


class SwitchServer:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        device_id: int = 0,
        cpu_port: int | None = None,
        pcap_dir: Path | None = None,
    ) -> None:
        self.loop = loop
        pcap = PcapSet(pcap_dir) if pcap_dir is not None else None
        self.device = Device(loop, device_id, cpu_port, pcap)
        self._grpc: grpc.aio.Server | None = None

    def load(self, program: CompiledProgram) -> None:
        """Start forwarding a program given on the command line, with the
        P4Info p4sim generates, so a controller can also just read it back."""
        config = p4r.ForwardingPipelineConfig(p4_device_config=program.device_config)
        config.p4info.CopyFrom(program.p4info)
        self.device.install(Pipeline.build(program, config, self.device.cpu_port))

    def add_interface(self, number: int, ifname: str) -> AfPacketPort:
        port = AfPacketPort(number, ifname, self.device.dataplane.receive, self.loop)
        self.device.dataplane.add_port(port)
        return port

    def add_memory_port(self, number: int) -> MemoryPort:
        port = MemoryPort(number, self.device.dataplane.receive)
        self.device.dataplane.add_port(port)
        return port

    async def start(self, address: str, credentials: grpc.ServerCredentials | None = None) -> int:
        """Listen on `address` (HOST:PORT or unix:/path); returns the TCP
        port bound (useful with port 0), 0 for a Unix socket."""
        server = grpc.aio.server(options=GRPC_OPTIONS)
        p4r_grpc.add_P4RuntimeServicer_to_server(P4RuntimeService(self.device), server)
        if credentials is None:
            bound = int(server.add_insecure_port(address))
        else:
            bound = int(server.add_secure_port(address, credentials))
        if bound == 0 and not address.startswith("unix:"):
            raise OSError(f"cannot listen on {address}")
        await server.start()
        self._grpc = server
        return bound

    async def stop(self, grace: float = 0.5) -> None:
        if self._grpc is not None:
            await self._grpc.stop(grace)
            self._grpc = None
        self.device.idle.clear()
        self.device.digests.clear()
        self.device.dataplane.close()


class ServerThread:
    """A SwitchServer on its own event loop in a daemon thread, for tests
    and benchmarks that drive it with blocking gRPC clients."""

    def __init__(self, device_id: int = 0, cpu_port: int | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="p4sim-server", daemon=True
        )
        self._thread.start()
        self.server: SwitchServer = self.call(lambda: SwitchServer(self.loop, device_id, cpu_port))
        self.address = ""

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the server's loop and return its result."""
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as error:  # handed to the caller's thread
                future.set_exception(error)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout=60)

    def start(
        self, address: str = "127.0.0.1:0", credentials: grpc.ServerCredentials | None = None
    ) -> str:
        port = asyncio.run_coroutine_threadsafe(
            self.server.start(address, credentials), self.loop
        ).result(timeout=30)
        self.address = (
            address if address.startswith("unix:") else f"{address.rsplit(':', 1)[0]}:{port}"
        )
        return self.address

    @property
    def device(self) -> Device:
        return self.server.device

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(0), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
