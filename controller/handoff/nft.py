"""The two kernel packet rules of a handoff, as nftables tables of our own.

`FlowLock` (classifier host) drops every packet of one connection in both
directions while its socket is frozen, so the frozen socket neither sees the
client's segments nor answers them. `DecapMap` (back-end host) turns the
forwarder's rewritten packets (source = forwarder address, destination = this
back-end, TCP ports = the 32-bit flow id) back into the original client -> VIP
packets before connection tracking and routing see them. The switch may
tunnel a flow before the back-end's mapping exists; such a segment from a
configured forwarder is dropped and counted rather than answered by the
back-end's kernel with a RST to the forwarder address, and the client's
retransmission finds the mapping.

Both handle IPv4 and IPv6 connections: each table exists twice under one
name, once in the `ip` family and once in `ip6` (`nft list table ip6
p4handoff_decap`), with the same chains and maps keyed on `ipv6_addr`; a flow
goes to the table of its addresses' family. The two decapsulation tables share
one space of per-flow indexes.

Tables, chains, rules and sets go to the kernel as nft script text, each
call one atomic transaction; state is read back as nft JSON. `Nft` talks to
libnftables in-process (about 0.2 ms a transaction) or runs the `nft` command
(a few ms). The elements a handoff adds and removes go as nf_tables netlink
messages instead (controller.handoff.nft_netlink: 0.02 ms for a lock,
0.06 ms for a mapping's five elements), also one atomic transaction per
call. `Nft` acts on the network namespace of the thread that created it.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from controller.handoff import nft_netlink as netlink
from controller.handoff.addresses import unmapped, version
from controller.handoff.tcprepair import endpoint_text

LOCK_TABLE = "p4handoff_lock"
DECAP_TABLE = "p4handoff_decap"

# libnftables output flag (enum nft_output_flags) for JSON listings.
_NFT_CTX_OUTPUT_JSON = 1 << 4

Backend = Literal["auto", "library", "command"]

Family = Literal["ip", "ip6"]
FAMILIES: tuple[Family, ...] = ("ip", "ip6")
# nft's address type and its match expressions, per table family.
_ADDR_TYPE = {"ip": "ipv4_addr", "ip6": "ipv6_addr"}
_NFPROTO = {"ip": netlink.NFPROTO_IPV4, "ip6": netlink.NFPROTO_IPV6}


class NftError(Exception):
    """The kernel or nft refused a transaction; carries nft's message and the script."""

    def __init__(self, message: str, script: str) -> None:
        self.script = script
        first = script.strip().splitlines()[0] if script.strip() else "<empty>"
        super().__init__(f"nft failed on `{first}`: {message.strip()}")


