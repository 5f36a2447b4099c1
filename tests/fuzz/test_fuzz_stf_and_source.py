"""p4sim's front door on hostile text: mutated P4 source and mutated STF
files raise only p4sim's own errors (`P4SimError`), never a Python exception
from inside the compiler, the generated pipeline or the STF runner.

The P4 corpus is every program of tests/stf plus the forwarder; mutations
are token edits (delete, duplicate, swap, replace by another token of the
file, a keyword, an extreme number or stray punctuation, truncation) and
"semantic" edits that keep the text parseable (numbers, operators and
identifiers swapped), so mutants reach the type checker and code generator
too. A mutant that compiles gets a Switch and a few random packets. The STF
corpus is tests/stf's scripts, mutated by line and token, run against their
own (unmutated) program.

Each input runs under a time and memory limit. Failures of classes already
reported as p4sim bugs (each has a strict xfail reproducer below) are
counted and make the test xfail with their tally; anything else fails with
the mutant's diff. FUZZ_SCALE=n multiplies the counts (`make fuzz`),
FUZZ_SEED changes the seed.
"""

from __future__ import annotations

import difflib
import functools
import io
import os
import random
import re
import resource
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest
from paths import ROOT

import p4sim.stf.runner as stf_runner
from p4sim.compiler import CompiledProgram, compile_file, compile_source
from p4sim.errors import P4SimError, TypeCheckError, UnsupportedError
from p4sim.runtime.switch import Switch

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
SEED = int(os.environ.get("FUZZ_SEED", "97"))
SOURCE_MUTANTS = 100 * SCALE
STF_MUTANTS = 500 * SCALE
STF_PROGRAMS = 12 if SCALE == 1 else None  # a seeded sample keeps the bounded run short

STF_DIR = ROOT / "tests" / "stf"
P4_CORPUS = [*sorted(STF_DIR.glob("*.p4")), ROOT / "p4src" / "forwarder.p4"]
TIME_LIMIT_S = 3.0
MEMORY_LIMIT = 1 << 30  # above what the process already maps


# ------------------------------------------------------------------ guards


class TimeLimitExceeded(Exception):
    pass


def _mapped_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


@contextmanager
def limits(seconds: float = TIME_LIMIT_S, memory: int = MEMORY_LIMIT) -> Iterator[None]:
    """Run the body with an address-space cap and a wall-clock alarm, then
    put back whatever limit and alarm (pytest-timeout's) were there."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _mapped_bytes() + memory
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard < 0 else min(cap, hard), hard))

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeLimitExceeded(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = signal.getitimer(signal.ITIMER_REAL)[0]
    try:
        yield
    finally:
        left = signal.setitimer(signal.ITIMER_REAL, 0)[0]
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (started - left), 0.001))


# ---------------------------------------------------- known p4sim bugs

# (label, test on the exception and the stage it escaped from). Each label
# has a strict xfail reproducer below; when p4sim fixes one, that xfail
# fails and the entry goes. None is open: the reproducers at the end of this
# file assert the fixes of the ones these suites found.
KnownBug = tuple[str, Callable[[BaseException, str], bool]]
KNOWN_BUGS: list[KnownBug] = []


def known_bug(error: BaseException, stage: str) -> str | None:
    return next((label for label, test in KNOWN_BUGS if test(error, stage)), None)


class Tally:
    """Outcomes of a fuzz run; unknown failures stop it at once."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.known: Counter[str] = Counter()

    def failure(self, error: BaseException, stage: str, mutant_diff: str) -> None:
        label = known_bug(error, stage)
        if label is None:
            raise AssertionError(
                f"{type(error).__name__}: {error} escaped at {stage}\n{mutant_diff}"
            ) from error
        self.known[label] += 1

    def finish(self, minimum: dict[str, int]) -> None:
        for outcome, count in minimum.items():
            assert self.outcomes[outcome] >= count, (outcome, self.outcomes)
        if self.known:
            pytest.xfail(f"known p4sim bugs hit: {dict(self.known)}")


# ----------------------------------------------------------- P4 mutations


