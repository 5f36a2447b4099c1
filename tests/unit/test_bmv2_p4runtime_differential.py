"""The same P4Runtime request sequences against p4sim's server and against
bmv2's (simple_switch_grpc, PI), both running p4src/forwarder.p4: each
sequence writes down what the switch answered (status codes, per-update
error codes, entities read back, arbitration outcomes, frames, PacketIns,
digests, idle-timeout notifications) and the two transcripts must be equal.

Where the P4Runtime spec lets targets differ, the difference is named in
SPEC_ALLOWED (and in docs/p4sim-internals.md, "Differences from bmv2"): the
two answers are compared after mapping bmv2's to p4sim's, and the mapping
itself is asserted to be needed, so the list stays true.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from needs import skip_reason
from paths import FORWARDER_P4

NEEDS_BMV2 = skip_reason(target="bmv2", root=False)
pytestmark = pytest.mark.skipif(NEEDS_BMV2 is not None, reason=NEEDS_BMV2 or "")

CPU_PORT = 255
PORTS = (1, 2, 3, 4, 5)
CLIENT_MAC = 0x020000000110
GATEWAY_MAC = 0x02AA00000001
VIP = 0x0A000064
CLIENT_IP = 0x0A00010A


@dataclass
class Target:
    name: str
    address: str
    p4info: object
    device_config: bytes
    inject: Callable[[int, bytes], None]
    frames: Callable[[int, float], list[tuple[int, bytes]]]  # (count, timeout) -> (port, frame)


@dataclass
class Transcript:
    steps: list[tuple[str, object]] = field(default_factory=list)

    def note(self, step: str, outcome: object) -> None:
        self.steps.append((step, outcome))


@functools.cache
def _p4sim_program():  # type: ignore[no-untyped-def]
    from p4sim.compiler import compile_file

    return compile_file(FORWARDER_P4)


@functools.cache
def _p4c_build():  # type: ignore[no-untyped-def]
    from bmv2 import compile_p4c

    out = Path(tempfile.mkdtemp(prefix="p4c-forwarder-"))
    atexit.register(shutil.rmtree, out, True)
    return compile_p4c(FORWARDER_P4, out)


def _p4sim_target(tmp: Path) -> Iterator[Target]:
    from p4rt_support import inject, sent, start_switch

    program = _p4sim_program()
    switch = start_switch(PORTS, CPU_PORT)

    def frames(count: int, timeout: float) -> list[tuple[int, bytes]]:
        got: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + timeout
        while True:
            for port in PORTS:
                got += [(port, f) for f in sent(switch, port)]
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.005)

    try:
        yield Target(
            "p4sim",
            switch.address,
            program.p4info,
            program.device_config,
            lambda port, frame: inject(switch, port, frame),
            frames,
        )
    finally:
        switch.stop()


def _bmv2_target(tmp: Path) -> Iterator[Target]:
    from bmv2 import running_bmv2

    compiled = _p4c_build()
    with running_bmv2(cpu_port=CPU_PORT) as bmv2:
        yield Target(
            "bmv2",
            bmv2.grpc_address,
            compiled.p4info(),
            compiled.device_config,
            bmv2.ports.send,
            lambda count, timeout: bmv2.ports.collect(count, timeout),
        )


# ---------------------------------------------------------------- helpers


def _code(exc: BaseException) -> object:
    """An error as the transcript records it: the status code and, for a
    Write, each failed update's index and code."""
    from finsy.proto import p4r, rpc_code, rpc_status

    from controller.p4rt import RpcError, WriteError

    if isinstance(exc, WriteError):
        return ("Write", exc.code, tuple((f.index, f.code) for f in exc.failures))
    if isinstance(exc, RpcError):
        return (exc.rpc, exc.code)
    if isinstance(exc, grpc.RpcError):
        details = dict(exc.trailing_metadata() or ()).get("grpc-status-details-bin")  # type: ignore[attr-defined]
        failures = []
        if isinstance(details, bytes):
            status = rpc_status.Status()
            status.ParseFromString(details)
            for index, detail in enumerate(status.details):
                error = p4r.Error()
                detail.Unpack(error)
                if error.canonical_code != 0:
                    failures.append((index, rpc_code.Code.Name(error.canonical_code)))
        return ("grpc", exc.code().name, tuple(failures))  # type: ignore[attr-defined]
    raise exc


