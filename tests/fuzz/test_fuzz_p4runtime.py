"""Malformed and out-of-range P4Runtime requests against p4sim's server,
running the forwarder with its tables populated.

Where tests/unit/test_p4runtime_robustness.py mutates random protobuf fields of
the conformance program's messages and asks only "never INTERNAL", this suite
knows what each defect is and which status the P4Runtime spec gives it:
random bytes as match and parameter values (OUT_OF_RANGE when they do not
fit, accepted when they do), unknown or misplaced ids, missing, duplicated
and wrong-kind match fields, priorities and timeouts the table does not
take, const defaults, absent and duplicate entries; writes from backups,
unknown elections and wrong devices; broken pipeline configs. After every
rejected atomic batch and every refused request the switch holds exactly
the entries it held before, and the data plane still forwards.

FUZZ_SCALE=n multiplies the random batches (`make fuzz`); FUZZ_SEED changes
the seed.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from finsy.proto import p4i, p4r, rpc_code
from forwarder_harness import client_tcp
from p4rt_support import (
    Client,
    Names,
    compiled,
    inject,
    pipeline_config,
    sent,
    start_switch,
    update,
    write_errors,
)
from paths import FORWARDER_P4

from p4sim.server.server import ServerThread

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
SEED = int(os.environ.get("FUZZ_SEED", "4711"))
BATCHES = 200 * SCALE
READS = 200 * SCALE

CPU_PORT = 255
INSERT, MODIFY, DELETE = p4r.Update.INSERT, p4r.Update.MODIFY, p4r.Update.DELETE
CONTINUE = p4r.WriteRequest.CONTINUE_ON_ERROR
ATOMIC = (p4r.WriteRequest.ROLLBACK_ON_ERROR, p4r.WriteRequest.DATAPLANE_ATOMIC)
PRIMARY_ELECTION = 10

OK = rpc_code.OK
INVALID = rpc_code.INVALID_ARGUMENT
NOT_FOUND = rpc_code.NOT_FOUND
OUT_OF_RANGE = rpc_code.OUT_OF_RANGE
EXISTS = rpc_code.ALREADY_EXISTS
DENIED = rpc_code.PERMISSION_DENIED
UNIMPLEMENTED = rpc_code.UNIMPLEMENTED
ABORTED = rpc_code.ABORTED

# port -> host address; the lab's client, two back-ends, two classifiers.
HOSTS = {1: "10.0.1.10", 2: "10.0.2.11", 3: "10.0.2.12", 4: "10.0.3.10", 5: "10.0.3.11"}
VIP = "10.0.0.100"
TUNNEL_SRC = "10.0.2.1"


def ip(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return a << 24 | b << 16 | c << 8 | d


# ------------------------------------------------------------------ server


@pytest.fixture(scope="module")
def switch() -> Iterator[ServerThread]:
    server = start_switch(tuple(HOSTS), cpu_port=CPU_PORT)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def names() -> Names:
    return Names(compiled(FORWARDER_P4).p4info)


def encap_key(src: int, dst: int, sport: int, dport: int) -> dict[str, tuple[object, ...]]:
    return {
        "ipv4_src": ("exact", src),
        "ipv4_dst": ("exact", dst),
        "tcp_sport": ("exact", sport),
        "tcp_dport": ("exact", dport),
    }


def baseline_entries(names: Names) -> list[p4r.TableEntry]:
    """Host routes, a punt and a drop route, gateways, a VIP's 64 steering
    buckets and a few migrated connections with timeouts and cookies."""
    te = names.entry
    entries = [
        te(
            "routes",
            {"dst_addr": ("lpm", ip(address), 32)},
            "set_next_hop",
            {"port": port, "src_mac": 0x02AA00000000 + port, "dst_mac": 0x020000000000 + port},
        )
        for port, address in HOSTS.items()
    ]
    entries.append(te("routes", {"dst_addr": ("lpm", ip("10.9.0.0"), 16)}, "punt_to_cpu"))
    entries.append(te("routes", {"dst_addr": ("lpm", ip("10.66.0.0"), 16)}, "drop"))
    entries += [
        te(
            "gateway_arp",
            {"gateway_addr": ("exact", ip(f"10.0.{i}.1"))},
            "answer_arp",
            {"gateway_mac": 0x02AA00000000 + i},
        )
        for i in (1, 2, 3)
    ]
    entries += [
        te(
            "vip_steering",
            {"vip": ("exact", ip(VIP)), "bucket": ("exact", bucket)},
            "steer_to_classifier",
            {"classifier": ip(HOSTS[4 + bucket % 2])},
        )
        for bucket in range(64)
    ]
    entries += [
        te(
            "encap_map",
            encap_key(ip(HOSTS[1]), ip(VIP), 40000 + i, 80),
            "encap_to_backend",
            {"flow_id": 0x11110000 + i, "tunnel_src": ip(TUNNEL_SRC), "backend": ip(HOSTS[2])},
            idle_timeout_ns=(i + 1) * 10**12,
            metadata=bytes([i]),
        )
        for i in range(5)
    ]
    return entries


@pytest.fixture(scope="module")
def primary(switch: ServerThread, names: Names) -> Iterator[Client]:
    client = Client(switch.address, election=PRIMARY_ELECTION)
    assert client.arbitrate().status.code == OK
    client.set_pipeline(
        pipeline_config(compiled(FORWARDER_P4)),
        p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
    )
    client.write([update(INSERT, table_entry=e) for e in baseline_entries(names)])
    yield client
    client.close()


@pytest.fixture(scope="module")
def baseline(primary: Client) -> list[bytes]:
    return snapshot(primary)


def snapshot(client: Client) -> list[bytes]:
    """Every table entry the switch holds, as sorted canonical bytes."""
    entities = client.read(p4r.Entity(table_entry=p4r.TableEntry()))
    return sorted(e.SerializeToString(deterministic=True) for e in entities)


def assert_still_serving(switch: ServerThread, client: Client) -> None:
    """Capabilities answers, and a client segment of the first migrated
    connection leaves on the back-end's port rewritten to it."""
    assert client.stub.Capabilities(p4r.CapabilitiesRequest()).p4runtime_api_version
    sent(switch, 2)
    inject(switch, 1, bytes(client_tcp(40000, 80, src=HOSTS[1], dst=VIP)))
    frames = sent(switch, 2)
    assert len(frames) == 1, frames
    assert frames[0][30:34] == ip(HOSTS[2]).to_bytes(4, "big")