class _Library:
    """libnftables through ctypes; its netlink socket is opened in the
    network namespace current when the context is created."""

    def __init__(self) -> None:
        lib = ctypes.CDLL("libnftables.so.1", use_errno=True)
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_get_flags.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_get_flags.restype = ctypes.c_uint
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        self._lib = lib
        self._ctx = lib.nft_ctx_new(0)
        if not self._ctx:
            raise NftError("libnftables could not create a context", "")
        lib.nft_ctx_buffer_output(self._ctx)
        lib.nft_ctx_buffer_error(self._ctx)
        self._plain_flags = lib.nft_ctx_output_get_flags(self._ctx)

    def run(self, script: str, json_output: bool) -> str:
        flags = self._plain_flags | (_NFT_CTX_OUTPUT_JSON if json_output else 0)
        self._lib.nft_ctx_output_set_flags(self._ctx, flags)
        rc = self._lib.nft_run_cmd_from_buffer(self._ctx, script.encode())
        output = (self._lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode()
        error = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode()
        if rc != 0:
            raise NftError(error or f"libnftables returned {rc}", script)
        return output

    def close(self) -> None:
        if self._ctx:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None


class _Command:
    """The `nft` binary, run inside the namespace this object was created in."""

    def __init__(self) -> None:
        path = shutil.which("nft")
        if path is None:
            raise NftError("the nft command is not installed (Debian package nftables)", "")
        self._path = path
        self._netns = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)

    def run(self, script: str, json_output: bool) -> str:
        # With -j nft would first parse a script file as JSON, swallowing
        # stdin; a single listing command goes on the command line instead.
        args = [self._path, "-j", *script.split()] if json_output else [self._path, "-f", "-"]
        done = subprocess.run(
            ["nsenter", f"--net=/proc/{os.getpid()}/fd/{self._netns}", *args],
            input="" if json_output else script,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise NftError(done.stderr or f"nft exited with {done.returncode}", script)
        return done.stdout

    def close(self) -> None:
        if self._netns >= 0:
            os.close(self._netns)
            self._netns = -1


class Nft:
    """One nftables session, bound to the network namespace of the creating thread.

    Thread-safe: transactions are serialised. `backend="auto"` prefers
    libnftables and falls back to the `nft` command; element changes go over
    netlink whichever it is.
    """

    def __init__(self, backend: Backend = "auto") -> None:
        self._lock = threading.Lock()
        self._elements = netlink.ElementWriter()
        self._impl: _Library | _Command
        if backend == "command":
            self._impl = _Command()
        elif backend == "library":
            self._impl = _Library()
        else:
            try:
                self._impl = _Library()
            except OSError:
                self._impl = _Command()
        self.backend: Backend = "library" if isinstance(self._impl, _Library) else "command"

    def run(self, script: str) -> None:
        """Apply `script` (nft syntax, several commands) as one atomic transaction."""
        with self._lock:
            self._impl.run(script, json_output=False)

    def change_elements(self, changes: Sequence[netlink.ElementChange]) -> None:
        """Add and delete set and map elements in one atomic transaction."""
        try:
            self._elements.apply(changes)
        except netlink.ElementError as exc:
            script = "".join(f"{c.text}\n" for c in changes)
            raise NftError(os.strerror(exc.code), exc.change + "\n" + script) from exc

    def query(self, command: str) -> list[dict[str, Any]]:
        """Run one `list ...` command and return the objects of its JSON output."""
        with self._lock:
            text = self._impl.run(command, json_output=True)
        try:
            items = json.loads(text)["nftables"]
        except (ValueError, KeyError, TypeError) as exc:
            raise NftError(f"unreadable JSON output: {exc}", command) from exc
        return [item for item in items if "metainfo" not in item]

    def close(self) -> None:
        with self._lock:
            self._impl.close()
        self._elements.close()


def _ip(value: str) -> str:
    """The canonical text of an IPv4 or IPv6 address (IPv4-mapped IPv6 as IPv4)."""
    return unmapped(value)


def _family(*addresses: str) -> Family:
    """The table family of addresses that must all be of one IP version."""
    versions = {version(_ip(a)) for a in addresses}
    if len(versions) != 1:
        raise ValueError(f"addresses {', '.join(addresses)} mix IPv4 and IPv6")
    return "ip6" if versions == {6} else "ip"


def _port(value: int) -> int:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"port {value} is not in 0..65535")
    return value


def _hook(hook: str) -> str:
    """A base chain ahead of conntrack (-200) and everything else."""
    return f"type filter hook {hook} priority raw; policy accept;"


def _drop_table_script(table: str) -> str:
    # `add` first makes the delete succeed whether or not the table exists.
    return "".join(f"add table {f} {table}\ndelete table {f} {table}\n" for f in FAMILIES)


Endpoint = tuple[str, int]