def words(text: str) -> list[str]:
    return text.split()


TOKEN = re.compile(
    r'\s+|//[^\n]*|/\*.*?\*/|"[^"\n]*"|[A-Za-z_]\w*|\d\w*'
    r"|&&&|<<|>>|\+\+|\|\+\||\|-\||\.\.|[-+*/%&|^!~<>=]=?|.",
    re.S,
)
KEYWORDS = words(
    "apply table header header_union struct extern bit int varbit bool error default _ "
    "return exit transition state select const typedef type enum match_kind package "
    "parser control in out inout true false key actions action size entries if else "
    "switch verify extract emit lookahead isValid setValid setInvalid value_set tuple "
    "this"
)
NUMBERS = words(
    "0 1 2 7 8 9 16 31 32 33 64 65535 65536 -1 0x 0b 8w256 0w0 1w2 3s7 8s-1 1_000 "
    "32w0x1_F 4294967296 0xFFFFFFFFFFFFFFFFFFFFFFFF 999999999999999999999999999999"
)
OPERATORS = words("+ - * / % & | ^ << >> == != < > <= >= && || ++ |+| |-| &&& .. ! ~ = ? :")
PUNCTUATION = [
    *'{}()<>[];:,.=@#"\\',
    "/*",
    "*/",
    "\x00",
    "\u00e4",
    "\u2028",
    "\n#define X\n",
    "\n#if 1\n",
    "\n#endif\n",
    "\n#include <core.p4>\n",
    '@name("x")',
    "@id(0)",
    "@priority(-1)",
]


def _semantic(rng: random.Random, tokens: list[str]) -> None:
    """Edits that keep the token stream's shape, to get past the parser."""
    names = [i for i, t in enumerate(tokens) if re.fullmatch(r"[A-Za-z_]\w*", t)]
    numbers = [i for i, t in enumerate(tokens) if t[:1].isdigit()]
    operators = [i for i, t in enumerate(tokens) if t in OPERATORS]
    for _ in range(rng.choice((1, 1, 2, 3))):
        r = rng.random()
        if r < 0.4 and numbers:
            small = (str(rng.randrange(0, 70)), f"{rng.randrange(1, 70)}w{rng.randrange(0, 300)}")
            tokens[rng.choice(numbers)] = rng.choice((*NUMBERS, *small))
        elif r < 0.6 and operators:
            tokens[rng.choice(operators)] = rng.choice(OPERATORS)
        elif names:
            tokens[rng.choice(names)] = tokens[rng.choice(names)]


def _syntactic(rng: random.Random, tokens: list[str]) -> None:
    positions = [i for i, t in enumerate(tokens) if not t.isspace()]
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        i = rng.choice(positions)
        t = tokens[i]
        op = rng.randrange(8)
        if op == 0:
            tokens[i] = ""
        elif op == 1:
            tokens[i] = f"{t} {t}"
        elif op == 2:
            j = rng.choice(positions)
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == 3:
            tokens[i] = tokens[rng.choice(positions)]
        elif op == 4:
            tokens[i] = rng.choice(NUMBERS if t[:1].isdigit() else KEYWORDS)
        elif op == 5:
            tokens[i] = t + rng.choice(PUNCTUATION)
        elif op == 6:
            del tokens[i + 1 :]
            return
        else:
            k = rng.randrange(len(t))
            tokens[i] = t[:k] + rng.choice(PUNCTUATION) + t[k + 1 :]


def mutate_source(rng: random.Random, text: str) -> str:
    tokens = TOKEN.findall(text)
    (_semantic if rng.random() < 0.6 else _syntactic)(rng, tokens)
    return "".join(tokens)


def diff(original: str, mutant: str, name: str) -> str:
    lines = difflib.unified_diff(
        original.splitlines(), mutant.splitlines(), name, "mutant", lineterm="", n=1
    )
    return "\n".join(list(lines)[:40])


