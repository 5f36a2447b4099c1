"""PacketOut / PacketIn <-> frames on the CPU port.

The program's `@controller_header("packet_out")` header is what the pipeline
parses first on a frame from the CPU port; the `packet_in` header is what it
prepends to a frame sent to the CPU port. The server builds the first from a
PacketOut's metadata and strips and decodes the second into a PacketIn, with
the fields packed back to back in header order, big-endian, as on the wire.
"""

from __future__ import annotations

from finsy.proto import p4r

from p4sim.errors import ControlPlaneError
from p4sim.server.codec import decode, encode
from p4sim.server.p4info_index import PacketMetadataRef


def packet_out_frame(msg: p4r.PacketOut, header: PacketMetadataRef | None) -> bytes:
    """The frame to inject at the CPU port. Metadata fields the controller
    leaves out are zero."""
    if header is None:
        if msg.metadata:
            raise ControlPlaneError(
                "INVALID_ARGUMENT",
                "PacketOut metadata given but the program has no packet_out header",
            )
        return bytes(msg.payload)
    widths = {fid: (name, width) for fid, name, width in header.fields}
    values: dict[int, int] = {}
    for md in msg.metadata:
        known = widths.get(md.metadata_id)
        if known is None:
            raise ControlPlaneError(
                "INVALID_ARGUMENT", f"packet_out: unknown metadata id {md.metadata_id}"
            )
        if md.metadata_id in values:
            raise ControlPlaneError(
                "INVALID_ARGUMENT", f"packet_out: metadata {known[0]} given twice"
            )
        values[md.metadata_id] = decode(md.value, known[1], f"packet_out metadata {known[0]}")
    packed = 0
    total = 0
    for fid, _, width in header.fields:
        packed = (packed << width) | values.get(fid, 0)
        total += width
    pad = (-total) % 8
    return (packed << pad).to_bytes((total + pad) // 8, "big") + bytes(msg.payload)


def packet_in_message(frame: bytes, header: PacketMetadataRef | None) -> p4r.StreamMessageResponse:
    """A PacketIn for a frame the pipeline sent to the CPU port."""
    response = p4r.StreamMessageResponse()
    packet = response.packet
    if header is None:
        packet.payload = frame
        return response
    size = header.header_bytes
    total = sum(width for _, _, width in header.fields)
    packed = int.from_bytes(frame[:size], "big") >> (size * 8 - total)
    shift = total
    for fid, _, width in header.fields:
        shift -= width
        value = (packed >> shift) & ((1 << width) - 1)
        packet.metadata.add(metadata_id=fid, value=encode(value))
    packet.payload = frame[size:]
    return response
