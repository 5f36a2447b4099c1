"""p4sim's front end: P4_16 source text to the typed IR in `ir.py`.

preprocess.py (cpp directives, line map) -> lexer.py + p4.lark (lark LALR) ->
transform.py (parse tree to IR). Errors are `PreprocessorError`,
`ParseError` or `UnsupportedError`, all at the original `file:line:col`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from p4sim.frontend import ir
from p4sim.frontend.parser import parse_preprocessed
from p4sim.frontend.preprocess import preprocess_file, preprocess_text

__all__ = ["parse_program", "parse_source"]


def parse_program(
    path: str | os.PathLike[str],
    include_dirs: Sequence[str | os.PathLike[str]] = (),
    defines: Mapping[str, str] | None = None,
) -> ir.Program:
    """Parses the P4 program in `path`; `#include "..."` looks in its directory,
    then `include_dirs`, then p4sim's own core.p4/v1model.p4. `defines` act
    like `-D NAME=VALUE`."""
    return parse_preprocessed(preprocess_file(path, include_dirs, defines))


def parse_source(
    text: str,
    filename: str = "<string>",
    include_dirs: Sequence[str | os.PathLike[str]] = (),
    defines: Mapping[str, str] | None = None,
) -> ir.Program:
    """Parses P4 source given as text; positions name `filename`."""
    return parse_preprocessed(preprocess_text(text, filename, include_dirs, defines))
