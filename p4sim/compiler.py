"""P4 source to a `CompiledProgram`: front end, passes, P4Info, device config.

The device config is p4sim's answer to bmv2's JSON: a self-describing
envelope holding the program's own source files, which `load_device_config`
compiles again, so the P4 source stays the single source of truth.
"""

from __future__ import annotations

import json
import linecache
import os
import tempfile
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p4sim.errors import P4SimError, SourcePos, UnsupportedError
from p4sim.frontend.parser import parse_preprocessed
from p4sim.frontend.preprocess import PreprocessedSource, preprocess_file, preprocess_text
from p4sim.p4info.generate import build_p4info
from p4sim.passes.codegen import Pipeline
from p4sim.passes.declcheck import check_program
from p4sim.passes.lower import Lowered, lower
from p4sim.runtime.schema import ProgramSchema

DEVICE_CONFIG_FORMAT = "p4sim-device-config"
DEVICE_CONFIG_VERSION = 1
_BUILTIN_DIR = str(Path(__file__).parent / "p4include")


class DeviceConfigError(P4SimError):
    """A device config p4sim cannot load (wrong format, version or content)."""


@dataclass
class CompiledProgram:
    """A program ready to run: `source` is the main P4 file's text, `python`
    the generated pipeline module."""

    name: str
    schema: ProgramSchema
    p4info: Any
    device_config: bytes
    source: str
    lowered: Lowered

    @property
    def python(self) -> str:
        return self.lowered.pipeline.source


def _envelope(main: str, include_dirs: Sequence[str], files: Sequence[str],
              defines: Mapping[str, str | None]) -> bytes:
    texts = {}
    for f in files:
        full = os.path.abspath(f)
        if full.startswith(_BUILTIN_DIR + os.sep):
            continue
        texts[full] = Path(full).read_text(encoding="utf-8")
    body = {
        "format": DEVICE_CONFIG_FORMAT,
        "version": DEVICE_CONFIG_VERSION,
        "program": Path(main).stem,
        "main": os.path.abspath(main),
        "include_dirs": [os.path.abspath(d) for d in include_dirs],
        "defines": dict(defines),
        "files": texts,
    }
    return json.dumps(body, sort_keys=True).encode("utf-8")


@contextmanager
def _bounded_stack(filename: str) -> Iterator[None]:
    """p4sim/limits.py keeps every pass well inside Python's stack; a caller
    already deep in its own still gets a compile error, not a RecursionError."""
    try:
        yield
    except RecursionError:
        raise UnsupportedError(SourcePos(filename, 1, 1), "program nested too deeply for "
                               "the Python stack left to p4sim") from None


def _build(pre: PreprocessedSource, name: str, source: str) -> CompiledProgram:
    program = parse_preprocessed(pre)
    checked = check_program(program)
    lowered = lower(checked)
    p4info = build_p4info(lowered.schema)
    _load_python(lowered.pipeline, name)
    return CompiledProgram(name, lowered.schema, p4info, b"", source, lowered)


def _load_python(pipeline: Pipeline, name: str) -> None:
    """Compile the generated module and show its lines in tracebacks for as
    long as the program lives: the entry leaves `linecache` with the pipeline,
    so a server replacing its pipeline again and again does not grow."""
    filename = f"<p4sim {name} {id(pipeline):x}>"
    source = pipeline.source
    try:
        pipeline.code = compile(source, filename, "exec")
    except SyntaxError as error:  # Python's own bounds (nesting); p4sim/limits.py stays inside
        raise UnsupportedError(None, f"program {name}: the generated pipeline exceeds "
                               f"Python's limits ({error.msg})") from None
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    weakref.finalize(pipeline, linecache.cache.pop, filename, None)


def _compile(path: str, include_dirs: Sequence[str], name: str,
             defines: Mapping[str, str | None]) -> tuple[CompiledProgram, tuple[str, ...]]:
    pre = preprocess_file(path, include_dirs, defines)
    compiled = _build(pre, name, Path(path).read_text(encoding="utf-8"))
    return compiled, tuple(pre.files)