def write(client: Client, updates: list[p4r.Update], atomicity: int) -> list[int]:
    """Per-update canonical codes of one Write (all OK when it succeeds)."""
    try:
        client.write(updates, atomicity)
    except grpc.RpcError as error:
        assert error.code() != grpc.StatusCode.INTERNAL, error.details()
        codes = [code for code, _ in write_errors(error)]
        assert len(codes) == len(updates), (error.code(), error.details())
        return codes
    return [OK] * len(updates)


# ---------------------------------------------------------- the defects

Defect = Callable[[random.Random, p4r.TableEntry, p4i.Table, Names], set[int]]


def random_bytes(rng: random.Random) -> bytes:
    size = rng.choice((0, 1, 1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 16, 64))
    raw = rng.randbytes(size)
    if size and rng.random() < 0.3:
        raw = bytes([0]) * rng.randrange(1, 4) + raw[1:]  # leading zeros: still fine
    return raw


def value_verdict(raw: bytes, width: int) -> set[int]:
    if not raw:
        return {INVALID}
    if int.from_bytes(raw, "big") >> width:
        return {OUT_OF_RANGE}
    return {OK, EXISTS}


def width_of(table: p4i.Table, field_id: int) -> int:
    return int(next(f.bitwidth for f in table.match_fields if f.id == field_id))