def _attempt(t: Transcript, step: str, fn: Callable[[], object]) -> None:
    try:
        t.note(step, fn() if fn is not None else None)
    except Exception as exc:  # the answer is the outcome
        t.note(step, _code(exc))


def _client(target: Target, election_id: int = 1):  # type: ignore[no-untyped-def]
    from controller.p4rt import P4RuntimeClient

    return P4RuntimeClient(target.address, election_id=election_id, timeout=10)


def _route(c, prefix: int, length: int, port: int, action: str = "set_next_hop"):  # type: ignore[no-untyped-def]
    from controller.p4rt import Lpm

    field = c.index.table("routes").match_fields[0].name
    params = {"port": port, "src_mac": GATEWAY_MAC, "dst_mac": CLIENT_MAC}
    if action != "set_next_hop":
        return c.entities.table_entry("routes", {field: Lpm(prefix, length)}, action)
    return c.entities.table_entry("routes", {field: Lpm(prefix, length)}, action, params)


def _encap(c, sport: int, idle_ns: int = 0):  # type: ignore[no-untyped-def]
    from controller.p4rt import Exact

    fields = [f.name for f in c.index.table("encap_map").match_fields]
    values = (CLIENT_IP, VIP, sport, 80)
    params = {"flow_id": 0x11112222, "tunnel_src": 0x0A000201, "backend": 0x0A00020B}
    return c.entities.table_entry(
        "encap_map",
        {f: Exact(v) for f, v in zip(fields, values, strict=True)},
        "encap_to_backend",
        params,
        idle_timeout_ns=idle_ns,
    )


def _segment(sport: int, flags: str = "A") -> bytes:
    from forwarder_harness import client_tcp

    return bytes(client_tcp(sport, 80, flags=flags, payload=b"data"))


def _raw_write(c, *entities, kind: str = "INSERT", atomicity: int = 0) -> None:  # type: ignore[no-untyped-def]
    from finsy.proto import U128, p4r

    request = p4r.WriteRequest(
        device_id=0, election_id=U128.encode(c.election_id), atomicity=atomicity
    )
    for entity in entities:
        request.updates.append(p4r.Update(type=p4r.Update.Type.Value(kind), entity=entity))
    c._require_stub().Write(request, timeout=10)


def _rows(entities) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(str(e) for e in entities)


# ---------------------------------------------------------------- sequences


def seq_route_lifecycle(target: Target, t: Transcript) -> None:
    with _client(target) as c:
        c.set_pipeline(target.p4info, target.device_config)
        a = _route(c, 0x0A000100, 24, 1)
        _attempt(t, "insert", lambda: c.insert(a))
        _attempt(t, "read", lambda: _rows(c.read_table("routes")))
        b = _route(c, 0x0A000100, 24, 3)
        _attempt(t, "modify", lambda: c.modify(b))
        _attempt(t, "read after modify", lambda: _rows(c.read_table("routes")))
        _attempt(t, "insert again", lambda: c.insert(a))
        _attempt(t, "delete", lambda: c.delete(a))
        _attempt(t, "read after delete", lambda: _rows(c.read_table("routes")))
        _attempt(t, "delete again", lambda: c.delete(a))
        _attempt(t, "modify missing", lambda: c.modify(a))


def seq_batch_continue_on_error(target: Target, t: Transcript) -> None:
    from controller.p4rt import Update

    with _client(target) as c:
        c.set_pipeline(target.p4info, target.device_config)
        a, b = _route(c, 0x0A000100, 24, 1), _route(c, 0x0A000200, 24, 2)
        missing = _route(c, 0x0A000300, 24, 2)
        updates = [
            Update.insert(a),
            Update.insert(a),
            Update.modify(missing),
            Update.delete(missing),
            Update.insert(b),
        ]
        _attempt(t, "batch", lambda: c.write(updates))
        _attempt(t, "read", lambda: _rows(c.read_table("routes")))