class FlowLock:
    """Drops both directions of locked client <-> VIP connections on this host.

    Hooks at raw priority in prerouting (the client's segments, before
    conntrack and the socket) and output (the frozen socket's own timers:
    retransmissions, delayed ACKs). Each locked flow is one element of a set,
    so locking is one small transaction; named counters record what was held.
    """

    def __init__(self, nft: Nft, table: str = LOCK_TABLE) -> None:
        self.nft = nft
        self.table = table

    def setup(self) -> None:
        """Create the `ip` and `ip6` tables (idempotent; keeps flows already locked)."""
        self.nft.run("".join(self._setup_script(family) for family in FAMILIES))

    def _setup_script(self, family: Family) -> str:
        t = f"{family} {self.table}"
        addr = _ADDR_TYPE[family]
        return (
            f"add table {t}\n"
            f"add set {t} flows {{ type {addr} . inet_service . {addr} . inet_service; }}\n"
            f"add counter {t} inbound_dropped\n"
            f"add counter {t} outbound_dropped\n"
            f"add chain {t} inbound {{ {_hook('prerouting')} }}\n"
            f"add chain {t} outbound {{ {_hook('output')} }}\n"
            f"flush chain {t} inbound\n"
            f"flush chain {t} outbound\n"
            f"add rule {t} inbound {family} saddr . tcp sport . {family} daddr . tcp dport @flows"
            ' counter name "inbound_dropped" drop\n'
            f"add rule {t} outbound {family} daddr . tcp dport . {family} saddr . tcp sport @flows"
            ' counter name "outbound_dropped" drop\n'
        )

    def teardown(self) -> None:
        """Remove the table and every lock in it."""
        self.nft.run(_drop_table_script(self.table))

    def _change(self, add: bool, client: Endpoint, vip: Endpoint) -> netlink.ElementChange:
        family = _family(client[0], vip[0])
        c_ip, v_ip = _ip(client[0]), _ip(vip[0])
        c_port, v_port = _port(client[1]), _port(vip[1])
        verb = "add" if add else "delete"
        element = f"{c_ip} . {c_port} . {v_ip} . {v_port}"
        return netlink.ElementChange(
            add, _NFPROTO[family], self.table, "flows",
            netlink.concat(
                netlink.address(c_ip), netlink.service(c_port),
                netlink.address(v_ip), netlink.service(v_port),
            ),
            None,
            f"{verb} element {family} {self.table} flows {{ {element} }}",
        )  # fmt: skip

    def lock(self, client: Endpoint, vip: Endpoint) -> None:
        """Lock one flow; client and VIP are both IPv4 or both IPv6 (ValueError otherwise)."""
        self.nft.change_elements([self._change(True, client, vip)])

    def unlock(self, client: Endpoint, vip: Endpoint) -> None:
        """Release a lock; NftError if that flow was not locked."""
        self.nft.change_elements([self._change(False, client, vip)])

    def change(
        self, lock: Sequence[tuple[Endpoint, Endpoint]], unlock: Sequence[tuple[Endpoint, Endpoint]]
    ) -> None:
        """Lock some flows and release others in one transaction: all or
        nothing (NftError quotes the refused change and the kernel's reason)."""
        self.nft.change_elements(
            [self._change(True, c, v) for c, v in lock]
            + [self._change(False, c, v) for c, v in unlock]
        )

    @contextmanager
    def held(self, client: Endpoint, vip: Endpoint) -> Iterator[None]:
        """Lock for the duration of the block, released even when it raises."""
        self.lock(client, vip)
        try:
            yield
        finally:
            self.unlock(client, vip)

    def locked(self) -> set[tuple[Endpoint, Endpoint]]:
        """Every locked flow, IPv4 and IPv6."""
        result = set()
        for family in FAMILIES:
            items = self.nft.query(f"list set {family} {self.table} flows")
            for elem in items[0]["set"].get("elem", []):
                c_ip, c_port, v_ip, v_port = elem["concat"]
                result.add(((c_ip, c_port), (v_ip, v_port)))
        return result

    def dropped(self) -> tuple[int, int]:
        """Packets dropped so far, both families (inbound from clients,
        outbound from frozen sockets)."""
        return (
            _counter_packets(self.nft, self.table, "inbound_dropped"),
            _counter_packets(self.nft, self.table, "outbound_dropped"),
        )


def _counter_packets(nft: Nft, table: str, name: str) -> int:
    """A named counter's packets, summed over the `ip` and `ip6` tables."""
    total = 0
    for family in FAMILIES:
        items = nft.query(f"list counter {family} {table} {name}")
        packets: int = items[0]["counter"]["packets"]
        total += packets
    return total


