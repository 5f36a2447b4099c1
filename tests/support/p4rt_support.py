"""A small blocking P4Runtime client for the conformance tests: a stream
reader thread, name-based message builders over a P4Info, and the
rich-status decoding a controller does (one p4.v1.Error per update)."""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from finsy.proto import p4i, p4r, p4r_grpc, rpc_status
from paths import P4RUNTIME_PROGRAMS

from p4sim.compiler import CompiledProgram, compile_file
from p4sim.server.codec import encode
from p4sim.server.server import ServerThread

PROGRAMS = P4RUNTIME_PROGRAMS
CONFORMANCE = PROGRAMS / "conformance.p4"
CPU_PORT = 64


@functools.cache
def compiled(path: Path = CONFORMANCE) -> CompiledProgram:
    return compile_file(path)


def pipeline_config(
    program: CompiledProgram, cookie: int | None = None
) -> p4r.ForwardingPipelineConfig:
    config = p4r.ForwardingPipelineConfig(p4_device_config=program.device_config)
    config.p4info.CopyFrom(program.p4info)
    if cookie is not None:
        config.cookie.cookie = cookie
    return config


class Names:
    """Ids by name from a P4Info (full names or unique suffixes)."""

    def __init__(self, info: p4i.P4Info) -> None:
        self.info = info

    @staticmethod
    def _find(items: Any, name: str) -> Any:
        hits = [i for i in items if i.preamble.name == name or i.preamble.name.endswith("." + name)]
        if len(hits) != 1:
            raise KeyError(name)
        return hits[0]

    def table(self, name: str) -> p4i.Table:
        return self._find(self.info.tables, name)

    def action(self, name: str) -> p4i.Action:
        return self._find(self.info.actions, name)

    def counter(self, name: str) -> int:
        return int(self._find(self.info.counters, name).preamble.id)

    def meter(self, name: str) -> int:
        return int(self._find(self.info.meters, name).preamble.id)

    def register(self, name: str) -> int:
        return int(self._find(self.info.registers, name).preamble.id)

    def digest(self, name: str) -> int:
        return int(self._find(self.info.digests, name).preamble.id)

    def action_msg(self, name: str, **params: int) -> p4r.Action:
        action = self.action(name)
        msg = p4r.Action(action_id=action.preamble.id)
        by_name = {p.name: p.id for p in action.params}
        for pname, value in params.items():
            msg.params.add(param_id=by_name[pname], value=encode(value))
        return msg

    def entry(
        self,
        table: str,
        match: dict[str, tuple[Any, ...]] | None = None,
        action: str | None = None,
        params: dict[str, int] | None = None,
        priority: int = 0,
        **fields: Any,
    ) -> p4r.TableEntry:
        """match: field name -> ("exact", v) | ("lpm", v, plen) |
        ("ternary", v, mask) | ("range", lo, hi) | ("optional", v);
        bytes values are sent as given (to test encodings)."""
        t = self.table(table)
        te = p4r.TableEntry(table_id=t.preamble.id, priority=priority, **fields)
        ids = {f.name: f.id for f in t.match_fields}
        for fname, spec in (match or {}).items():
            fm = te.match.add(field_id=ids[fname])
            kind, *values = spec
            raw = [v if isinstance(v, bytes) else encode(v) for v in values]
            if kind == "exact":
                fm.exact.value = raw[0]
            elif kind == "lpm":
                fm.lpm.value, fm.lpm.prefix_len = raw[0], values[1]
            elif kind == "ternary":
                fm.ternary.value, fm.ternary.mask = raw
            elif kind == "range":
                fm.range.low, fm.range.high = raw
            else:
                fm.optional.value = raw[0]
        if action is not None:
            te.action.action.CopyFrom(self.action_msg(action, **(params or {})))
        return te


def update(kind: int, **entity: Any) -> p4r.Update:
    return p4r.Update(type=kind, entity=p4r.Entity(**entity))


