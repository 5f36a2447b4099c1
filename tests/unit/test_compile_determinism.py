"""The generated pipeline depends on the program alone: not on what else the
process compiled before, not on hash randomisation. A generated class name
that drifted between the module and the architecture's lookup once made
`Switch()` fail with `KeyError: 'C_headers_t_NNNNN'`."""

from __future__ import annotations

import os
import subprocess
import sys

from paths import ROOT
from semantics_harness import build, source

from p4sim.compiler import compile_source
from p4sim.runtime.switch import Switch

FIELDS = "bit<8> a; bit<16> b;"
# Nested structs, headers and a header stack: every kind of generated class.
PROGRAM = source(FIELDS, "hdr.h.a = hdr.h.a + 1;", more_headers="h_t[2] stack;",
                 meta="bit<8> m; inner_t inner;", decls="struct inner_t { bit<4> x; }")


def test_the_same_program_generates_the_same_module_whatever_came_before() -> None:
    first = compile_source(PROGRAM, "prog.p4").python
    build("bit<32> other;", "hdr.h.other = 7;")  # types of another program in between
    again = compile_source(PROGRAM, "prog.p4")
    assert again.python == first
    pipeline = again.lowered.pipeline
    assert pipeline.headers_class == "C_headers_t"
    assert f"class {pipeline.headers_class}:" in again.python
    assert Switch(again).process(0, bytes([1, 0, 2])) == [(1, bytes([2, 0, 2]))]


def test_the_generated_module_does_not_depend_on_hash_randomisation() -> None:
    script = (
        "import hashlib, sys\n"
        "from p4sim.compiler import compile_source\n"
        "text = sys.stdin.read()\n"
        "print(hashlib.sha256(compile_source(text, 'prog.p4').python.encode()).hexdigest())\n"
    )
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], input=PROGRAM, env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=120,
                              check=True)
        digests.add(done.stdout.strip())
    assert len(digests) == 1
