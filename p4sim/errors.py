"""The one exception hierarchy of p4sim.

Every error a user can cause (bad P4 source, bad STF file, bad control-plane
request) is a `P4SimError`; anything else escaping p4sim is a bug. Errors tied
to P4 source carry a `SourcePos` so the message reads `file:line:col: error: ...`
like a compiler's, which editors and CI logs turn into links.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourcePos:
    """A place in the original (pre-preprocessor) source."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class P4SimError(Exception):
    """Base of every error p4sim reports to a user."""


class P4SourceError(P4SimError):
    """A problem in P4 source, reported at its position."""

    kind = "error"

    def __init__(self, pos: SourcePos | None, message: str) -> None:
        self.pos = pos
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.pos}: " if self.pos is not None else ""
        return f"{where}{self.kind}: {self.message}"


class PreprocessorError(P4SourceError):
    """Bad `#include`, `#if` nesting, `#error` and the like."""


class ParseError(P4SourceError):
    """Source that does not match the P4_16 grammar."""


class TypeCheckError(P4SourceError):
    """Source that parses but is not a valid P4_16 program."""


class UnsupportedError(P4SourceError):
    """A construct that is valid P4_16 but that p4sim does not run.

    p4sim refuses such programs rather than running half of them.
    """

    kind = "unsupported"


class ControlPlaneError(P4SimError):
    """A control-plane request that cannot be applied.

    `code` is the name of the gRPC status a P4Runtime server answers with
    ("INVALID_ARGUMENT", "ALREADY_EXISTS", "NOT_FOUND", "RESOURCE_EXHAUSTED",
    "OUT_OF_RANGE", "FAILED_PRECONDITION", "UNIMPLEMENTED"), so the table code
    decides the status once and every front end (STF, P4Runtime) reports it.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class STFError(P4SimError):
    """A malformed STF test file, reported with file:line."""
