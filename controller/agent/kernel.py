"""The agent's real back-ends: nftables decapsulation, TCP_REPAIR restore and
SCM_RIGHTS hand-over to the application, as `Backends` (controller.agent.core)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence

from controller.agent.core import AdoptedFlow, Backends, DecapCounts
from controller.handoff import addresses, nft, tcprepair
from controller.handoff.blob import Handoff
from controller.handoff.handover import AsyncHandoverSender
from controller.handoff.tcpstate import ConnectionState


def hand_over_to(
    path: str, timeout: float = 5.0
) -> Callable[[socket.socket, Handoff], Awaitable[None]]:
    """`Backends.hand_over` for an application listening on the Unix socket `path`
    (controller.handoff.handover: SCM_RIGHTS, acknowledged, one connection reused)."""
    sender = AsyncHandoverSender(path, timeout)

    async def hand_over(sock: socket.socket, h: Handoff) -> None:
        await sender.send(sock, h.flow_id)

    return hand_over


def _by_family(addresses: Sequence[str]) -> dict[int, str]:
    """This host's address per IP version; at most one of each."""
    found: dict[int, str] = {}
    for text in addresses:
        address = ipaddress.ip_address(text)
        if address.version in found:
            first = found[address.version]
            raise ValueError(f"two IPv{address.version} back-end addresses: {first} and {address}")
        found[address.version] = str(address)
    return found


def kernel_backends(
    backend_ip: str | Sequence[str], handover_path: str, forwarders: Iterable[str] = ()
) -> tuple[Backends, list[AdoptedFlow]]:
    """The real back-ends: nftables decapsulation to `backend_ip` (this host's
    address on the forwarder's side; one IPv4 and one IPv6 address on a
    dual-stack host, the one of the forwarder's family is used), TCP_REPAIR
    restore, SCM_RIGHTS hand-over to the application listening on
    `handover_path`; plus the mappings already in the kernel from a previous
    run, for `Agent.adopt`. Tunnelled segments from `forwarders` that have no
    mapping (yet) are dropped silently, counted (nft.DecapMap)."""
    own = _by_family([backend_ip] if isinstance(backend_ip, str) else backend_ip)
    decap = nft.DecapMap(nft.Nft())
    decap.setup(forwarders)

    def backend_for(forwarder: str) -> str:
        version = addresses.version(forwarder)
        if version not in own:
            raise ValueError(f"no IPv{version} back-end address for forwarder {forwarder}")
        return own[version]

    def decap_add(forwarder: str, flow_id: int, s: ConnectionState) -> None:
        decap.add(
            nft.DecapEntry(
                forwarder=forwarder,
                backend=backend_for(forwarder),
                flow_id=flow_id,
                client_ip=s.client_ip,
                client_port=s.client_port,
                vip_ip=s.vip_ip,
                vip_port=s.vip_port,
            )
        )

    def decap_remove(flows: list[tuple[str, int]]) -> list[Exception | None]:
        removed = decap.remove_many([(f, backend_for(f), flow_id) for f, flow_id in flows])
        return [outcome if isinstance(outcome, Exception) else None for outcome in removed]

    backends = Backends(
        decap_add=decap_add,
        decap_remove=decap_remove,
        restore=tcprepair.restore,
        close_silently=tcprepair.close_silently,
        hand_over=hand_over_to(handover_path),
        counts=lambda: DecapCounts(decap.decapsulated(), decap.unmapped()),
    )
    adopted = [
        (e.forwarder, e.flow_id, (e.client_ip, e.client_port, e.vip_ip, e.vip_port))
        for e in decap.entries()
        if e.backend in own.values()
    ]
    return backends, adopted
