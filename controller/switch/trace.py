"""The controller's part of `handoff trace`: every flow of one connection (or
one flow id) it knows, live or ended, with its switch entry's counters and
how it ended.

The flow table (controller.switch.flowstore) forgets a flow when its id
leaves quarantine; `Controller.ended`, a bounded ring of recently ended flows
with their reason, keeps the story a while longer.
"""

from __future__ import annotations

from controller.proto import handoff_pb2 as pb
from controller.switch.core import Controller
from controller.switch.flowstore import Flow
from controller.switch.tables import host_names


def _selected(flow: pb.Flow | Flow, request: pb.TraceRequest) -> bool:
    if isinstance(flow, pb.Flow):
        ip, port, flow_id = flow.connection.client_ip, flow.connection.client_port, flow.ref.flow_id
    else:
        ip, port, flow_id = flow.client_ip, flow.client_port, flow.flow_id
    return (
        (not request.client_ip or ip == request.client_ip)
        and (not request.client_port or port == request.client_port)
        and (not request.flow_id or flow_id == request.flow_id)
    )


def trace_flows(controller: Controller, request: pb.TraceRequest) -> list[pb.Flow]:
    """Matching flows, newest first: the flow table's (with switch counters;
    ended ones with their reason), then ended flows it no longer holds."""
    ended = {
        (f.forwarder, f.backend, f.flow_id, f.created_at): (f, reason, at)
        for f, reason, at in list(controller.ended)
        if _selected(f, request)
    }
    listed = [f for f in controller.list_flows(True, True) if _selected(f, request)]
    for flow in listed:
        key = (flow.ref.forwarder, flow.ref.backend, flow.ref.flow_id, flow.created_at)
        remembered = ended.pop(key, None)
        if remembered is not None and flow.state == "quarantine":
            flow.end_reason = remembered[1]
    names = host_names(controller.topology)
    for f, reason, at in ended.values():
        listed.append(
            pb.Flow(
                ref=pb.FlowRef(forwarder=f.forwarder, backend=f.backend, flow_id=f.flow_id),
                connection=pb.Connection(client_ip=f.client_ip, client_port=f.client_port,
                                         vip=f.vip, vip_port=f.vip_port),
                backend_name=names.get(f.backend, ""), classifier=f.classifier,
                state="ended", created_at=f.created_at, ended_at=at, end_reason=reason,
            )
        )  # fmt: skip
    listed.sort(key=lambda f: f.created_at, reverse=True)
    return listed[: request.limit] if request.limit else listed