def write_errors(error: grpc.RpcError) -> list[tuple[int, str]]:
    """(canonical code, message) per update from a failed Write's details."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = rpc_status.Status.FromString(value)
            out = []
            for detail in status.details:
                item = p4r.Error()
                detail.Unpack(item)
                out.append((item.canonical_code, item.message))
            return out
    return []


class Client:
    def __init__(self, address: str, device_id: int = 0, election: int | None = 1) -> None:
        self.device_id = device_id
        self.election = election
        self.channel = grpc.insecure_channel(address)
        self.stub = p4r_grpc.P4RuntimeStub(self.channel)
        self._out: queue.Queue[p4r.StreamMessageRequest | None] = queue.Queue()
        self.inbox: queue.Queue[Any] = queue.Queue()
        self._stream = self.stub.StreamChannel(iter(self._out.get, None))
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for message in self._stream:
                self.inbox.put(message)
        except grpc.RpcError as error:
            self.inbox.put(error)

    def send(self, **kwargs: Any) -> None:
        self._out.put(p4r.StreamMessageRequest(**kwargs))

    def arbitrate(
        self, election: int | None = None, role: str = "", device_id: int | None = None
    ) -> Any:
        if election is not None:
            self.election = election
        arb = p4r.MasterArbitrationUpdate(
            device_id=self.device_id if device_id is None else device_id
        )
        if role:
            arb.role.name = role
        if self.election is not None:
            arb.election_id.low = self.election
        self.send(arbitration=arb)
        return self.expect("arbitration")

    def expect(self, kind: str, timeout: float = 3.0) -> Any:
        """The next stream message of `kind` (others are skipped), or the
        RpcError that ended the stream."""
        while True:
            message = self.inbox.get(timeout=timeout)
            if isinstance(message, grpc.RpcError):
                return message
            if message.WhichOneof("update") == kind:
                return getattr(message, kind)

    def drain(self) -> list[Any]:
        items = []
        while not self.inbox.empty():
            items.append(self.inbox.get_nowait())
        return items

    def _election(self) -> p4r.Uint128 | None:
        return None if self.election is None else p4r.Uint128(low=self.election)

    def set_pipeline(self, config: p4r.ForwardingPipelineConfig | None, action: int) -> None:
        request = p4r.SetForwardingPipelineConfigRequest(device_id=self.device_id, action=action)
        if self.election is not None:
            request.election_id.low = self.election
        if config is not None:
            request.config.CopyFrom(config)
        self.stub.SetForwardingPipelineConfig(request, timeout=30)

    def write(self, updates: Sequence[p4r.Update], atomicity: int = 0, role: str = "") -> None:
        request = p4r.WriteRequest(
            device_id=self.device_id, updates=updates, atomicity=atomicity, role=role
        )
        if self.election is not None:
            request.election_id.low = self.election
        self.stub.Write(request, timeout=30)

    def read(self, *entities: p4r.Entity, device_id: int | None = None) -> list[p4r.Entity]:
        request = p4r.ReadRequest(
            device_id=self.device_id if device_id is None else device_id, entities=entities
        )
        return [e for response in self.stub.Read(request, timeout=30) for e in response.entities]

    def close(self) -> None:
        self._out.put(None)
        self.channel.close()
        self._thread.join(timeout=5)


def start_switch(ports: Sequence[int] = (1, 2, 3), cpu_port: int | None = CPU_PORT) -> ServerThread:
    switch = ServerThread(cpu_port=cpu_port)
    for number in ports:
        switch.call(lambda n=number: switch.server.add_memory_port(n))
    switch.start()
    return switch


def sent(switch: ServerThread, port: int) -> list[bytes]:
    """Frames the switch has sent on a memory port so far (and forget them)."""

    def take() -> list[bytes]:
        memory = switch.device.dataplane.ports[port]
        frames = list(memory.sent)  # type: ignore[attr-defined]
        memory.sent.clear()  # type: ignore[attr-defined]
        return frames

    return switch.call(take)


def inject(switch: ServerThread, port: int, frame: bytes) -> None:
    switch.call(lambda: switch.device.dataplane.receive(port, frame))


def iter_updates(kind: int, entries: Sequence[p4r.TableEntry]) -> Iterator[p4r.Update]:
    for te in entries:
        yield update(kind, table_entry=te)
