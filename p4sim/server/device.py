"""One P4Runtime device: pipeline, arbitration, data plane and the streams
that tie them together.

Everything here runs on one asyncio event loop: gRPC handlers, port
callbacks and timers take turns, so the switch needs no locks and a Write
batch is never interleaved with a packet. Handlers call these methods and
turn `ControlPlaneError` into gRPC status codes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

from finsy.proto import p4r

from p4sim.errors import ControlPlaneError
from p4sim.ports.pcap import PcapSet
from p4sim.runtime.tables import TableEntry
from p4sim.server.arbitration import Arbitration, Controller
from p4sim.server.dataplane import Dataplane, Digests
from p4sim.server.digests import DigestEngine
from p4sim.server.idle import IdleTimers
from p4sim.server.packetio import packet_in_message, packet_out_frame
from p4sim.server.pipeline import Pipeline, compile_device_config
from p4sim.server.read import Reader
from p4sim.server.reconcile import carry_state
from p4sim.server.translate import encode_matches
from p4sim.server.write import Writer

log = logging.getLogger(__name__)

SetAction = p4r.SetForwardingPipelineConfigRequest
GetType = p4r.GetForwardingPipelineConfigRequest


class Device:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        device_id: int = 0,
        cpu_port: int | None = None,
        pcap: PcapSet | None = None,
    ) -> None:
        self.loop = loop
        self.device_id = device_id
        self.cpu_port = cpu_port
        self.arbitration = Arbitration(device_id)
        self.idle = IdleTimers(loop, self._report_idle)
        self.digests = DigestEngine(loop, self.send_to_primaries)
        self.dataplane = Dataplane(cpu_port, self._packet_in, self._digests_from_switch, pcap)
        self.pipeline: Pipeline | None = None  # what Read and Write address
        self._saved: Pipeline | None = None  # VERIFY_AND_SAVE'd, not committed yet
        self._writer: Writer | None = None
        self._config_lock = asyncio.Lock()

    # -- pipeline ------------------------------------------------------------

    def install(self, pipeline: Pipeline, forward: bool = True) -> None:
        """Make `pipeline` the one Read/Write address; with `forward` also
        the one that forwards packets."""
        self.idle.clear()
        self.digests.clear()
        self.pipeline = pipeline
        self._writer = Writer(pipeline, self.idle, self.digests)
        if forward:
            self.dataplane.switch = pipeline.switch
            self._saved = None
        else:
            self._saved = pipeline

    async def set_pipeline(self, request: p4r.SetForwardingPipelineConfigRequest) -> None:
        self.arbitration.check_write(request.device_id, request.role, _election(request))
        action = request.action
        async with self._config_lock:
            if action == SetAction.COMMIT:
                if request.HasField("config"):
                    raise ControlPlaneError("INVALID_ARGUMENT", "COMMIT takes no config")
                if self._saved is None:
                    raise ControlPlaneError("FAILED_PRECONDITION", "no saved config to commit")
                saved = self._saved
                self.dataplane.switch = saved.switch
                self._saved = None
                return
            if action not in (
                SetAction.VERIFY,
                SetAction.VERIFY_AND_SAVE,
                SetAction.VERIFY_AND_COMMIT,
                SetAction.RECONCILE_AND_COMMIT,
            ):
                raise ControlPlaneError("INVALID_ARGUMENT", f"unknown action {action}")
            if not request.HasField("config"):
                raise ControlPlaneError("INVALID_ARGUMENT", "config missing")
            program = await asyncio.to_thread(
                compile_device_config, request.config.p4_device_config
            )
            pipeline = Pipeline.build(program, request.config, self.cpu_port)
            if action == SetAction.VERIFY:
                return
            if action == SetAction.RECONCILE_AND_COMMIT:
                old = self.pipeline
                if old is not None:
                    carry_state(old, pipeline)
                self.install(pipeline)
                for name, table in pipeline.switch.tables.items():
                    for entry in table.entries():
                        self.idle.arm(table, name, entry)
                return
            self.install(pipeline, forward=action == SetAction.VERIFY_AND_COMMIT)

    def get_pipeline(
        self, request: p4r.GetForwardingPipelineConfigRequest
    ) -> p4r.GetForwardingPipelineConfigResponse:
        self.check_device(request.device_id)
        pipeline = self.require_pipeline()
        stored = pipeline.config
        response = p4r.GetForwardingPipelineConfigResponse()
        config = response.config
        kind = request.response_type
        if stored.HasField("cookie"):
            config.cookie.CopyFrom(stored.cookie)
        if kind in (GetType.ALL, GetType.P4INFO_AND_COOKIE):
            config.p4info.CopyFrom(stored.p4info)
        if kind in (GetType.ALL, GetType.DEVICE_CONFIG_AND_COOKIE):
            config.p4_device_config = stored.p4_device_config
        if kind not in (
            GetType.ALL,
            GetType.COOKIE_ONLY,
            GetType.P4INFO_AND_COOKIE,
            GetType.DEVICE_CONFIG_AND_COOKIE,
        ):
            raise ControlPlaneError("INVALID_ARGUMENT", f"unknown response_type {kind}")
        return response

    def check_device(self, device_id: int) -> None:
        if device_id != self.device_id:
            raise ControlPlaneError("NOT_FOUND", f"device id {device_id} is not {self.device_id}")

    def require_pipeline(self) -> Pipeline:
        if self.pipeline is None:
            raise ControlPlaneError("FAILED_PRECONDITION", "no forwarding pipeline config set")
        return self.pipeline

    # -- Write / Read ----------------------------------------------------------

    def write(self, request: p4r.WriteRequest) -> list[ControlPlaneError | None]:
        self.arbitration.check_write(request.device_id, request.role, _election(request))
        self.require_pipeline()
        assert self._writer is not None
        return self._writer.apply(request.updates, request.atomicity)

    def read(self, request: p4r.ReadRequest) -> Iterator[p4r.Entity]:
        """Validates the whole request first; the iterator streams the answer."""
        self.check_device(request.device_id)
        reader = Reader(self.require_pipeline(), self.digests)
        producers = reader.plan(request.entities)
        return (entity for produce in producers for entity in produce())

    # -- streams ---------------------------------------------------------------

    def send_to_primaries(self, message: p4r.StreamMessageResponse) -> bool:
        sent = False
        for controller in self.arbitration.primaries():
            sent = controller.send(message) or sent
        return sent

    def packet_out(self, controller: Controller, msg: p4r.PacketOut) -> None:
        primary = self.arbitration.primary(controller.role or "")
        if controller.role is None or primary is not controller:
            raise ControlPlaneError(
                "PERMISSION_DENIED", "only the primary controller may send packets"
            )
        if self.cpu_port is None:
            raise ControlPlaneError("FAILED_PRECONDITION", "p4sim runs without --cpu-port")
        pipeline = self.require_pipeline()
        frame = packet_out_frame(msg, pipeline.index.packet_out)
        self.dataplane.receive(self.cpu_port, frame)

    def digest_ack(self, controller: Controller, msg: p4r.DigestListAck) -> None:
        if controller.role is None or self.arbitration.primary(controller.role) is not controller:
            raise ControlPlaneError(
                "PERMISSION_DENIED", "only the primary controller may ack digests"
            )
        self.digests.ack(msg.digest_id, msg.list_id)

    def _packet_in(self, frame: bytes) -> None:
        pipeline = self.pipeline
        if pipeline is None:
            return
        self.send_to_primaries(packet_in_message(frame, pipeline.index.packet_in))

    def _digests_from_switch(self, digests: Digests) -> None:
        pipeline = self.pipeline
        if pipeline is None:
            return
        ids = pipeline.index.digest_ids
        for name, values in digests:
            digest_id = ids.get(name)
            if digest_id is None:
                log.debug("digest %s is not in the P4Info; dropped", name)
                continue
            self.digests.offer(digest_id, values)

    def _report_idle(self, due: list[tuple[str, TableEntry]]) -> None:
        pipeline = self.pipeline
        if pipeline is None:
            return
        message = p4r.StreamMessageResponse()
        note = message.idle_timeout_notification
        for table_name, entry in due:
            ref = pipeline.index.tables_by_name.get(table_name)
            if ref is None:
                continue
            te = note.table_entry.add(table_id=ref.id, priority=entry.priority)
            encode_matches(entry.matches, ref, te)
            te.idle_timeout_ns = entry.idle_timeout_ns
            if entry.metadata:
                te.metadata = entry.metadata
        note.timestamp = time.time_ns()
        if note.table_entry:
            self.send_to_primaries(message)


def _election(
    request: p4r.WriteRequest | p4r.SetForwardingPipelineConfigRequest,
) -> p4r.Uint128 | None:
    return request.election_id if request.HasField("election_id") else None