@dataclass(frozen=True)
class DecapEntry:
    """One migrated flow as the back-end sees it on the wire and in its stack.

    On the wire: forwarder -> backend with TCP ports (flow_id >> 16, flow_id &
    0xffff). In the stack: client_ip:client_port -> vip_ip:vip_port.
    """

    forwarder: str
    backend: str
    flow_id: int
    client_ip: str
    client_port: int
    vip_ip: str
    vip_port: int

    def __post_init__(self) -> None:
        if not 0 <= self.flow_id <= 0xFFFFFFFF:
            raise ValueError(f"flow id {self.flow_id} is not a 32-bit value")
        # One family throughout (the forwarder's IPv6 rewrite keeps the
        # packet IPv6); addresses kept in canonical text, so equal entries
        # compare equal however they were written.
        _family(self.forwarder, self.backend, self.client_ip, self.vip_ip)
        for name in ("forwarder", "backend", "client_ip", "vip_ip"):
            object.__setattr__(self, name, _ip(getattr(self, name)))
        _port(self.client_port)
        _port(self.vip_port)

    @property
    def family(self) -> Family:
        return _family(self.forwarder)

    @property
    def wire_key(self) -> tuple[str, str, int, int]:
        return (self.forwarder, self.backend, self.flow_id >> 16, self.flow_id & 0xFFFF)


# The per-flow index maps the rewrite statements read, named by what they
# restore: (map, field rewritten, value type); "{f}" is the table family.
_TARGET_MAPS = (
    ("client_addr", "{f} saddr", "addr"),
    ("client_port", "tcp sport", "inet_service"),
    ("vip_addr", "{f} daddr", "addr"),
    ("vip_port", "tcp dport", "inet_service"),
)


def _value_type(kind: str, family: Family) -> str:
    return _ADDR_TYPE[family] if kind == "addr" else kind


def _forwarders_by_family(forwarders: Iterable[str]) -> dict[Family, list[str]]:
    """Forwarder addresses in canonical text per table family, each once."""
    found: dict[Family, dict[str, None]] = {f: {} for f in FAMILIES}
    for text in [forwarders] if isinstance(forwarders, str) else forwarders:
        try:
            address = _ip(text)
        except ValueError:
            raise ValueError(f"forwarder {text!r} is not an IP address") from None
        found[_family(address)][address] = None
    return {f: list(addresses) for f, addresses in found.items()}