def run_program(program: CompiledProgram, rng: random.Random) -> None:
    switch = Switch(program, cpu_port=255)
    for _ in range(6):
        switch.process(rng.choice((0, 1, 2, 255)), rng.randbytes(rng.randrange(0, 80)))
    switch.drain_digests()


def test_mutated_p4_source_raises_only_p4sim_errors() -> None:
    rng = random.Random(SEED)
    compile_file(STF_DIR / "default_port.p4")  # builds the parser outside the limits
    tally = Tally()
    for _ in range(SOURCE_MUTANTS):
        path = rng.choice(P4_CORPUS)
        original = path.read_text()
        mutant = mutate_source(rng, original)
        stage = "compile"
        try:
            with limits():
                program = compile_source(mutant, str(path))
                stage = "process"
                run_program(program, rng)
            tally.outcomes["compiled and ran"] += 1
        except P4SimError as error:
            tally.outcomes[type(error).__name__] += 1
        except (Exception, MemoryError, RecursionError) as error:
            tally.failure(error, stage, diff(original, mutant, path.name))
    tally.finish({"ParseError": 10, "TypeCheckError": 3, "compiled and ran": 3})


# ----------------------------------------------------------------- STF


STF_WORDS = [
    "0",
    "-1",
    "0x",
    "0x" + "f" * 40,
    "*",
    "0b*",
    "1" * 30,
    "65536",
    "512",
    "4294967296",
    "$",
    "&&&",
    "/",
    "/33",
    ":",
    "(",
    ")",
    ",",
    "=",
    "==",
    "!=",
    ">",
    "<=",
    "0xZZ",
    "0x**",
    "A",
    "ABC",
    "..",
    "[0]",
    "[99999]",
    "[-1]",
    "x.y",
    ".",
    "\x00",
    "\u00e4",
    "packet",
    "expect",
    "add",
    "setdefault",
    "wait",
    "check_counter",
    "mc_node_create",
    "mirroring_add",
    "register_write",
    "value_set_add",
    "expect_digest",
    "meter_set_rates",
]
STF_TOKEN = re.compile(r"\s+|\S+")


def mutate_stf(rng: random.Random, text: str) -> str:
    lines = text.splitlines() or [""]
    for _ in range(rng.choice((1, 1, 2, 3, 5))):
        i = rng.randrange(len(lines))
        op = rng.randrange(6)
        if op == 0:
            del lines[i]
            lines = lines or [""]
            continue
        if op == 1:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))
            continue
        tokens = STF_TOKEN.findall(lines[i])
        words = [k for k, t in enumerate(tokens) if not t.isspace()]
        if not words:
            continue
        k = rng.choice(words)
        if op == 2:
            tokens[k] = rng.choice(STF_WORDS)
        elif op == 3:
            tokens[k] = ""
        elif op == 4:
            tokens[k] = rng.choice(rng.choice(lines).split() or ["x"])
        else:
            t = tokens[k]
            j = rng.randrange(len(t))
            tokens[k] = t[:j] + rng.choice("0123456789abcdefx*/:()[]$,.=-") + t[j + 1 :]
        lines[i] = "".join(tokens)
    return "\n".join(lines) + "\n"