def seq_malformed_writes(target: Target, t: Transcript) -> None:
    from finsy.proto import p4r

    with _client(target) as c:
        c.set_pipeline(target.p4info, target.device_config)
        routes = c.index.table("routes")
        gateway = c.index.table("gateway_arp")
        answer = c.index.action("answer_arp", gateway)
        set_hop = c.index.action("set_next_hop", routes)

        def entry(table, match, action, params) -> p4r.Entity:  # type: ignore[no-untyped-def]
            te = p4r.TableEntry(table_id=table.id)
            te.match.append(match)
            te.action.action.action_id = action.id
            for pid, value in params:
                te.action.action.params.append(p4r.Action.Param(param_id=pid, value=value))
            return p4r.Entity(table_entry=te)

        lpm = p4r.FieldMatch(field_id=routes.match_fields[0].id)
        lpm.lpm.value, lpm.lpm.prefix_len = b"\x0a\x00\x01\x0a", 24
        hop = [(p.id, b"\x01") for p in set_hop.params]
        _attempt(
            t, "lpm bits beyond the prefix", lambda: _raw_write(c, entry(routes, lpm, set_hop, hop))
        )
        exact = p4r.FieldMatch(field_id=gateway.match_fields[0].id)
        exact.exact.value = b"\x01\x0a\x00\x01\x01"
        mac = [(answer.params[0].id, b"\x02\xaa\x00\x00\x00\x01")]
        _attempt(
            t, "over-wide exact key", lambda: _raw_write(c, entry(gateway, exact, answer, mac))
        )
        exact.exact.value = b"\x0a\x00\x01\x01"
        wide = [(answer.params[0].id, b"\x01\x02\xaa\x00\x00\x00\x01")]
        _attempt(
            t,
            "over-wide action parameter",
            lambda: _raw_write(c, entry(gateway, exact, answer, wide)),
        )
        _attempt(
            t, "action not of the table", lambda: _raw_write(c, entry(gateway, exact, set_hop, hop))
        )
        missing_table = p4r.Entity(table_entry=p4r.TableEntry(table_id=0x02FFFFFF))
        _attempt(t, "unknown table", lambda: _raw_write(c, missing_table))
        lpm0 = p4r.FieldMatch(field_id=routes.match_fields[0].id)
        lpm0.lpm.value, lpm0.lpm.prefix_len = b"\x0a\x00\x01\x00", 24
        _attempt(
            t,
            "missing action parameter",
            lambda: _raw_write(c, entry(routes, lpm0, set_hop, hop[:1])),
        )
        _attempt(t, "read back", lambda: _rows(c.read_table()))


def seq_default_entry(target: Target, t: Transcript) -> None:
    from controller.p4rt import TableEntry

    with _client(target) as c:
        c.set_pipeline(target.p4info, target.device_config)
        punt = c.entities.action("routes", "punt_to_cpu")
        default = TableEntry(c.index.table("routes").name, (), punt, is_default=True)
        _attempt(t, "modify default", lambda: c.modify(default))
        _attempt(t, "insert default", lambda: c.insert(default))
        from finsy.proto import p4r

        routes = c.index.table("routes")
        foreign = c.index.action("answer_arp", c.index.table("gateway_arp"))
        bad = p4r.TableEntry(table_id=routes.id, is_default_action=True)
        bad.action.action.action_id = foreign.id
        bad.action.action.params.append(p4r.Action.Param(param_id=1, value=b"\x01"))
        _attempt(
            t,
            "default with a foreign action",
            lambda: _raw_write(c, p4r.Entity(table_entry=bad), kind="MODIFY"),
        )
        _attempt(t, "read default", lambda: _read_default(c, routes.id))


def _read_default(c, table_id: int) -> str:  # type: ignore[no-untyped-def]
    from finsy.proto import p4r

    request = p4r.ReadRequest(device_id=0)
    request.entities.append(
        p4r.Entity(table_entry=p4r.TableEntry(table_id=table_id, is_default_action=True))
    )
    found = [e for r in c._require_stub().Read(request, timeout=10) for e in r.entities]
    return str(sorted(str(c._require_codec().decode_entity(e)) for e in found))