class DecapMap:
    """Rewrites (forwarder, flow id) packets back to the original 4-tuple.

    A raw-priority prerouting hook (before conntrack and the routing
    decision) looks the wire 4-tuple up once in `flow_index`, which yields a
    per-flow index kept in `meta mark`; the four rewrites are keyed on that
    index, since each lookup would otherwise see fields already rewritten.
    nftables fixes the IPv4 and TCP checksums on every rewrite (for IPv6,
    whose header has no checksum, the TCP checksum over the pseudo-header
    with the new addresses). IPv4 flows live in the `ip` table, IPv6 flows in
    the `ip6` one, with indexes from one pool. The mark is
    reset to 0 afterwards, so nothing downstream sees the index. Replies need
    no rule: the restored socket sends from VIP to client directly.

    A TCP segment from a configured forwarder address that misses
    `flow_index` is dropped and counted (`unmapped`) rather than left to the
    kernel: the switch may already tunnel a flow whose mapping is still to
    come, and the kernel would answer it with a RST where a silent drop only
    costs the client a retransmission. The forwarders are a set
    (`forwarders`), so a new configuration changes elements, not rules; with
    no forwarder configured it is empty and drops nothing, since a miss then
    cannot be told from the host's ordinary traffic.
    """

    def __init__(self, nft: Nft, table: str = DECAP_TABLE) -> None:
        self.nft = nft
        self.table = table
        self._lock = threading.Lock()
        self._index: dict[tuple[str, str, int, int], tuple[int, DecapEntry]] = {}
        self._free: list[int] = []
        self._next = 1

    def setup(self, forwarders: Iterable[str] = ()) -> None:
        """Create the `ip` and `ip6` tables (idempotent) and adopt the flows
        already in them, so a restarted agent keeps serving and removing them.

        `forwarders` (IPv4 and IPv6 addresses; ValueError naming a bad one
        before the kernel is touched) replace the set whose unmapped segments
        are dropped; none, and nothing is dropped."""
        by_family = _forwarders_by_family(forwarders)
        lines = []
        for f in FAMILIES:
            t = f"{f} {self.table}"
            addr = _ADDR_TYPE[f]
            lines += [
                f"add table {t}",
                f"add map {t} flow_index"
                f" {{ type {addr} . {addr} . inet_service . inet_service : mark; }}",
                *(
                    f"add map {t} {name} {{ type mark : {_value_type(kind, f)}; }}"
                    for name, _, kind in _TARGET_MAPS
                ),
                f"add set {t} forwarders {{ type {addr}; }}",
                f"flush set {t} forwarders",
                *(
                    [f"add element {t} forwarders {{ {', '.join(by_family[f])} }}"]
                    if by_family[f]
                    else []
                ),
                f"add counter {t} decapsulated",
                f"add counter {t} unmapped",
                f"add chain {t} prerouting {{ {_hook('prerouting')} }}",
                f"add chain {t} decap",
                f"flush chain {t} prerouting",
                f"flush chain {t} decap",
                f"add rule {t} prerouting meta mark set"
                f" {f} saddr . {f} daddr . tcp sport . tcp dport map @flow_index goto decap",
                f"add rule {t} prerouting {f} saddr @forwarders meta l4proto tcp"
                ' counter name "unmapped" drop',
                f"add rule {t} decap "
                + " ".join(
                    f"{field.format(f=f)} set meta mark map @{name}"
                    for name, field, _ in _TARGET_MAPS
                )
                + ' meta mark set 0 counter name "decapsulated"',
            ]
        self.nft.run("\n".join(lines) + "\n")
        self._adopt()

    def teardown(self) -> None:
        """Remove the table and every mapping in it."""
        with self._lock:
            self.nft.run(_drop_table_script(self.table))
            self._index.clear()
            self._free.clear()
            self._next = 1

    def _adopt(self) -> None:
        found: list[tuple[int, DecapEntry]] = []
        for family in FAMILIES:
            found += self._read_table(family)
        with self._lock:
            self._index.clear()
            for idx, entry in found:
                self._index[entry.wire_key] = (idx, entry)
            used = {idx for idx, _ in self._index.values()}
            if len(used) != len(self._index):
                raise NftError("a per-flow index is used twice", f"list table {self.table}")
            self._next = max(used, default=0) + 1
            self._free = [i for i in range(1, self._next) if i not in used]

    def _read_table(self, family: Family) -> list[tuple[int, DecapEntry]]:
        targets: dict[str, dict[int, Any]] = {}
        for name, _, _ in _TARGET_MAPS:
            items = self.nft.query(f"list map {family} {self.table} {name}")
            targets[name] = {int(k): v for k, v in items[0]["map"].get("elem", [])}
        items = self.nft.query(f"list map {family} {self.table} flow_index")
        found = []
        for key, idx in items[0]["map"].get("elem", []):
            fwd, backend, hi, lo = key["concat"]
            entry = DecapEntry(
                forwarder=fwd,
                backend=backend,
                flow_id=(hi << 16) | lo,
                client_ip=targets["client_addr"][idx],
                client_port=targets["client_port"][idx],
                vip_ip=targets["vip_addr"][idx],
                vip_port=targets["vip_port"][idx],
            )
            found.append((idx, entry))
        return found

    def add(self, entry: DecapEntry) -> None:
        """Install one mapping atomically. Re-adding the same entry is a no-op;
        a different entry for a wire key in use raises ValueError."""
        with self._lock:
            known = self._index.get(entry.wire_key)
            if known is not None:
                if known[1] == entry:
                    return
                raise ValueError(
                    f"flow id {entry.flow_id} from {entry.forwarder} to {entry.backend}"
                    f" already maps to {endpoint_text(known[1].client_ip, known[1].client_port)}"
                )
            idx = self._free.pop() if self._free else self._next
            if idx == self._next:
                self._next += 1
            try:
                self.nft.change_elements(self._changes(True, entry, idx))
            except NftError:
                self._free.append(idx)
                raise
            self._index[entry.wire_key] = (idx, entry)

    def remove(self, forwarder: str, backend: str, flow_id: int) -> DecapEntry:
        """Remove one mapping and return it; KeyError if there is none."""
        outcome = self.remove_many([(forwarder, backend, flow_id)])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def remove_many(
        self, flows: Sequence[tuple[str, str, int]]
    ) -> list[DecapEntry | KeyError | NftError]:
        """Remove the mappings of (forwarder, backend, flow id) `flows` in one
        transaction (a tenth of the kernel work per flow of one transaction
        each, in batches of ten); each flow's outcome, in order: the entry
        removed, KeyError if there was none, or the NftError of its own
        transaction when the batch was refused (each is then tried alone,
        so one bad flow keeps no other mapping)."""
        with self._lock:
            outcomes: list[DecapEntry | KeyError | NftError] = []
            found: dict[tuple[str, str, int, int], int] = {}  # key -> position
            for forwarder, backend, flow_id in flows:
                key = (_ip(forwarder), _ip(backend), flow_id >> 16, flow_id & 0xFFFF)
                if key not in self._index or key in found:
                    outcomes.append(
                        KeyError(f"no decapsulation for flow id {flow_id} from {forwarder}")
                    )
                    continue
                found[key] = len(outcomes)
                outcomes.append(self._index[key][1])
            if not found:
                return outcomes
            changes = {}
            for key in found:
                idx, entry = self._index[key]
                changes[key] = self._changes(False, entry, idx)
            try:
                self.nft.change_elements([c for flow in changes.values() for c in flow])
                gone = list(found)
            except NftError:
                gone = []
                for key, flow in changes.items():
                    try:
                        self.nft.change_elements(flow)
                        gone.append(key)
                    except NftError as exc:
                        outcomes[found[key]] = exc
            for key in gone:
                idx, _ = self._index.pop(key)
                self._free.append(idx)
            return outcomes

    def entries(self) -> list[DecapEntry]:
        with self._lock:
            return [entry for _, entry in self._index.values()]

    def decapsulated(self) -> int:
        """Packets rewritten so far."""
        return _counter_packets(self.nft, self.table, "decapsulated")

    def unmapped(self) -> int:
        """Segments from a configured forwarder dropped for want of a mapping so far."""
        return _counter_packets(self.nft, self.table, "unmapped")

    def _changes(self, add: bool, entry: DecapEntry, idx: int) -> list[netlink.ElementChange]:
        """The five elements of one mapping: its index, then what the index restores."""
        fwd, backend, hi, lo = entry.wire_key
        family, verb = entry.family, "add" if add else "delete"
        t = f"{family} {self.table}"
        index = netlink.mark(idx)
        key = netlink.concat(
            netlink.address(fwd), netlink.address(backend), netlink.service(hi), netlink.service(lo)
        )
        shown = f" : {idx}" if add else ""
        changes = [
            netlink.ElementChange(
                add,
                _NFPROTO[family],
                self.table,
                "flow_index",
                key,
                index if add else None,
                f"{verb} element {t} flow_index {{ {fwd} . {backend} . {hi} . {lo}{shown} }}",
            )
        ]
        values: dict[str, tuple[str, bytes]] = {
            "client_addr": (entry.client_ip, netlink.address(entry.client_ip)),
            "client_port": (str(entry.client_port), netlink.service(entry.client_port)),
            "vip_addr": (entry.vip_ip, netlink.address(entry.vip_ip)),
            "vip_port": (str(entry.vip_port), netlink.service(entry.vip_port)),
        }
        for name, _, _ in _TARGET_MAPS:
            text, data = values[name]
            shown = f" : {text}" if add else ""
            changes.append(
                netlink.ElementChange(
                    add,
                    _NFPROTO[family],
                    self.table,
                    name,
                    index,
                    data if add else None,
                    f"{verb} element {t} {name} {{ {idx}{shown} }}",
                )
            )
        return changes
