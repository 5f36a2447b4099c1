"""Errors of the P4Runtime client library.

Every failure a caller can act on is a `P4RuntimeError`: a value that cannot
be encoded, a name P4Info does not know, a request the switch refused (with
its gRPC status), or the loss of primacy. gRPC's own exceptions never escape
the client unwrapped, so callers catch one hierarchy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controller.p4rt.entities import Update


class P4RuntimeError(Exception):
    """Base of every error the client library raises."""


class ValueFormatError(P4RuntimeError, ValueError):
    """A readable value (address, MAC, number, prefix) that cannot be encoded
    into the field it is meant for."""


class UnknownNameError(P4RuntimeError, KeyError):
    """A table, action, field or other object name that P4Info does not define
    (or defines more than once, so the short form is ambiguous)."""

    def __str__(self) -> str:
        # KeyError would print the repr of the message, quotes and all.
        return str(self.args[0]) if self.args else ""


class RpcError(P4RuntimeError):
    """A P4Runtime RPC that the switch answered with an error status.

    `code` is the gRPC status name ("INVALID_ARGUMENT", "UNAVAILABLE", ...).
    """

    def __init__(self, rpc: str, code: str, message: str) -> None:
        self.rpc = rpc
        self.code = code
        self.message = message
        super().__init__(f"{rpc}: {code}: {message}")


class NotPrimaryError(RpcError):
    """This client is not (or no longer) the primary controller, so the switch
    refuses its writes and pipeline changes."""


@dataclass(frozen=True)
class UpdateFailure:
    """One update of a batch that the switch refused, with the p4.v1.Error it
    reported (`code` is the canonical gRPC status name)."""

    index: int
    update: Update
    code: str
    message: str

    def __str__(self) -> str:
        return f"update {self.index} ({self.update}): {self.code}: {self.message}"


class WriteError(RpcError):
    """A Write the switch refused in whole or in part. `failures` lists every
    update that failed, in batch order; updates not listed were applied
    (unless the batch was atomic)."""

    def __init__(self, code: str, message: str, failures: tuple[UpdateFailure, ...]) -> None:
        self.failures = failures
        super().__init__("Write", code, message)

    def __str__(self) -> str:
        lines = [super().__str__()]
        lines.extend(f"  {failure}" for failure in self.failures)
        return "\n".join(lines)