def seq_arbitration(target: Target, t: Transcript) -> None:
    c1, c2 = _client(target, 10), _client(target, 5)
    try:
        t.note("first is primary", c1.connect())
        c1.set_pipeline(target.p4info, target.device_config)
        t.note("lower election id is primary", c2.connect())
        c2.fetch_pipeline()
        _attempt(t, "backup writes", lambda: c2.insert(_route(c2, 0x0A000100, 24, 1)))
        c1.close()
        deadline = time.monotonic() + 5
        while not c2.is_primary and time.monotonic() < deadline:
            time.sleep(0.01)
        t.note("backup promoted when the primary leaves", c2.is_primary)
        _attempt(t, "promoted writes", lambda: c2.insert(_route(c2, 0x0A000100, 24, 1)))
        c3 = _client(target, 20)
        t.note("higher election id takes over", c3.connect())
        deadline = time.monotonic() + 5
        while c2.is_primary and time.monotonic() < deadline:
            time.sleep(0.01)
        t.note("old primary demoted", c2.is_primary)
        c3.close()
    finally:
        c1.close()
        c2.close()


def seq_roles(target: Target, t: Transcript) -> None:
    from controller.p4rt import P4RuntimeClient

    default = _client(target, 10)
    named = P4RuntimeClient(target.address, election_id=20, role="classifier", timeout=10)
    try:
        t.note("default role's client is primary", default.connect())
        default.set_pipeline(target.p4info, target.device_config)
        t.note("named role's client is primary", named.connect())
        named.fetch_pipeline()
        _attempt(t, "named role's primary writes", lambda: named.insert(_encap(named, 40000)))
        _attempt(t, "default role's primary writes", lambda: default.insert(_encap(default, 40001)))
    finally:
        named.close()
        default.close()


def seq_packet_out_and_in(target: Target, t: Transcript) -> None:
    with _client(target) as c:
        c.set_pipeline(target.p4info, target.device_config)
        frame = _segment(40000)
        c.send_packet(c.entities.packet_out(frame, egress_port=2))
        t.note("packet_out to port 2", target.frames(1, 5.0))
        c.send_packet(c.entities.packet_out(frame, egress_port=CPU_PORT))
        got = c.receive_packet(timeout=5)
        t.note("packet_out to the CPU port", None if got is None else (got.payload, got.metadata))
        c.insert(_route(c, 0x0A000064, 32, 0, "punt_to_cpu"))
        target.inject(1, _segment(40001))
        got = c.receive_packet(timeout=5)
        t.note("punted packet", None if got is None else (got.payload, got.metadata))
        t.note("nothing else", target.frames(0, 0.2))


def seq_digest_and_counters(target: Target, t: Transcript) -> None:
    with _client(target) as c:
        c.set_pipeline(target.p4info, target.device_config)
        c.insert(_route(c, 0x0A00020B, 32, 2))
        entry = _encap(c, 40000)
        c.insert(entry)
        digest = c.index.p4info.digests[0].preamble.name
        _attempt(t, "enable digest", lambda: c.enable_digest(digest, max_list_size=1))
        for flags in ("A", "PA", "FA"):
            target.inject(1, _segment(40000, flags))
        t.note("frames", len(target.frames(3, 5.0)))
        got = c.receive_digest(timeout=5)
        t.note("digest", None if got is None else (got.digest, got.records))
        _attempt(t, "direct counter", lambda: c.read_direct_counter(entry))
        _attempt(
            t,
            "table with counters",
            lambda: [(str(e), e.counter) for e in c.read_table("encap_map", counters=True)],
        )
        target.inject(1, _segment(40000, "FA"))
        target.frames(1, 5.0)
        t.note("repeat of acked data", c.receive_digest(timeout=5) is not None)


