"""P4Runtime conformance: Capabilities and the forwarding pipeline RPCs."""

from __future__ import annotations

import gc
import linecache
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from finsy.proto import p4r
from p4rt_support import Client, Names, compiled, pipeline_config, start_switch, update
from paths import ROOT

from p4sim.server.server import ServerThread

SMOKE = ROOT / "ptf_tests" / "smoke" / "smoke.p4"
Set = p4r.SetForwardingPipelineConfigRequest
Get = p4r.GetForwardingPipelineConfigRequest


@pytest.fixture()
def switch() -> Iterator[ServerThread]:
    server = start_switch()
    yield server
    server.stop()


@pytest.fixture()
def client(switch: ServerThread) -> Iterator[Client]:
    c = Client(switch.address)
    assert c.arbitrate().status.code == 0
    yield c
    c.close()


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code()


def _get(client: Client, kind: int = Get.ALL, device_id: int = 0) -> p4r.ForwardingPipelineConfig:
    request = Get(device_id=device_id, response_type=kind)
    return client.stub.GetForwardingPipelineConfig(request).config


def test_capabilities_reports_the_api_version(client: Client) -> None:
    response = client.stub.Capabilities(p4r.CapabilitiesRequest())
    assert response.p4runtime_api_version == "1.4.0"


def test_get_before_any_config_is_failed_precondition(client: Client) -> None:
    assert _code(lambda: _get(client)) == grpc.StatusCode.FAILED_PRECONDITION


def test_set_from_a_client_that_is_not_primary_is_permission_denied(switch: ServerThread) -> None:
    stranger = Client(switch.address, election=7)  # never arbitrated
    try:
        call = lambda: stranger.set_pipeline(pipeline_config(compiled()), Set.VERIFY_AND_COMMIT)  # noqa: E731
        assert _code(call) == grpc.StatusCode.PERMISSION_DENIED
    finally:
        stranger.close()


def test_commit_then_get_answers_every_response_type(client: Client) -> None:
    program = compiled()
    client.set_pipeline(pipeline_config(program, cookie=42), Set.VERIFY_AND_COMMIT)
    full = _get(client)
    assert full.cookie.cookie == 42
    assert full.p4info == program.p4info
    assert full.p4_device_config == program.device_config
    cookie = _get(client, Get.COOKIE_ONLY)
    assert (
        cookie.cookie.cookie == 42 and not cookie.HasField("p4info") and not cookie.p4_device_config
    )
    info = _get(client, Get.P4INFO_AND_COOKIE)
    assert info.HasField("p4info") and not info.p4_device_config
    device = _get(client, Get.DEVICE_CONFIG_AND_COOKIE)
    assert device.p4_device_config and not device.HasField("p4info")
    assert _code(lambda: _get(client, device_id=9)) == grpc.StatusCode.NOT_FOUND


def test_verify_checks_without_installing(client: Client) -> None:
    client.set_pipeline(pipeline_config(compiled()), Set.VERIFY)
    assert _code(lambda: _get(client)) == grpc.StatusCode.FAILED_PRECONDITION


def test_a_p4info_that_does_not_match_the_program_is_invalid_argument(client: Client) -> None:
    config = pipeline_config(compiled())
    config.p4info.tables[0].match_fields[0].bitwidth += 1
    call = lambda: client.set_pipeline(config, Set.VERIFY_AND_COMMIT)  # noqa: E731
    assert _code(call) == grpc.StatusCode.INVALID_ARGUMENT


def test_a_device_config_that_is_not_a_program_is_invalid_argument(client: Client) -> None:
    config = pipeline_config(compiled())
    config.p4_device_config = b"\xff\x00 not a program"
    call = lambda: client.set_pipeline(config, Set.VERIFY_AND_COMMIT)  # noqa: E731
    assert _code(call) == grpc.StatusCode.INVALID_ARGUMENT


def test_p4_source_is_accepted_as_device_config(client: Client) -> None:
    program = compiled()
    config = pipeline_config(program)
    config.p4_device_config = (
        program.source.encode() if isinstance(program.source, str) else program.source
    )
    client.set_pipeline(config, Set.VERIFY_AND_COMMIT)
    assert _get(client, Get.P4INFO_AND_COOKIE).p4info == program.p4info


