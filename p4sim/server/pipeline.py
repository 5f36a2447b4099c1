"""The forwarding pipeline a P4Runtime client installs, and its life cycle.

`SetForwardingPipelineConfig` hands us a P4Info and a device config. The
device config is what `p4sim compile --device-config` writes (an envelope
around the preprocessed source) or, for convenience, the P4 source itself;
either way p4sim compiles the source again, so the P4 program stays the one
truth. A `Pipeline` couples the running `Switch` with the P4Info index the
server translates ids through, the config as the client sent it (returned by
`GetForwardingPipelineConfig`) and the program's initial default actions
(a MODIFY of a default entry without an action restores them).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from finsy.proto import p4r

from p4sim.compiler import CompiledProgram, compile_file, load_device_config
from p4sim.errors import ControlPlaneError, P4SimError
from p4sim.runtime.switch import Switch
from p4sim.runtime.tables import ActionCall
from p4sim.server.p4info_index import P4InfoIndex

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    switch: Switch
    index: P4InfoIndex
    config: p4r.ForwardingPipelineConfig
    initial_defaults: dict[str, ActionCall] = field(default_factory=dict)

    @classmethod
    def build(
        cls, program: CompiledProgram, config: p4r.ForwardingPipelineConfig, cpu_port: int | None
    ) -> Pipeline:
        """Check the P4Info against the program and start a fresh switch.
        A config without a P4Info gets the one p4sim generates."""
        stored = p4r.ForwardingPipelineConfig()
        stored.CopyFrom(config)
        if not stored.HasField("p4info"):
            stored.p4info.CopyFrom(program.p4info)
        index = P4InfoIndex(stored.p4info, program.schema)
        index.check_against(program.schema)
        switch = Switch(program, cpu_port=cpu_port)
        defaults = {name: table.default.action for name, table in switch.tables.items()}
        return cls(switch, index, stored, defaults)


def compile_device_config(data: bytes) -> CompiledProgram:
    """A program from a device config envelope, or from P4 source text.

    Raises INVALID_ARGUMENT with the compiler's message when neither works.
    """
    if not data:
        raise ControlPlaneError("INVALID_ARGUMENT", "p4_device_config is empty")
    try:
        return load_device_config(data)
    except P4SimError as envelope_error:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ControlPlaneError(
                "INVALID_ARGUMENT", f"p4_device_config: {envelope_error}"
            ) from envelope_error
        log.debug(
            "device config is not an envelope (%s); compiling it as P4 source", envelope_error
        )
        return compile_source(text)


def compile_source(text: str) -> CompiledProgram:
    with tempfile.TemporaryDirectory(prefix="p4sim-") as tmp:
        path = Path(tmp) / "program.p4"
        path.write_text(text)
        try:
            return compile_file(path)
        except P4SimError as error:
            raise ControlPlaneError("INVALID_ARGUMENT", f"p4_device_config: {error}") from error


def compile_path(path: Path) -> CompiledProgram:
    """The PROGRAM argument of the command line: a .p4 file or a device config."""
    if path.suffix == ".p4":
        return compile_file(path)
    return compile_device_config(path.read_bytes())