def seq_idle_timeout(target: Target, t: Transcript) -> None:
    with _client(target) as c:
        c.set_pipeline(target.p4info, target.device_config)
        c.insert(_route(c, 0x0A00020B, 32, 2))
        entry = _encap(c, 40000, idle_ns=500_000_000)
        _attempt(t, "insert with idle timeout", lambda: c.insert(entry))
        _attempt(t, "read back", lambda: _rows(c.read_table("encap_map")))
        got = c.receive_idle_timeout(timeout=8)
        t.note("notification", None if got is None else _rows(got.entries))
        _attempt(t, "entry still there", lambda: _rows(c.read_table("encap_map")))


def _raw(
    c,
    kind: str,
    entity,
    *,
    device_id: int = 0,
    election_id: int | None = None,
    atomicity: str = "CONTINUE_ON_ERROR",
) -> None:  # type: ignore[no-untyped-def]
    from finsy.proto import U128, p4r

    request = p4r.WriteRequest(
        device_id=device_id,
        election_id=U128.encode(c.election_id if election_id is None else election_id),
        atomicity=p4r.WriteRequest.Atomicity.Value(atomicity),
    )
    entities = entity if isinstance(entity, list) else [entity]
    for e in entities:
        request.updates.append(p4r.Update(type=p4r.Update.Type.Value(kind), entity=e))
    c._require_stub().Write(request, timeout=10)


def _raw_read(c, entity) -> list[str]:  # type: ignore[no-untyped-def]
    from finsy.proto import p4r

    request = p4r.ReadRequest(device_id=0)
    request.entities.append(entity)
    found = [e for r in c._require_stub().Read(request, timeout=10) for e in r.entities]
    return sorted(str(e).replace("\n", " ") for e in found)


def _pre_read(c, query, view: str = "content") -> object:  # type: ignore[no-untyped-def]
    """PRE entries read back: each group's or session's replicas as (port,
    instance) whichever field carries the port, sorted ("content"); the
    fields used ("fields"); the ports in the order read ("order")."""
    from finsy.proto import p4r

    request = p4r.ReadRequest(device_id=0)
    request.entities.append(query)
    found = [e for r in c._require_stub().Read(request, timeout=10) for e in r.entities]
    out = []
    for entity in found:
        pre = entity.packet_replication_engine_entry
        entry = getattr(pre, pre.WhichOneof("type"))
        ident = (
            entry.multicast_group_id if pre.HasField("multicast_group_entry") else entry.session_id
        )
        replicas = list(entry.replicas)
        ports = [
            int.from_bytes(r.port, "big") if r.WhichOneof("port_kind") == "port" else r.egress_port
            for r in replicas
        ]
        if view == "fields":
            out.append((ident, tuple(sorted({str(r.WhichOneof("port_kind")) for r in replicas}))))
        elif view == "order":
            out.append((ident, tuple(ports)))
        else:
            instances = [r.instance for r in replicas]
            out.append((ident, tuple(sorted(zip(ports, instances, strict=True)))))
    return sorted(out)


def seq_atomicity(target: Target, t: Transcript) -> None:
    with _client(target) as c:
        c.set_pipeline(target.p4info, target.device_config)
        codec = c._require_codec()
        a = codec.encode_entity(_route(c, 0x0A000100, 24, 1))
        b = codec.encode_entity(_route(c, 0x0A000200, 24, 2))
        for atomicity in ("ROLLBACK_ON_ERROR", "DATAPLANE_ATOMIC"):
            _attempt(
                t,
                f"{atomicity} batch with a duplicate",
                lambda at=atomicity: _raw(c, "INSERT", [a, b, a], atomicity=at),
            )
            _attempt(t, f"read after {atomicity}", lambda: _rows(c.read_table("routes")))
            _attempt(t, "clean up", lambda: _rows(c.read_table("routes")) and c.write([]))
            for entry in c.read_table("routes"):
                c.delete(entry)