def test_commit_needs_a_saved_config_and_takes_none(client: Client) -> None:
    assert (
        _code(lambda: client.set_pipeline(None, Set.COMMIT)) == grpc.StatusCode.FAILED_PRECONDITION
    )
    config = pipeline_config(compiled())
    client.set_pipeline(config, Set.VERIFY_AND_SAVE)
    assert (
        _code(lambda: client.set_pipeline(config, Set.COMMIT)) == grpc.StatusCode.INVALID_ARGUMENT
    )
    client.set_pipeline(None, Set.COMMIT)
    assert _get(client).p4info == config.p4info


def test_writes_after_save_survive_the_commit(client: Client, switch: ServerThread) -> None:
    config = pipeline_config(compiled())
    names = Names(config.p4info)
    client.set_pipeline(config, Set.VERIFY_AND_SAVE)
    entry = names.entry("l2_fwd", {"hdr.ethernet.dstAddr": ("exact", 0xA)}, "forward", {"port": 2})
    client.write([update(p4r.Update.INSERT, table_entry=entry)])
    assert switch.call(lambda: switch.device.dataplane.switch) is None  # not forwarding yet
    client.set_pipeline(None, Set.COMMIT)
    read = client.read(p4r.Entity(table_entry=p4r.TableEntry(table_id=entry.table_id)))
    assert [e.table_entry.match for e in read] == [entry.match]


def test_reconcile_keeps_entries_and_commit_clears_them(client: Client) -> None:
    config = pipeline_config(compiled())
    names = Names(config.p4info)
    client.set_pipeline(config, Set.VERIFY_AND_COMMIT)
    entry = names.entry("l2_fwd", {"hdr.ethernet.dstAddr": ("exact", 0xB)}, "forward", {"port": 1})
    client.write([update(p4r.Update.INSERT, table_entry=entry)])
    wanted = p4r.Entity(table_entry=p4r.TableEntry(table_id=entry.table_id))
    client.set_pipeline(config, Set.RECONCILE_AND_COMMIT)
    assert len(client.read(wanted)) == 1
    client.set_pipeline(config, Set.VERIFY_AND_COMMIT)
    assert client.read(wanted) == []


def test_the_server_listens_on_a_unix_socket(tmp_path: Path) -> None:
    server = ServerThread()
    try:
        address = server.start(f"unix:{tmp_path / 'p4rt.sock'}")
        client = Client(address)
        try:
            assert client.arbitrate().status.code == 0
            assert client.stub.Capabilities(p4r.CapabilitiesRequest()).p4runtime_api_version
        finally:
            client.close()
    finally:
        server.stop()


def test_reconcile_that_cannot_keep_the_entries_fails_and_keeps_the_old_pipeline(
    client: Client,
) -> None:
    config = pipeline_config(compiled())
    names = Names(config.p4info)
    client.set_pipeline(config, Set.VERIFY_AND_COMMIT)
    entry = names.entry("l2_fwd", {"hdr.ethernet.dstAddr": ("exact", 0xC)}, "forward", {"port": 1})
    client.write([update(p4r.Update.INSERT, table_entry=entry)])
    other = pipeline_config(compiled(SMOKE))
    with pytest.raises(grpc.RpcError) as info:
        client.set_pipeline(other, Set.RECONCILE_AND_COMMIT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "MyIngress.l2_fwd" in (info.value.details() or "")
    wanted = p4r.Entity(table_entry=p4r.TableEntry(table_id=entry.table_id))
    assert len(client.read(wanted)) == 1


def test_replaced_pipelines_leave_linecache(client: Client) -> None:
    """Every SetForwardingPipelineConfig compiles the program again; the
    generated module of a replaced pipeline must leave linecache with it, or
    a controller pushing its pipeline again and again grows the switch."""
    program = compiled()

    def entries() -> list[str]:
        return [name for name in linecache.cache if name.startswith(f"<p4sim {program.name} ")]

    for _ in range(8):
        client.set_pipeline(pipeline_config(program), Set.VERIFY_AND_COMMIT)
    gc.collect()
    assert len(entries()) == 2  # the installed pipeline and `program` itself
