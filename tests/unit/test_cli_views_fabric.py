"""`handoff flows` and `handoff trace` of a lab with several switches name
the entry switch holding each flow's entry; with one switch nothing changes."""

from __future__ import annotations

from rich.console import Console

from controller.lab import views
from controller.proto import handoff_pb2 as pb


def render(renderable: object, width: int) -> str:
    console = Console(width=width, record=True)
    console.print(renderable)
    text = console.export_text()
    assert all(len(line) <= width for line in text.splitlines()), text
    return text


def flow(port: int, switches: list[str]) -> pb.Flow:
    return pb.Flow(
        ref=pb.FlowRef(forwarder="10.0.0.1", backend="10.0.5.12", flow_id=0x00010000 + port),
        connection=pb.Connection(
            client_ip="10.0.1.10", client_port=port, vip="10.0.0.100", vip_port=80
        ),
        backend_name="b2", classifier="k2", state="installed", created_at=100.0,
        on_switch=True, packets=3, bytes=300, switches=switches,
    )  # fmt: skip


def test_flows_name_the_entry_switch_with_several_switches() -> None:
    response = pb.ListFlowsResponse(flows=[flow(40000, ["leaf1"]), flow(40001, ["leaf1"])])
    for width in (80, 200):
        text = render(views.flows_table(response, now=110.0, width=width), width)
        header = next(line for line in text.splitlines() if "client" in line)
        assert "switch" in header
        assert text.count("leaf1") == 2
    document = views.flows_json(response, now=110.0)
    assert [f["switches"] for f in document["flows"]] == [["leaf1"], ["leaf1"]]  # type: ignore[index]


def test_one_switch_lists_no_switch() -> None:
    response = pb.ListFlowsResponse(flows=[flow(40000, [])])
    text = render(views.flows_table(response, now=110.0, width=200), 200)
    assert "switch" not in text
    assert "switches" not in views.flows_json(response, now=110.0)["flows"][0]  # type: ignore[index]