def seq_session_errors(target: Target, t: Transcript) -> None:
    c = _client(target, 7)
    try:
        c.connect()
        from finsy.proto import p4r

        every_entry = p4r.Entity(table_entry=p4r.TableEntry())
        _attempt(t, "read before a pipeline", lambda: _raw_read(c, every_entry))
        _attempt(t, "get pipeline before one is set", lambda: c.fetch_pipeline() and None)
        c.set_pipeline(target.p4info, target.device_config)
        entry = c._require_codec().encode_entity(_route(c, 0x0A000100, 24, 1))
        _attempt(t, "write to another device", lambda: _raw(c, "INSERT", entry, device_id=9))
        _attempt(
            t, "write with another election id", lambda: _raw(c, "INSERT", entry, election_id=3)
        )
        _attempt(t, "write without election id", lambda: _raw(c, "INSERT", entry, election_id=0))
        _attempt(t, "get pipeline", lambda: c.fetch_pipeline()[1])
        twin = _client(target, 7)
        _attempt(t, "a second client with the same election id", lambda: twin.connect())
        twin.close()
        _attempt(t, "first client still primary", lambda: c.is_primary)
    finally:
        c.close()


def seq_entry_validation(target: Target, t: Transcript) -> None:
    from finsy.proto import p4r

    from controller.p4rt import Exact

    with _client(target) as c:
        c.set_pipeline(target.p4info, target.device_config)
        codec = c._require_codec()
        encap = codec.encode_entity(_encap(c, 40000))
        with_priority = p4r.Entity()
        with_priority.CopyFrom(encap)
        with_priority.table_entry.priority = 10
        _attempt(t, "priority on an exact table", lambda: _raw(c, "INSERT", with_priority))
        missing_key = p4r.Entity()
        missing_key.CopyFrom(encap)
        del missing_key.table_entry.match[1]
        _attempt(t, "an exact key left out", lambda: _raw(c, "INSERT", missing_key))
        duplicate = p4r.Entity()
        duplicate.CopyFrom(encap)
        duplicate.table_entry.match.append(duplicate.table_entry.match[0])
        _attempt(t, "a key given twice", lambda: _raw(c, "INSERT", duplicate))
        route = codec.encode_entity(_route(c, 0x0A000100, 24, 1))
        zero = p4r.Entity()
        zero.CopyFrom(route)
        zero.table_entry.match[0].lpm.prefix_len = 0
        zero.table_entry.match[0].lpm.value = b"\x00"
        _attempt(t, "an lpm key of length 0 given", lambda: _raw(c, "INSERT", zero))
        idle = p4r.Entity()
        idle.CopyFrom(route)
        idle.table_entry.idle_timeout_ns = 1_000_000_000
        _attempt(t, "idle timeout on a table without it", lambda: _raw(c, "INSERT", idle))
        cookie = p4r.Entity()
        cookie.CopyFrom(route)
        cookie.table_entry.metadata = b"cookie"
        _attempt(t, "entry with metadata", lambda: _raw(c, "INSERT", cookie))
        _attempt(t, "read metadata back", lambda: [e.metadata for e in c.read_table("routes")])
        no_action = p4r.Entity()
        no_action.CopyFrom(encap)
        no_action.table_entry.ClearField("action")
        _attempt(t, "insert without an action", lambda: _raw(c, "INSERT", no_action))
        gw = c.index.table("gateway_arp")
        e = c.entities.table_entry(
            "gateway_arp", {gw.match_fields[0].name: Exact(0x0A000101)}, "answer_arp",
            {"gateway_mac": 0x02AA00000001},
        )  # fmt: skip
        _attempt(t, "insert gateway", lambda: c.insert(e))
        short = codec.encode_entity(e)
        short.table_entry.match[0].exact.value = b"\x00\x0a\x00\x01\x01"
        _attempt(t, "same key with a leading zero byte", lambda: _raw(c, "INSERT", short))
        _attempt(t, "read all tables", lambda: _rows(c.read_table()))