@pytest.fixture
def cached_compiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each STF program compiles once per run, not once per mutant."""
    cache = functools.cache(lambda path, dirs: compile_file(path, dirs))

    def compile_cached(path: str, dirs: tuple[str, ...] = ()) -> CompiledProgram:
        return cache(str(path), tuple(dirs))

    monkeypatch.setattr(stf_runner, "compile_file", compile_cached)


def test_mutated_stf_raises_only_p4sim_errors(cached_compiles: None, tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    cases = sorted(STF_DIR.glob("*.stf"))
    if STF_PROGRAMS is not None:
        cases = rng.sample(cases, STF_PROGRAMS)
    tally = Tally()
    script = tmp_path / "mutant.stf"
    for _ in range(STF_MUTANTS):
        case = rng.choice(cases)
        original = case.read_text()
        mutant = mutate_stf(rng, original)
        script.write_text(mutant)
        try:
            with limits():
                status = stf_runner.run_stf(case.with_suffix(".p4"), script, out=io.StringIO())
            tally.outcomes[f"exit {status}"] += 1
        except P4SimError as error:
            tally.outcomes[type(error).__name__] += 1
        except (Exception, MemoryError, RecursionError) as error:
            tally.failure(error, "stf", diff(original, mutant, case.name))
    tally.finish({"STFError": 50, "exit 0": 20, "exit 1": 20})


# ------------------------------ reproducers of the bugs these suites found

MINIMAL = (STF_DIR / "default_port.p4").read_text()


def compile_and_run(text: str) -> None:
    """Compile, build a switch and send one packet, within the limits."""
    with limits(seconds=10):
        program = compile_source(text, "repro.p4")
        Switch(program).process(0, b"\x05")


def variant(old: str, new: str) -> str:
    assert old in MINIMAL
    return MINIMAL.replace(old, new, 1)


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("hdr.d.v = " + "+".join(["1"] * 600) + ";", "22:19: unsupported: expression nested"),
        ("hdr.d.v = " + "-" * 600 + "1;", "22:83: unsupported: expression nested"),
        ("{" * 600 + "hdr.d.v = 1;" + "}" * 600, "22:41: unsupported: statements nested"),
    ],
    ids=["sum", "negations", "blocks"],
)
def test_deeply_nested_code_is_refused_with_a_p4sim_error(statement: str, error: str) -> None:
    with pytest.raises(UnsupportedError) as info:
        compile_and_run(variant("hdr.d.v = hdr.d.v + 1;", statement))
    assert str(info.value).startswith(f"repro.p4:{error}")


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ("bit<8> v;", "bit<8> v; bit<4294967296> w;", "6:27: error: width must be 1..2048"),
        (
            "struct meta_t { }",
            "const bit<999999999999999999999999999999> W = 1;\nstruct meta_t { }",
            "9:7: error: width must be 1..2048, not a 100-bit number",
        ),
        (
            "apply {\n        hdr.d.v",
            "register<bit<8>>(32w4000000000) r;\n    apply {\n        hdr.d.v",
            "21:5: error: r: size must be 1..1048576, not 4000000000",
        ),
        (
            "apply {\n        hdr.d.v",
            "counter(32w4000000000, CounterType.packets) c;\n    apply {\n        hdr.d.v",
            "21:5: error: c: size must be 1..1048576, not 4000000000",
        ),
    ],
    ids=["width-2^32", "width-10^30", "register-4e9", "counter-4e9"],
)
def test_huge_widths_and_sizes_are_refused_with_a_p4sim_error(
    old: str, new: str, error: str
) -> None:
    with pytest.raises(TypeCheckError) as info:
        compile_and_run(variant(old, new))
    assert str(info.value).startswith(f"repro.p4:{error}")


@pytest.mark.parametrize("operator", [">>", "<<"])
def test_a_negative_constant_shift_is_a_compile_error(operator: str) -> None:
    with pytest.raises(TypeCheckError, match=r"repro.p4:22:\d+: error: negative shift amount -1"):
        compile_and_run(variant("hdr.d.v = hdr.d.v + 1;", f"hdr.d.v = hdr.d.v {operator} -1;"))


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        (
            "V1Switch(P(), VC(), IG(),",
            "V1Switch(P(), VC(), CC(),",
            "30:21: error: argument 'ig' of V1Switch: CC has 2 parameters, Ingress has 3",
        ),
        (
            "control VC(inout headers_t hdr, inout meta_t meta)",
            "control VC(inout headers_t hdr, inout packet_out meta)",
            "18:33: error: argument 'vr' of V1Switch: parameter 'meta' of VC has type "
            "packet_out, VerifyChecksum wants meta_t",
        ),
    ],
    ids=["checksum-control-as-ingress", "extern-typed-parameter"],
)
def test_package_arguments_of_the_wrong_type_are_a_compile_error(
    old: str, new: str, error: str
) -> None:
    with pytest.raises(TypeCheckError) as info:
        compile_and_run(variant(old, new))
    assert str(info.value) == f"repro.p4:{error}"