def d_match_value(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    fm = rng.choice(e.match)
    raw = random_bytes(rng)
    width = width_of(t, fm.field_id)
    if fm.WhichOneof("field_match_type") == "exact":
        fm.exact.value = raw
        return value_verdict(raw, width)
    fm.lpm.value = raw
    verdict = value_verdict(raw, width)
    host_bits = width - fm.lpm.prefix_len
    if verdict == {OK, EXISTS} and int.from_bytes(raw, "big") & ((1 << host_bits) - 1):
        return {INVALID}  # bits beyond the prefix
    return verdict


def d_param_value(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    params = e.action.action.params
    if not params:
        return d_action_id(rng, e, t, n)
    param = rng.choice(params)
    action = next(a for a in n.info.actions if a.preamble.id == e.action.action.action_id)
    width = next(p.bitwidth for p in action.params if p.id == param.param_id)
    param.value = random_bytes(rng)
    return value_verdict(param.value, width)


def d_table_id(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    e.table_id = rng.choice(
        (
            0,
            1,
            rng.getrandbits(32),
            n.info.actions[0].preamble.id,
            n.info.direct_counters[0].preamble.id,
            n.info.digests[0].preamble.id,
        )
    )
    return {NOT_FOUND, INVALID}


def d_field_id(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    rng.choice(e.match).field_id = rng.choice((0, 9, 2**32 - 1, rng.getrandbits(32)))
    return {INVALID, NOT_FOUND}


def d_drop_field(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    del e.match[rng.randrange(len(e.match))]
    if t.match_fields[0].match_type == p4i.MatchField.LPM:
        return {OK, EXISTS}  # an omitted lpm field is the default route
    return {INVALID}


def d_duplicate_field(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    e.match.append(rng.choice(e.match))
    return {INVALID}


def d_match_kind(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    fm = rng.choice(e.match)
    kind = fm.WhichOneof("field_match_type")
    value = getattr(fm, kind).value
    fm.ClearField(kind)
    new = rng.choice([k for k in ("exact", "lpm", "ternary", "range", "optional") if k != kind])
    if new == "exact":
        fm.exact.value = value
    elif new == "lpm":
        fm.lpm.value, fm.lpm.prefix_len = value, len(value) * 8
    elif new == "ternary":
        fm.ternary.value, fm.ternary.mask = value, b"\xff" * len(value)
    elif new == "range":
        fm.range.low, fm.range.high = value, value
    else:
        fm.optional.value = value
    return {INVALID}


def d_action_id(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    own = {ref.id for ref in t.action_refs}
    foreign = [a.preamble.id for a in n.info.actions if a.preamble.id not in own]
    e.action.action.action_id = rng.choice(
        (
            0,
            rng.getrandbits(32),
            rng.choice(foreign),
            n.action("NoAction").preamble.id,
            t.preamble.id,
        )
    )
    return {INVALID, NOT_FOUND}


def d_param_ids(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    params = e.action.action.params
    choice = rng.randrange(3) if params else 2
    if choice == 0:
        del params[rng.randrange(len(params))]
    elif choice == 1:
        params.append(rng.choice(params))
    else:
        params.add(param_id=rng.choice((0, 4, 99, 2**32 - 1)), value=b"\x01")
    return {INVALID}


def d_priority(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    e.priority = rng.choice((1, 7, -1, 2**31 - 1, -(2**31)))
    return {INVALID}


def d_prefix_len(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    lpm = [fm for fm in e.match if fm.WhichOneof("field_match_type") == "lpm"]
    if not lpm:
        return d_duplicate_field(rng, e, t, n)
    lpm[0].lpm.prefix_len = rng.choice((0, 33, 64, -1, 2**31 - 1, -(2**31)))
    return {INVALID}


def d_idle_timeout(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    supported = t.idle_timeout_behavior != p4i.Table.NO_TIMEOUT
    e.idle_timeout_ns = -rng.randrange(1, 2**63) if supported else rng.choice((1, 10**9, 2**63 - 1))
    return {INVALID}


def d_no_action(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    e.ClearField("action")
    return {INVALID}


def d_action_profile(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    if rng.random() < 0.5:
        e.action.action_profile_member_id = rng.getrandbits(32)
    else:
        e.action.action_profile_group_id = rng.getrandbits(32)
    return {INVALID, UNIMPLEMENTED}


def d_default_flag(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    e.is_default_action = True  # an INSERT of a default entry with match fields
    return {INVALID}


def d_meter_config(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    e.meter_config.cir, e.meter_config.cburst = 1, 1
    return {INVALID}


def d_counter_data(rng: random.Random, e: p4r.TableEntry, t: p4i.Table, n: Names) -> set[int]:
    e.counter_data.packet_count = rng.getrandbits(63)
    return {OK, EXISTS} if t.preamble.name.endswith("encap_map") else {INVALID}


DEFECTS: list[Defect] = [
    d_match_value,
    d_match_value,
    d_param_value,
    d_param_value,
    d_table_id,
    d_field_id,
    d_drop_field,
    d_duplicate_field,
    d_match_kind,
    d_action_id,
    d_param_ids,
    d_priority,
    d_prefix_len,
    d_idle_timeout,
    d_no_action,
    d_action_profile,
    d_default_flag,
    d_meter_config,
    d_counter_data,
]


# Updates whose defect is the update itself, not a field of the entry:
# (rng, a fresh valid entry, names) -> (update, allowed codes, label).
OtherUpdate = Callable[[random.Random, p4r.TableEntry, Names], tuple[p4r.Update, set[int], str]]


def u_absent(rng: random.Random, e: p4r.TableEntry, n: Names) -> tuple[p4r.Update, set[int], str]:
    return update(rng.choice((MODIFY, DELETE)), table_entry=e), {NOT_FOUND}, "absent entry"


def u_duplicate(
    rng: random.Random, e: p4r.TableEntry, n: Names
) -> tuple[p4r.Update, set[int], str]:
    entry = rng.choice(baseline_entries(n))
    return update(INSERT, table_entry=entry), {EXISTS}, "duplicate of a baseline entry"


def u_const_default(
    rng: random.Random, e: p4r.TableEntry, n: Names
) -> tuple[p4r.Update, set[int], str]:
    """encap_map, vip_steering and gateway_arp have const default actions."""
    table = rng.choice(("encap_map", "vip_steering", "gateway_arp"))
    action = rng.choice([ref.id for ref in n.table(table).action_refs])
    entry = p4r.TableEntry(table_id=n.table(table).preamble.id, is_default_action=True)
    entry.action.action.action_id = action
    return update(MODIFY, table_entry=entry), {DENIED, INVALID}, "modify a const default"


def u_no_type(rng: random.Random, e: p4r.TableEntry, n: Names) -> tuple[p4r.Update, set[int], str]:
    return p4r.Update(entity=p4r.Entity(table_entry=e)), {INVALID}, "update type unspecified"


def u_no_entity(
    rng: random.Random, e: p4r.TableEntry, n: Names
) -> tuple[p4r.Update, set[int], str]:
    kind = rng.choice((INSERT, MODIFY, DELETE))
    return p4r.Update(type=kind, entity=p4r.Entity()), {INVALID, UNIMPLEMENTED}, "empty entity"


def u_defective_delete(
    rng: random.Random, e: p4r.TableEntry, n: Names
) -> tuple[p4r.Update, set[int], str]:
    """A baseline entry's key made structurally wrong, in a DELETE/MODIFY:
    nothing may be deleted or changed."""
    entry = p4r.TableEntry()
    entry.CopyFrom(rng.choice(baseline_entries(n)))
    defect = rng.choice((d_table_id, d_field_id, d_duplicate_field, d_match_kind, d_priority))
    allowed = defect(rng, entry, table_of(n, entry), n)
    return update(rng.choice((MODIFY, DELETE)), table_entry=entry), allowed, defect.__name__


OTHER_UPDATES: list[OtherUpdate] = [
    u_absent,
    u_duplicate,
    u_const_default,
    u_no_type,
    u_no_entity,
    u_defective_delete,
]


class Fresh:
    """Valid entries no table holds yet, one per call."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.serial = 0

    def __call__(self, rng: random.Random) -> p4r.TableEntry:
        self.serial += 1
        s = self.serial
        te = self.names.entry
        kind = rng.randrange(4)
        if kind == 0:
            return te(
                "encap_map",
                encap_key(0xAC100000 + s, ip(VIP), rng.getrandbits(16), 80),
                "encap_to_backend",
                {
                    "flow_id": rng.getrandbits(32),
                    "tunnel_src": ip(TUNNEL_SRC),
                    "backend": ip(HOSTS[3]),
                },
            )
        if kind == 1:
            return te(
                "routes",
                {"dst_addr": ("lpm", 0x64400000 + (s << 8), 24)},
                rng.choice(("punt_to_cpu", "drop")),
            )
        if kind == 2:
            return te(
                "gateway_arp",
                {"gateway_addr": ("exact", 0xC0A80000 + s)},
                "answer_arp",
                {"gateway_mac": rng.getrandbits(48)},
            )
        return te(
            "vip_steering",
            {"vip": ("exact", 0x0A640000 + s), "bucket": ("exact", rng.randrange(64))},
            "steer_to_classifier",
            {"classifier": ip(HOSTS[4])},
        )


def table_of(names: Names, entry: p4r.TableEntry) -> p4i.Table:
    table: p4i.Table = next(t for t in names.info.tables if t.preamble.id == entry.table_id)
    return table


def restore(client: Client, baseline: list[bytes]) -> None:
    """Delete whatever an accepted update added, then demand the baseline."""
    extra = [p4r.Entity.FromString(raw) for raw in set(snapshot(client)) - set(baseline)]
    if extra:
        client.write([update(DELETE, table_entry=e.table_entry) for e in extra])
    assert snapshot(client) == baseline


# ------------------------------------------------------------------ tests


def test_random_defects_get_their_status_and_atomic_batches_change_nothing(
    switch: ServerThread, primary: Client, names: Names, baseline: list[bytes]
) -> None:
    rng = random.Random(SEED)
    fresh = Fresh(names)
    seen: Counter[tuple[str, int]] = Counter()
    for _ in range(BATCHES):
        updates: list[p4r.Update] = []
        allowed: list[set[int]] = []
        labels: list[str] = []
        for _ in range(rng.randrange(1, 8)):
            entry = fresh(rng)
            if rng.random() < 0.15:
                other, ok, label = rng.choice(OTHER_UPDATES)(rng, entry, names)
                updates.append(other)
                allowed.append(ok)
                labels.append(label)
                continue
            if rng.random() < 0.3:
                updates.append(update(INSERT, table_entry=entry))
                allowed.append({OK})
                labels.append("valid")
                continue
            table = table_of(names, entry)
            defect = rng.choice(DEFECTS)
            allowed.append(defect(rng, entry, table, names))
            updates.append(update(INSERT, table_entry=entry))
            labels.append(defect.__name__)
        atomicity = rng.choice((CONTINUE, CONTINUE, *ATOMIC))
        codes = write(primary, updates, atomicity)
        if atomicity in ATOMIC and any(c != OK for c in codes):
            failed = next(i for i, c in enumerate(codes) if c not in (OK, ABORTED))
            assert codes[failed] in allowed[failed], (labels[failed], codes[failed])
            assert all(c == ABORTED for i, c in enumerate(codes) if i != failed), codes
            seen[(labels[failed], codes[failed])] += 1
            assert snapshot(primary) == baseline, "a rejected atomic batch changed entries"
            continue
        for label, code, ok in zip(labels, codes, allowed, strict=True):
            assert code in ok, (label, code, ok)
            seen[(label, code)] += 1
        restore(primary, baseline)
    assert_still_serving(switch, primary)
    refused = {label for (label, code) in seen if code not in (OK, EXISTS)}
    assert len(refused) >= len(set(DEFECTS)) - 2, sorted(seen)


# --------------------------------------------------------------- elections


def test_writes_outside_the_primary_election_are_denied_and_change_nothing(
    switch: ServerThread, primary: Client, names: Names, baseline: list[bytes]
) -> None:
    backup = Client(switch.address, election=PRIMARY_ELECTION - 1)
    try:
        assert backup.arbitrate().status.code != OK  # not primary
        entry = Fresh(names)(random.Random(1))
        attempts: list[tuple[str, Client, int | None, int]] = [
            ("backup", backup, PRIMARY_ELECTION - 1, 0),
            ("no election id", backup, None, 0),
            ("higher election without a stream", backup, PRIMARY_ELECTION + 1, 0),
            ("election id 0", backup, 0, 0),
        ]
        for label, client, election, device in attempts:
            request = p4r.WriteRequest(
                device_id=device, updates=[update(INSERT, table_entry=entry)]
            )
            if election is not None:
                request.election_id.low = election
            with pytest.raises(grpc.RpcError) as caught:
                client.stub.Write(request, timeout=10)
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, label
        # The primary's own election id on another device, and under a role
        # nobody arbitrated for.
        request = p4r.WriteRequest(device_id=7, updates=[update(INSERT, table_entry=entry)])
        request.election_id.low = PRIMARY_ELECTION
        with pytest.raises(grpc.RpcError) as caught:
            primary.stub.Write(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        request.device_id, request.role = 0, "no-such-role"
        with pytest.raises(grpc.RpcError) as caught:
            primary.stub.Write(request, timeout=10)
        assert caught.value.code() in (
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.UNIMPLEMENTED,
            grpc.StatusCode.NOT_FOUND,
        )
        # A backup may not replace the pipeline either.
        with pytest.raises(grpc.RpcError) as caught:
            backup.set_pipeline(
                pipeline_config(compiled(FORWARDER_P4)),
                p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert snapshot(primary) == baseline
        # Arbitration for a device that does not exist ends that stream only.
        stranger = Client(switch.address, device_id=3, election=PRIMARY_ELECTION + 5)
        try:
            answer = stranger.arbitrate()
            assert isinstance(answer, grpc.RpcError)
            assert answer.code() == grpc.StatusCode.NOT_FOUND
        finally:
            stranger.close()
    finally:
        backup.close()
    assert_still_serving(switch, primary)


# ---------------------------------------------------------------- oversized


def test_oversized_requests_are_refused_or_served_and_leave_the_switch_intact(
    switch: ServerThread, primary: Client, names: Names, baseline: list[bytes]
) -> None:
    te = names.entry
    # A table filled to its size refuses one more entry, in an atomic batch
    # that then leaves nothing behind (gateway_arp: small enough that the
    # per-update error trailer fits grpc's default metadata limit).
    table = names.table("gateway_arp")
    held = sum(
        1
        for raw in baseline
        if p4r.Entity.FromString(raw).table_entry.table_id == table.preamble.id
    )
    fill = [
        update(
            INSERT,
            table_entry=te(
                "gateway_arp",
                {"gateway_addr": ("exact", 0xC0000000 + i)},
                "answer_arp",
                {"gateway_mac": i},
            ),
        )
        for i in range(table.size - held + 1)
    ]
    codes = write(primary, fill, p4r.WriteRequest.ROLLBACK_ON_ERROR)
    assert codes == [ABORTED] * (len(fill) - 1) + [rpc_code.RESOURCE_EXHAUSTED]
    assert snapshot(primary) == baseline
    # Values far wider than their field.
    for size in (5, 64, 1000):
        wide = te(
            "encap_map",
            encap_key(1, 2, 3, 4),
            "encap_to_backend",
            {"flow_id": 1, "tunnel_src": 2, "backend": 3},
        )
        wide.match[0].exact.value = b"\x01" + bytes(size)
        assert write(primary, [update(INSERT, table_entry=wide)], CONTINUE) == [OUT_OF_RANGE]
    # A megabyte of controller cookie is the controller's business.
    cookie = te(
        "gateway_arp",
        {"gateway_addr": ("exact", 0xC0000201)},
        "answer_arp",
        {"gateway_mac": 5},
        metadata=bytes(1 << 20),
    )
    assert write(primary, [update(INSERT, table_entry=cookie)], CONTINUE) == [OK]
    (read_back,) = primary.read(
        p4r.Entity(table_entry=te("gateway_arp", {"gateway_addr": ("exact", 0xC0000201)}))
    )
    assert read_back.table_entry.metadata == bytes(1 << 20)
    restore(primary, baseline)
    # A read naming a thousand entities answers them all (or refuses cleanly).
    lookups = [p4r.Entity(table_entry=te("encap_map", encap_key(i, 2, 3, 4))) for i in range(1000)]
    assert primary.read(*lookups) == []
    assert_still_serving(switch, primary)


# -------------------------------------------------------------------- reads


def test_malformed_reads_get_their_status(
    switch: ServerThread, primary: Client, names: Names, baseline: list[bytes]
) -> None:
    rng = random.Random(SEED + 1)
    fresh = Fresh(names)
    seen: Counter[tuple[str, int]] = Counter()
    read_defects = [
        d_table_id,
        d_field_id,
        d_duplicate_field,
        d_match_kind,
        d_match_value,
        d_prefix_len,
        d_priority,
    ]
    for _ in range(READS):
        entry = fresh(rng)
        entry.ClearField("action")
        defect = rng.choice(read_defects)
        allowed = defect(rng, entry, table_of(names, entry), names) - {EXISTS}
        if OK in allowed:
            allowed.add(OK)  # a well-formed key no table holds: an empty answer
        try:
            found = primary.read(p4r.Entity(table_entry=entry))
            code = OK
            assert found == [], found
        except grpc.RpcError as error:
            code = error.code().value[0]
        assert code in allowed, (defect.__name__, code, allowed)
        seen[(defect.__name__, code)] += 1
    assert snapshot(primary) == baseline
    assert len({label for label, code in seen if code != OK}) >= len(read_defects) - 1, seen
    assert_still_serving(switch, primary)


def test_a_large_match_value_gets_out_of_range(
    switch: ServerThread, primary: Client, names: Names, baseline: list[bytes]
) -> None:
    huge = names.entry(
        "encap_map",
        encap_key(1, 2, 3, 4),
        "encap_to_backend",
        {"flow_id": 1, "tunnel_src": 2, "backend": 3},
    )
    huge.match[0].exact.value = b"\x01" + bytes(8 << 10)
    try:
        assert write(primary, [update(INSERT, table_entry=huge)], CONTINUE) == [OUT_OF_RANGE]
    finally:
        assert snapshot(primary) == baseline


# ------------------------------------------------------------ pipelines


def forwarder_envelope() -> dict[str, object]:
    return dict(json.loads(compiled(FORWARDER_P4).device_config))


def set_pipeline(client: Client, config: p4r.ForwardingPipelineConfig, action: int) -> int:
    try:
        client.set_pipeline(config, action)
    except grpc.RpcError as error:
        return int(error.code().value[0])
    return OK


def broken_configs(
    rng: random.Random, names: Names
) -> Iterator[tuple[str, p4r.ForwardingPipelineConfig]]:
    good = pipeline_config(compiled(FORWARDER_P4))

    def variant(
        label: str, change: Callable[[p4r.ForwardingPipelineConfig], None]
    ) -> tuple[str, p4r.ForwardingPipelineConfig]:
        config = p4r.ForwardingPipelineConfig()
        config.CopyFrom(good)
        change(config)
        return label, config

    def device_config(data: bytes) -> Callable[[p4r.ForwardingPipelineConfig], None]:
        def change(config: p4r.ForwardingPipelineConfig) -> None:
            config.p4_device_config = data

        return change

    source = FORWARDER_P4.read_text()
    yield variant("empty device config", device_config(b""))
    yield variant("random bytes", device_config(rng.randbytes(200)))
    yield variant(
        "P4 source with a syntax error",
        device_config(source.replace("apply {", "apply ", 1).encode()),
    )
    yield variant("P4Info of another program", lambda c: c.p4info.CopyFrom(compiled().p4info))
    yield variant(
        "P4Info with a wider match field",
        lambda c: setattr(c.p4info.tables[1].match_fields[0], "bitwidth", 48),
    )
    yield variant(
        "P4Info with an action param removed",
        lambda c: next(a for a in c.p4info.actions if a.params).params.pop(),
    )
    for key, value in (("format", "bmv2"), ("version", 2), ("main", "/nowhere.p4"), ("files", {})):
        body = forwarder_envelope()
        body[key] = value
        yield variant(f"envelope with {key}={value!r}", device_config(json.dumps(body).encode()))


def test_broken_pipeline_configs_are_refused_and_the_running_one_stays(
    switch: ServerThread, primary: Client, names: Names, baseline: list[bytes]
) -> None:
    rng = random.Random(SEED + 2)
    commit = p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT
    for label, config in broken_configs(rng, names):
        for action in (p4r.SetForwardingPipelineConfigRequest.VERIFY, commit):
            assert set_pipeline(primary, config, action) == INVALID, label
        assert snapshot(primary) == baseline, label
    assert set_pipeline(primary, pipeline_config(compiled(FORWARDER_P4)), 0) == INVALID
    assert set_pipeline(primary, None, commit) == INVALID  # type: ignore[arg-type]
    # Bit flips in the envelope: most break it, some land in a comment and
    # leave a valid program; VERIFY must tell which without touching anything.
    envelope = json.dumps(forwarder_envelope()).encode()
    verdicts: Counter[int] = Counter()
    for _ in range(4 * SCALE):
        flipped = bytearray(envelope)
        for _ in range(rng.randrange(1, 4)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        config = pipeline_config(compiled(FORWARDER_P4))
        config.p4_device_config = bytes(flipped)
        verdicts[set_pipeline(primary, config, p4r.SetForwardingPipelineConfigRequest.VERIFY)] += 1
    assert set(verdicts) <= {OK, INVALID}, verdicts
    assert snapshot(primary) == baseline
    assert_still_serving(switch, primary)


def test_a_device_config_cannot_write_outside_its_temporary_directory(
    switch: ServerThread, primary: Client, baseline: list[bytes], tmp_path: Path
) -> None:
    target = tmp_path / "escaped.p4"
    body = forwarder_envelope()
    files = dict(body["files"])  # type: ignore[call-overload]
    files["/" + "../" * 32 + str(target).lstrip("/")] = "// written by a P4Runtime client\n"
    body["files"] = files
    config = pipeline_config(compiled(FORWARDER_P4))
    config.p4_device_config = json.dumps(body).encode()
    code = set_pipeline(primary, config, p4r.SetForwardingPipelineConfigRequest.VERIFY)
    assert snapshot(primary) == baseline
    assert not target.exists(), "a P4Runtime client wrote a file outside p4sim's temp dir"
    assert code == INVALID


@pytest.mark.parametrize(
    "change",
    [
        {"include_dirs": 7},
        {"include_dirs": [3]},
        {"files": {"/x/main.p4": 5}, "main": "/x/main.p4"},
    ],
    ids=["include_dirs-int", "include_dirs-list-of-int", "file-text-int"],
)
def test_an_envelope_with_wrong_json_types_is_invalid_argument(
    primary: Client, baseline: list[bytes], change: dict[str, object]
) -> None:
    body = forwarder_envelope()
    body.update(change)
    config = pipeline_config(compiled(FORWARDER_P4))
    config.p4_device_config = json.dumps(body).encode()
    code = set_pipeline(primary, config, p4r.SetForwardingPipelineConfigRequest.VERIFY)
    assert snapshot(primary) == baseline
    assert code == INVALID


# --------------------------------------------------------------- packet-out


def wait_for_frames(switch: ServerThread, port: int, timeout: float = 3.0) -> list[bytes]:
    """Frames sent on `port`, waiting for the stream to deliver the first."""
    deadline = time.monotonic() + timeout
    while not (frames := sent(switch, port)) and time.monotonic() < deadline:
        time.sleep(0.005)
    return frames


def test_malformed_packet_outs_get_stream_errors_and_send_nothing(
    switch: ServerThread, primary: Client
) -> None:
    """packet_out metadata: 1 = egress_port (9 bits), 2 = _pad (7 bits)."""
    rng = random.Random(SEED + 3)
    frame = bytes(client_tcp(40000, 80, src=HOSTS[1], dst=VIP))
    fixed: list[tuple[list[tuple[int, bytes]], int]] = [
        ([(9, b"\x02")], INVALID),
        ([(1, b"\x02\x00")], OUT_OF_RANGE),
        ([(1, b"")], INVALID),
        ([(1, b"\x02"), (1, b"\x03")], INVALID),
        ([(1, b"\x02"), (2, b"\xff")], OUT_OF_RANGE),
    ]
    randoms = [([(1, random_bytes(rng))], -1) for _ in range(20 * SCALE)]
    primary.drain()
    for metadata, code in fixed + randoms:
        for port in HOSTS:
            sent(switch, port)
        message = p4r.PacketOut(payload=frame)
        for metadata_id, value in metadata:
            message.metadata.add(metadata_id=metadata_id, value=value)
        primary.send(packet=message)
        value = metadata[0][1]
        if code == -1:  # a random egress port: sent there if it fits 9 bits
            code = (
                INVALID if not value else OK if int.from_bytes(value, "big") < 512 else OUT_OF_RANGE
            )
        if code == OK:
            egress = int.from_bytes(value, "big")
            if egress in HOSTS:
                assert wait_for_frames(switch, egress) == [frame]
            continue
        error = primary.expect("error")
        assert error.canonical_code == code, (metadata, error)
        assert all(sent(switch, port) == [] for port in HOSTS), metadata
    assert_still_serving(switch, primary)