def seq_wildcard_reads(target: Target, t: Transcript) -> None:
    from finsy.proto import p4r

    with _client(target) as c:
        c.set_pipeline(target.p4info, target.device_config)
        c.insert(_route(c, 0x0A000100, 24, 1), _route(c, 0x0A000200, 24, 2))
        entry = _encap(c, 40000)
        c.insert(entry, _encap(c, 40001))
        c.insert(_route(c, 0x0A00020B, 32, 2))
        for _ in range(2):
            target.inject(1, _segment(40000))
        target.frames(2, 5.0)
        _attempt(t, "every table", lambda: _rows(c.read_table()))
        _attempt(t, "one table", lambda: _rows(c.read_table("encap_map")))
        _attempt(
            t,
            "with counters",
            lambda: sorted((str(e), e.counter) for e in c.read_table("encap_map", counters=True)),
        )
        table_id = c.index.table("encap_map").id
        direct = p4r.Entity(
            direct_counter_entry=p4r.DirectCounterEntry(
                table_entry=p4r.TableEntry(table_id=table_id)
            )
        )
        _attempt(t, "every direct counter of the table", lambda: _raw_read(c, direct))
        one = p4r.Entity(table_entry=c._require_codec().encode_table_entry(entry))
        _attempt(t, "one entry by its key", lambda: _raw_read(c, one))


def seq_packet_replication(target: Target, t: Transcript) -> None:
    from finsy.proto import p4r

    def group(gid: int, replicas: list[tuple[int, int]]) -> p4r.Entity:
        entry = p4r.MulticastGroupEntry(multicast_group_id=gid)
        for port, instance in replicas:
            entry.replicas.append(p4r.Replica(egress_port=port, instance=instance))
        return p4r.Entity(
            packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                multicast_group_entry=entry
            )
        )

    def session(sid: int, replicas: list[tuple[int, int]]) -> p4r.Entity:
        entry = p4r.CloneSessionEntry(session_id=sid)
        for port, instance in replicas:
            entry.replicas.append(p4r.Replica(egress_port=port, instance=instance))
        return p4r.Entity(
            packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                clone_session_entry=entry
            )
        )

    with _client(target) as c:
        c.set_pipeline(target.p4info, target.device_config)
        _attempt(t, "insert group", lambda: _raw(c, "INSERT", group(1, [(1, 1), (2, 1)])))
        _attempt(t, "insert it again", lambda: _raw(c, "INSERT", group(1, [(1, 1)])))
        _attempt(t, "modify group", lambda: _raw(c, "MODIFY", group(1, [(3, 2), (1, 1)])))
        _attempt(t, "read group", lambda: _pre_read(c, group(1, [])))
        _attempt(t, "replica port field", lambda: _pre_read(c, group(1, []), "fields"))
        _attempt(t, "replica order as read", lambda: _pre_read(c, group(1, []), "order"))
        _attempt(t, "modify missing group", lambda: _raw(c, "MODIFY", group(9, [(1, 1)])))
        _attempt(t, "duplicate replica", lambda: _raw(c, "INSERT", group(2, [(1, 1), (1, 1)])))
        _attempt(t, "group id 0", lambda: _raw(c, "INSERT", group(0, [(1, 1)])))
        _attempt(t, "insert clone session", lambda: _raw(c, "INSERT", session(5, [(2, 1)])))
        _attempt(t, "read clone session", lambda: _pre_read(c, session(5, [])))
        _attempt(t, "delete group", lambda: _raw(c, "DELETE", group(1, [])))
        _attempt(t, "delete missing group", lambda: _raw(c, "DELETE", group(1, [])))
        _attempt(t, "read all groups", lambda: _pre_read(c, group(0, [])))


SEQUENCES = {
    f.__name__.removeprefix("seq_"): f
    for f in (
        seq_route_lifecycle,
        seq_batch_continue_on_error,
        seq_malformed_writes,
        seq_default_entry,
        seq_arbitration,
        seq_roles,
        seq_packet_out_and_in,
        seq_digest_and_counters,
        seq_idle_timeout,
        seq_atomicity,
        seq_session_errors,
        seq_entry_validation,
        seq_wildcard_reads,
        seq_packet_replication,
    )
}

