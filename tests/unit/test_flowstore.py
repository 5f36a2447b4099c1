"""Flow ids: unique per (forwarder, back-end), quarantined after use, durable."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.switch.flowstore import INSTALLED, QUARANTINE, FlowStore, FlowStoreError, usable_id

FWD = "10.0.0.1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(n: int) -> tuple[str, int]:
    return ("10.0.1.10", 40000 + n)


VIP = ("10.0.0.100", 80)


def test_ids_are_unique_per_backend_and_never_put_port_zero_on_the_wire(tmp_path: Path) -> None:
    store = FlowStore(tmp_path / "flows.db")
    ids = [store.allocate(FWD, "b1", client(n), VIP, "k1").flow_id for n in range(50)]
    assert len(set(ids)) == 50
    assert all(usable_id(i) and i >> 16 and i & 0xFFFF for i in ids)
    other = store.allocate(FWD, "b2", client(99), VIP, "k1")
    assert other.flow_id == ids[0]  # another back-end has its own id space


def test_a_connection_has_at_most_one_live_flow(tmp_path: Path) -> None:
    store = FlowStore(tmp_path / "flows.db")
    store.allocate(FWD, "b1", client(1), VIP, "k1")
    with pytest.raises(FlowStoreError, match="already has flow"):
        store.allocate(FWD, "b2", client(1), VIP, "k1")


def test_released_ids_wait_out_the_quarantine(tmp_path: Path) -> None:
    clock = Clock()
    store = FlowStore(tmp_path / "flows.db", quarantine_s=30, clock=clock)
    first = store.allocate(FWD, "b1", client(1), VIP, "k1")
    store.mark_installed(FWD, "b1", first.flow_id)
    store.release(FWD, "b1", first.flow_id)
    assert store.get(*first.key).state == QUARANTINE
    # Wrap the cursor so the next candidate is the quarantined id again.
    store.db.execute("UPDATE cursors SET next_id=?", (first.flow_id,))
    second = store.allocate(FWD, "b1", client(2), VIP, "k1")
    assert second.flow_id != first.flow_id
    clock.now += 31
    assert store.expire_quarantine() == 1
    store.db.execute("UPDATE cursors SET next_id=?", (first.flow_id,))
    third = store.allocate(FWD, "b1", client(3), VIP, "k1")
    assert third.flow_id == first.flow_id


def test_state_changes_are_checked(tmp_path: Path) -> None:
    store = FlowStore(tmp_path / "flows.db")
    flow = store.allocate(FWD, "b1", client(1), VIP, "k1")
    with pytest.raises(FlowStoreError, match="unknown"):
        store.mark_installed(FWD, "b1", flow.flow_id + 1)
    store.release(FWD, "b1", flow.flow_id)
    with pytest.raises(FlowStoreError, match="is quarantine, expected pending"):
        store.mark_installed(FWD, "b1", flow.flow_id)


def test_flows_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "flows.db"
    store = FlowStore(path)
    flow = store.allocate(FWD, "b1", client(1), VIP, "k1")
    store.mark_installed(FWD, "b1", flow.flow_id)
    store.close()
    reopened = FlowStore(path)
    [again] = reopened.flows(INSTALLED)
    assert again == reopened.find_connection(client(1), VIP)
    assert again.flow_id == flow.flow_id
    assert reopened.allocate(FWD, "b1", client(2), VIP, "k1").flow_id != flow.flow_id


def test_a_batch_of_endings_is_answered_flow_by_flow_and_kept_as_one(tmp_path: Path) -> None:
    """release_many: each flow moves or is refused on its own, the returned
    flows are what a fresh read says, and the endings noted for them are
    forgotten in the same transaction (durable after a restart)."""
    path = tmp_path / "flows.db"
    store = FlowStore(path, clock=Clock())
    live = store.allocate(FWD, "b1", client(1), VIP, "k1")
    [installed] = store.mark_installed_many([live.key])
    assert installed == store.get(*live.key)
    unknown = (FWD, "b1", live.flow_id + 1)
    store.note_endings([(live.key, "fin"), (unknown, "fin")])
    released, refused = store.release_many([live.key, unknown], forget_endings_of=[live.key])
    assert released == store.get(*live.key)
    assert released.state == QUARANTINE and released.released_at == 1000.0  # type: ignore[union-attr]
    assert isinstance(refused, FlowStoreError) and "unknown" in str(refused)
    store.close()
    assert FlowStore(path).endings() == [(unknown, "fin")]