def compile_file(path: str | os.PathLike[str],
                 include_dirs: Sequence[str | os.PathLike[str]] = (),
                 defines: Mapping[str, str | None] | None = None) -> CompiledProgram:
    """Compile a v1model program; raises the `P4SourceError` family on bad input.
    `defines` are cpp's -D (a body) and -U (None); the device config keeps them."""
    main = os.fspath(path)
    dirs = [os.fspath(d) for d in include_dirs]
    macros = dict(defines or {})
    with _bounded_stack(main):
        compiled, files = _compile(main, dirs, Path(main).stem, macros)
    compiled.device_config = _envelope(main, dirs, files, macros)
    return compiled


def compile_source(text: str, filename: str = "program.p4",
                   include_dirs: Sequence[str | os.PathLike[str]] = ()) -> CompiledProgram:
    """Compile P4 source held in memory; positions name `filename`."""
    dirs = [os.fspath(d) for d in include_dirs]
    with _bounded_stack(filename):
        pre = preprocess_text(text, filename, dirs)
        compiled = _build(pre, Path(filename).stem, text)
    main = os.path.abspath(filename)
    body = json.loads(_envelope(main, dirs, [f for f in pre.files if f != filename], {}))
    body["files"][main] = text
    compiled.device_config = json.dumps(body, sort_keys=True).encode("utf-8")
    return compiled


def _check_config_path(path: object) -> None:
    """A device config comes from the network (SetForwardingPipelineConfig):
    its paths are mirrored under a temporary directory and must stay there."""
    if not isinstance(path, str) or not path.strip(os.sep):
        raise DeviceConfigError(f"device config path {path!r} is not a file path")
    if ".." in path.split(os.sep) or "\0" in path:
        raise DeviceConfigError(f"device config path {path!r} leaves its directory")


def load_device_config(data: bytes) -> CompiledProgram:
    """Compile the program held in a device config written by `compile_file`."""
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DeviceConfigError(f"not a p4sim device config ({exc.__class__.__name__}); "
                                f"expected format '{DEVICE_CONFIG_FORMAT}'") from None
    if not isinstance(body, dict) or body.get("format") != DEVICE_CONFIG_FORMAT:
        found = body.get("format") if isinstance(body, dict) else type(body).__name__
        raise DeviceConfigError(f"unknown device config format {found!r}; expected "
                                f"'{DEVICE_CONFIG_FORMAT}'")
    if body.get("version") != DEVICE_CONFIG_VERSION:
        raise DeviceConfigError(f"unsupported device config version {body.get('version')!r}; "
                                f"this p4sim reads version {DEVICE_CONFIG_VERSION}")
    files = body.get("files")
    main = body.get("main")
    include_dirs = body.get("include_dirs", [])
    if not isinstance(files, dict) or not isinstance(main, str) or main not in files:
        raise DeviceConfigError("device config lacks the program's main file")
    if not isinstance(include_dirs, list):
        raise DeviceConfigError("device config field 'include_dirs' must be a list of paths")
    defines = body.get("defines", {})
    if not isinstance(defines, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in defines.items()):
        raise DeviceConfigError("device config field 'defines' must map names to text or null")
    for path in [*files, *include_dirs]:
        _check_config_path(path)
    for path, text in files.items():
        if not isinstance(text, str):
            raise DeviceConfigError(f"device config file {path!r} must hold text")
    with tempfile.TemporaryDirectory(prefix="p4sim-") as root:
        def mirror(p: str) -> str:
            return os.path.join(root, p.lstrip(os.sep))

        for p, text in files.items():
            target = mirror(p)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            Path(target).write_text(text, encoding="utf-8")
        dirs = [mirror(d) for d in include_dirs]
        for d in dirs:
            os.makedirs(d, exist_ok=True)
        with _bounded_stack(main):
            compiled, _ = _compile(mirror(main), dirs, str(body.get("program", "program")),
                                   defines)
    compiled.device_config = bytes(data)
    return compiled