# (sequence, step) -> (p4sim's answer, bmv2's answer, why the spec allows both)
OVER_WIDE = (
    ("grpc", "UNKNOWN", ((0, "OUT_OF_RANGE"),)),
    ("grpc", "UNKNOWN", ((0, "INVALID_ARGUMENT"),)),
    "P4Runtime 1.4 section 8.3: a value wider than its field is OUT_OF_RANGE (p4sim); "
    "PI answers INVALID_ARGUMENT",
)
SPEC_ALLOWED: dict[tuple[str, str], tuple[object, object, str]] = {
    ("malformed_writes", "over-wide exact key"): OVER_WIDE,
    ("malformed_writes", "over-wide action parameter"): OVER_WIDE,
    ("atomicity", "ROLLBACK_ON_ERROR batch with a duplicate"): (
        ("grpc", "UNKNOWN", ((0, "ABORTED"), (1, "ABORTED"), (2, "ALREADY_EXISTS"))),
        ("grpc", "UNIMPLEMENTED", ()),
        "a target need not support every atomicity (P4Runtime section 12.2); PI has only "
        "CONTINUE_ON_ERROR, p4sim all three",
    ),
    ("atomicity", "DATAPLANE_ATOMIC batch with a duplicate"): (
        ("grpc", "UNKNOWN", ((0, "ABORTED"), (1, "ABORTED"), (2, "ALREADY_EXISTS"))),
        ("grpc", "UNIMPLEMENTED", ()),
        "as for ROLLBACK_ON_ERROR",
    ),
    ("roles", "default role's primary writes"): (
        None,
        ("Write", "PERMISSION_DENIED"),
        "P4Runtime's Client Arbitration section: a primary per (device_id, role), so a named "
        "role's primary leaves the default role's alone (p4sim); PI ignores role.name and keeps "
        "one primary per device, so the named role's higher election id demoted it",
    ),
    ("session_errors", "write to another device"): (
        ("grpc", "NOT_FOUND", ()),
        ("grpc", "PERMISSION_DENIED", ()),
        "the spec asks for NOT_FOUND when device_id names no device; PI answers PERMISSION_DENIED",
    ),
    ("packet_replication", "replica port field"): (
        [(1, ("port",))],
        [(1, ("egress_port",))],
        "P4Runtime 1.4 deprecates Replica.egress_port for the `port` bytes; p4sim reads back "
        "in the current form, PI (pre-1.4) knows only egress_port",
    ),
    ("packet_replication", "replica order as read"): (
        [(1, (3, 1))],
        [(1, (1, 3))],
        "the spec gives no order to a group's replicas: p4sim keeps the written order, "
        "PI sorts by port",
    ),
    ("malformed_writes", "unknown table"): (
        ("grpc", "UNKNOWN", ((0, "NOT_FOUND"),)),
        ("grpc", "UNKNOWN", ((0, "INVALID_ARGUMENT"),)),
        "the spec names no code for an id absent from the P4Info: p4sim says NOT_FOUND "
        "(no such object), PI INVALID_ARGUMENT (a malformed request)",
    ),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sequence", sorted(SEQUENCES))
def test_p4runtime_sequence_gets_the_same_answers_from_bmv2_and_p4sim(
    sequence: str, tmp_path: Path
) -> None:
    transcripts = {}
    for make in (_p4sim_target, _bmv2_target):
        gen = make(tmp_path)
        target = next(gen)
        try:
            t = Transcript()
            SEQUENCES[sequence](target, t)
            transcripts[target.name] = t.steps
        finally:
            gen.close()
    p4sim, bmv2 = transcripts["p4sim"], transcripts["bmv2"]
    assert [s for s, _ in p4sim] == [s for s, _ in bmv2]
    differences = []
    for (step, a), (_, b) in zip(p4sim, bmv2, strict=True):
        allowed = SPEC_ALLOWED.get((sequence, step))
        if allowed is not None:
            assert (a, b) == allowed[:2], f"{step}: the documented difference changed: {a} / {b}"
            continue
        if a != b:
            differences.append(f"{step}:\n    p4sim {a}\n    bmv2  {b}")
    assert not differences, f"{sequence}:\n  " + "\n  ".join(differences)
