"""A typed P4Runtime client over grpcio.

One object per (switch, controller) session: it opens the StreamChannel,
takes part in primary arbitration with its election id, pushes or fetches
the pipeline, writes batches of updates, reads entities back, and hands out
packet-ins, digest lists and idle-timeout notifications from the stream as
entities. It is synchronous: a background thread reads the stream into
queues, and every call returns or raises a `P4RuntimeError`.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import grpc
from finsy.proto import p4i, p4r, p4r_grpc

from controller.p4rt.entities import (
    CounterData,
    DigestList,
    DirectCounterEntry,
    Entity,
    EntityFactory,
    IdleTimeout,
    PacketIn,
    PacketOut,
    TableEntry,
    Update,
)
from controller.p4rt.errors import NotPrimaryError, P4RuntimeError, RpcError, WriteError
from controller.p4rt.messages import (
    MessageCodec,
    arbitration_outcome,
    arbitration_request,
    code_name,
    get_pipeline_request,
    set_pipeline_request,
    write_failures,
)
from controller.p4rt.p4info import P4InfoIndex

_MAX_MESSAGE = 256 * 1024 * 1024  # bmv2 JSON and P4Info of big programs exceed gRPC's 4 MiB
_STATUS_DETAILS_KEY = "grpc-status-details-bin"

T = TypeVar("T")

log = logging.getLogger("p4handoff.p4rt")


def grpc_tls_options(address: str) -> list[tuple[str, str]]:
    """Channel options for a TLS channel to `address`. gRPC checks a `unix:`
    address's server against the socket's path, which no certificate names;
    a local socket's server is `localhost`, as the lab's switch certificate says."""
    if address.startswith("unix:"):
        return [("grpc.ssl_target_name_override", "localhost")]
    return []


class P4RuntimeClient:
    """A P4Runtime session with one switch.

    `on_primacy(is_primary)` is called from the stream thread whenever this
    client becomes or stops being the primary controller. With `credentials`
    (grpc.ssl_channel_credentials) the session runs over TLS.
    """

    def __init__(
        self,
        address: str,
        *,
        device_id: int = 0,
        election_id: int = 1,
        role: str = "",
        p4info: p4i.P4Info | P4InfoIndex | None = None,
        timeout: float = 10.0,
        on_primacy: Callable[[bool], None] | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.address = address
        self.device_id = device_id
        self.election_id = election_id
        self.role = role
        self.timeout = timeout
        self.credentials = credentials
        self._on_primacy = on_primacy
        self._codec: MessageCodec | None = None
        self._entities: EntityFactory | None = None
        if p4info is not None:
            self._adopt(p4info)
        self._channel: grpc.Channel | None = None
        self._stub: p4r_grpc.P4RuntimeStub | None = None
        # Per session (reset by connect): a closed session's queue ends with
        # the None that stopped its stream, and its events stay set.
        self._requests: queue.Queue[p4r.StreamMessageRequest | None] = queue.Queue()
        self._stream: grpc.Future | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self._arbitrated = threading.Event()
        self._is_primary = False
        self.primary_election_id = 0
        self.arbitration_status = ""
        # (gRPC status name, details) when the switch ended the stream.
        self.stream_error: tuple[str, str] | None = None
        self._packets: queue.Queue[p4r.PacketIn] = queue.Queue()
        self._digests: queue.Queue[p4r.DigestList] = queue.Queue()
        self._idle: queue.Queue[p4r.IdleTimeoutNotification] = queue.Queue()

    # ------------------------------------------------------------ session

    def connect(self) -> bool:
        """Opens the channel and the stream and waits for the arbitration
        answer; returns whether this client is the primary. Connecting again
        (after close(), or after the switch ended the stream) starts a fresh
        session: the previous one is closed and its error forgotten."""
        if self._channel is not None:
            self.close()
        self._requests = queue.Queue()
        self._arbitrated = threading.Event()
        self.stream_error = None
        self.primary_election_id = 0
        self.arbitration_status = ""
        options = [
            ("grpc.max_send_message_length", _MAX_MESSAGE),
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
        ]
        if self.credentials is None:
            self._channel = grpc.insecure_channel(self.address, options=options)
        else:
            self._channel = grpc.secure_channel(
                self.address, self.credentials, options=[*options, *grpc_tls_options(self.address)]
            )
        try:
            grpc.channel_ready_future(self._channel).result(timeout=self.timeout)
        except grpc.FutureTimeoutError:
            self._channel.close()
            self._channel = None
            raise RpcError(
                "connect",
                "UNAVAILABLE",
                f"no P4Runtime server at {self.address} within {self.timeout}s",
            ) from None
        self._stub = p4r_grpc.P4RuntimeStub(self._channel)
        self._requests.put(arbitration_request(self.device_id, self.election_id, self.role))
        responses = self._stub.StreamChannel(self._request_stream(self._requests))
        self._stream = responses
        self._reader = threading.Thread(
            target=self._read_stream,
            args=(responses, self._arbitrated),
            name=f"p4rt-stream-{self.address}",
            daemon=True,
        )
        self._reader.start()
        if not self._arbitrated.wait(self.timeout):
            self.close()
            raise RpcError(
                "StreamChannel",
                "DEADLINE_EXCEEDED",
                f"{self.address} sent no arbitration answer within {self.timeout}s",
            )
        if self.stream_error is not None and not self._is_primary:
            raise RpcError("StreamChannel", *self.stream_error)
        return self._is_primary

    def close(self) -> None:
        """Ends the stream (giving up primacy) and the channel."""
        self._requests.put(None)
        if self._stream is not None:
            self._stream.cancel()
        if self._reader is not None:
            self._reader.join(timeout=self.timeout)
        if self._channel is not None:
            self._channel.close()
        self._channel = self._stub = self._stream = self._reader = None
        with self._lock:
            self._is_primary = False

    def __enter__(self) -> P4RuntimeClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_primary(self) -> bool:
        with self._lock:
            return self._is_primary

    def require_primary(self) -> None:
        """Raises NotPrimaryError unless this client is the primary right now."""
        if not self.is_primary:
            raise NotPrimaryError(
                "arbitration",
                "PERMISSION_DENIED",
                f"election id {self.election_id} is not primary on {self.address} "
                f"({self.arbitration_status or 'no arbitration answer'})",
            )

    # ------------------------------------------------------------ pipeline

    @property
    def index(self) -> P4InfoIndex:
        return self._require_codec().index

    @property
    def entities(self) -> EntityFactory:
        """Builds entities by name against the pipeline's P4Info: one factory
        per pipeline, so what is cached per factory (the controller's flow
        entries) outlives the call."""
        index = self.index
        if self._entities is None or self._entities.index is not index:
            self._entities = EntityFactory(index)
        return self._entities

    def set_pipeline(self, p4info: p4i.P4Info, device_config: bytes, cookie: int = 0) -> None:
        """Installs a pipeline: P4Info plus the target's device config (p4sim's
        envelope or bmv2's JSON), and uses that P4Info from then on."""
        request = set_pipeline_request(
            self.device_id, self.election_id, p4info, device_config, cookie, self.role
        )
        self._unary(
            "SetForwardingPipelineConfig", self._require_stub().SetForwardingPipelineConfig, request
        )
        self._adopt(p4info)

    def ensure_pipeline(self, p4info: p4i.P4Info, device_config: bytes) -> bool:
        """Installs the pipeline unless the switch already runs this exact one
        (same P4Info and device config, recognised by a content-hash cookie),
        so a restarted controller keeps the switch's entries. Returns whether
        it installed."""
        cookie = pipeline_cookie(p4info, device_config)
        try:
            _, current = self.fetch_pipeline()
        except RpcError:
            current = None
        if current == cookie:
            return False
        self.set_pipeline(p4info, device_config, cookie)
        return True

    def fetch_pipeline(self) -> tuple[p4i.P4Info, int]:
        """The switch's current P4Info and cookie, adopted for later calls (a
        restarted controller resumes this way)."""
        response = self._unary(
            "GetForwardingPipelineConfig",
            self._require_stub().GetForwardingPipelineConfig,
            get_pipeline_request(self.device_id),
        )
        if not response.config.HasField("p4info"):
            raise RpcError(
                "GetForwardingPipelineConfig",
                "FAILED_PRECONDITION",
                f"{self.address} has no pipeline installed",
            )
        self._adopt(response.config.p4info)
        return response.config.p4info, response.config.cookie.cookie

    # ------------------------------------------------------------ write / read

    def write(self, updates: Sequence[Update], atomicity: str = "CONTINUE_ON_ERROR") -> None:
        """Sends one batch. On failure raises WriteError listing each failed
        update with the switch's p4.v1.Error (NotPrimaryError when the switch
        says this client is not primary)."""
        if not updates:
            return
        request = self._require_codec().write_request(self.election_id, updates, atomicity)
        try:
            self._require_stub().Write(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            code = _code(exc)
            if code == "PERMISSION_DENIED":
                raise NotPrimaryError("Write", code, _details(exc)) from None
            details = dict(exc.trailing_metadata() or ()).get(_STATUS_DETAILS_KEY)
            failures = write_failures(details, updates) if isinstance(details, bytes) else ()
            raise WriteError(code, _details(exc), failures) from None

    def insert(self, *entities: Entity) -> None:
        self.write([Update.insert(e) for e in entities])

    def modify(self, *entities: Entity) -> None:
        self.write([Update.modify(e) for e in entities])

    def delete(self, *entities: Entity) -> None:
        self.write([Update.delete(e) for e in entities])

    def read(self, *queries: Entity, counters: bool = False) -> list[Entity]:
        """Every entity matching the queries (wildcards as P4Runtime defines).
        `counters` asks for the direct counter data of the table entries in
        the same Read (their `counter` is then filled for tables that have one)."""
        codec = self._require_codec()
        request = codec.read_request(queries)
        if counters:
            for entity in request.entities:
                if entity.HasField("table_entry"):
                    entity.table_entry.counter_data.SetInParent()
        try:
            responses = list(self._require_stub().Read(request, timeout=self.timeout))
        except grpc.RpcError as exc:
            raise RpcError("Read", _code(exc), _details(exc)) from None
        return [codec.decode_entity(e) for response in responses for e in response.entities]

    def read_table(self, table: str | None = None, *, counters: bool = False) -> list[TableEntry]:
        """The entries of one table (every table when None), without defaults;
        with `counters`, each entry of a table with a direct counter carries
        its packets and bytes (one Read instead of one per entry)."""
        found = self.read(self.entities.table_query(table), counters=counters)
        return [e for e in found if isinstance(e, TableEntry)]

    def read_direct_counter(self, entry: TableEntry) -> CounterData:
        """Packets and bytes counted for one table entry."""
        for found in self.read(self.entities.direct_counter(entry)):
            if isinstance(found, DirectCounterEntry) and found.data is not None:
                return found.data
        raise RpcError("Read", "NOT_FOUND", f"no direct counter data for {entry}")

    # ------------------------------------------------------------ stream

    def send_packet(self, packet: PacketOut) -> None:
        self._require_stub()
        self._requests.put(self._require_codec().packet_out(packet))

    def enable_digest(
        self,
        name: str,
        *,
        max_timeout_ns: int = 0,
        max_list_size: int = 1,
        ack_timeout_ns: int = 1_000_000_000,
    ) -> None:
        """Asks the switch to send digest `name` (targets send none unconfigured)."""
        self.insert(
            self.entities.digest_entry(
                name,
                max_timeout_ns=max_timeout_ns,
                max_list_size=max_list_size,
                ack_timeout_ns=ack_timeout_ns,
            )
        )

    def receive_packet(self, timeout: float | None = None) -> PacketIn | None:
        message = _get(self._packets, timeout)
        return None if message is None else self._require_codec().decode_packet_in(message)

    def receive_digest(self, timeout: float | None = None) -> DigestList | None:
        """The next digest list (already acknowledged to the switch)."""
        message = _get(self._digests, timeout)
        return None if message is None else self._require_codec().decode_digest_list(message)

    def receive_idle_timeout(self, timeout: float | None = None) -> IdleTimeout | None:
        message = _get(self._idle, timeout)
        return None if message is None else self._require_codec().decode_idle_timeout(message)

    # ------------------------------------------------------------ internals

    def _adopt(self, p4info: p4i.P4Info | P4InfoIndex) -> None:
        index = p4info if isinstance(p4info, P4InfoIndex) else P4InfoIndex(p4info)
        self._codec = MessageCodec(index, self.device_id, self.role)

    def _require_codec(self) -> MessageCodec:
        if self._codec is None:
            raise P4RuntimeError(
                "no P4Info yet: pass p4info=, or call set_pipeline() or fetch_pipeline()"
            )
        return self._codec

    def _require_stub(self) -> p4r_grpc.P4RuntimeStub:
        if self._stub is None:
            raise P4RuntimeError(f"not connected to {self.address}: call connect() first")
        return self._stub

    def _unary(self, rpc: str, method: Callable[..., T], request: object) -> T:
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            code = _code(exc)
            error = NotPrimaryError if code == "PERMISSION_DENIED" else RpcError
            raise error(rpc, code, _details(exc)) from None

    @staticmethod
    def _request_stream(
        requests: queue.Queue[p4r.StreamMessageRequest | None],
    ) -> Iterator[p4r.StreamMessageRequest]:
        while True:
            message = requests.get()
            if message is None:
                return
            yield message

    def _read_stream(
        self, responses: Iterator[p4r.StreamMessageResponse], arbitrated: threading.Event
    ) -> None:
        try:
            for response in responses:
                self._dispatch(response, arbitrated)
        except grpc.RpcError as exc:
            if _code(exc) != "CANCELLED":
                self.stream_error = (_code(exc), _details(exc))
        finally:
            self._set_primary(False)
            arbitrated.set()

    def _dispatch(self, response: p4r.StreamMessageResponse, arbitrated: threading.Event) -> None:
        kind = response.WhichOneof("update")
        if kind == "arbitration":
            is_primary, election_id, status = arbitration_outcome(response.arbitration)
            self.primary_election_id = election_id
            self.arbitration_status = status
            self._set_primary(is_primary)
            arbitrated.set()
        elif kind == "packet":
            self._packets.put(response.packet)
        elif kind == "digest":
            digest = response.digest
            self._requests.put(MessageCodec.digest_ack(digest.digest_id, digest.list_id))
            self._digests.put(digest)
        elif kind == "idle_timeout_notification":
            self._idle.put(response.idle_timeout_notification)
        elif kind == "error":  # e.g. a refused packet-out; nothing waits for it
            error = response.error
            log.warning(
                "stream error from %s: %s: %s", self.address,
                code_name(error.canonical_code), error.message,
            )  # fmt: skip

    def _set_primary(self, is_primary: bool) -> None:
        with self._lock:
            changed = is_primary != self._is_primary
            self._is_primary = is_primary
        if changed and self._on_primacy is not None:
            self._on_primacy(is_primary)


def pipeline_cookie(p4info: p4i.P4Info, device_config: bytes) -> int:
    """A 63-bit content hash of a pipeline, used as its P4Runtime cookie."""
    digest = hashlib.sha256(p4info.SerializeToString(deterministic=True) + device_config).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _get(source: queue.Queue[T], timeout: float | None) -> T | None:
    try:
        return source.get(timeout=timeout) if timeout != 0 else source.get_nowait()
    except queue.Empty:
        return None


def _code(exc: grpc.RpcError) -> str:
    status = exc.code() if hasattr(exc, "code") else None
    return status.name if status is not None else "UNKNOWN"


def _details(exc: grpc.RpcError) -> str:
    return str(exc.details()) if hasattr(exc, "details") else str(exc)
