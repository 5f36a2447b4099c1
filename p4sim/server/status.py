"""gRPC status values for P4Runtime answers.

A failed Write carries one `p4.v1.Error` per update in a `google.rpc.Status`
sent as the `grpc-status-details-bin` trailer (the P4Runtime spec's error
reporting; grpc's rich-status convention), with the overall code UNKNOWN.
The Status message comes from finsy's stubs; googleapis' `google.rpc` must
not be imported in this process (see README, "Protobuf stack").
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from finsy.proto import p4r, rpc_code, rpc_status

from p4sim.errors import ControlPlaneError

DETAILS_KEY = "grpc-status-details-bin"


def grpc_code(name: str) -> grpc.StatusCode:
    return grpc.StatusCode[name] if name in grpc.StatusCode.__members__ else grpc.StatusCode.UNKNOWN


def code_number(name: str) -> int:
    names = rpc_code.Code.keys()
    return int(rpc_code.Code.Value(name)) if name in names else rpc_code.UNKNOWN


def write_status(errors: Sequence[ControlPlaneError | None]) -> tuple[str, bytes]:
    """The status message and the serialized details trailer of a Write
    whose per-update outcomes are `errors` (None = applied)."""
    status = rpc_status.Status(code=rpc_code.UNKNOWN)
    failed = 0
    for error in errors:
        item = p4r.Error()
        if error is None:
            item.canonical_code = rpc_code.OK
        else:
            failed += 1
            item.canonical_code = code_number(error.code)
            item.message = error.message
        status.details.add().Pack(item)
    first = next((e for e in errors if e is not None), None)
    status.message = f"{failed} of {len(errors)} updates failed" + (
        f"; first: {first}" if first else ""
    )
    return status.message, status.SerializeToString()
