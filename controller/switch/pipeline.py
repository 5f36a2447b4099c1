"""The forwarding pipeline the controller pushes with SetForwardingPipelineConfig.

p4sim compiles the P4 source itself; bmv2 needs p4c's JSON and P4Info, so
for that target `build_pipeline` runs p4c (which must be on PATH).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from finsy.proto import p4i

from controller.p4rt import load_p4info

BMV2_TOOLS = ("p4c", "simple_switch_grpc")


class PipelineError(Exception):
    """The pipeline of a program cannot be built for its target."""


@dataclass(frozen=True)
class Pipeline:
    """What SetForwardingPipelineConfig carries for one target."""

    p4info: p4i.P4Info
    device_config: bytes


def missing_tools(target: str) -> list[str]:
    """The programs `target` needs that are not on PATH (p4sim needs none)."""
    if target == "bmv2":
        return [tool for tool in BMV2_TOOLS if shutil.which(tool) is None]
    return []


def build_pipeline(program: Path, target: str, out_dir: Path) -> Pipeline:
    """P4Info and device config of `program` for `target`: p4sim's own compiler,
    or p4c's bmv2 JSON and P4Info (written under `out_dir`)."""
    if target == "bmv2":
        missing = missing_tools(target)
        if missing:
            raise PipelineError(f"target bmv2 needs {' and '.join(missing)} on PATH")
        out_dir.mkdir(parents=True, exist_ok=True)
        p4info_path = out_dir / f"{program.stem}.p4info.txtpb"
        argv = [
            "p4c", "--target", "bmv2", "--arch", "v1model",
            "--p4runtime-files", str(p4info_path), "-o", str(out_dir), str(program),
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PipelineError(
                f"`{' '.join(argv)}` failed ({done.returncode}): {done.stderr.strip()}"
            )
        return Pipeline(load_p4info(p4info_path), (out_dir / f"{program.stem}.json").read_bytes())
    from p4sim.compiler import compile_file

    compiled = compile_file(program)
    return Pipeline(compiled.p4info, compiled.device_config)
