"""Run every benchmark under bench/, stamp its results with the machine and
the commit, plot what the benchmark did not plot itself, and write the
results page.

A benchmark is any bench/*.py with a `__main__` block (this file aside). Its
options are read from its `--help`: `--quick` is passed in quick mode,
`--out DIR` or `--json FILE` point its output at the results directory;
scripts without `--quick` get the smaller counts listed in QUICK_ARGS. Each
script runs in its own process with a time limit, its output kept in
`<name>.log`; the JSON files it wrote during its run are its results. Into
each one run_all adds an `environment` object: machine (CPU model, cores,
memory, kernel, OS, Python), commit (and whether the tree was dirty), the
command, mode, duration and finish time. A result without a PNG of its own
gets a bar chart of its numbers.

Scripts with a `--target` of their own measure one switch target per run
(PER_TARGET): run_all runs them on p4sim into the results directory and,
where `p4c` and `simple_switch_grpc` are on PATH, again with `--target bmv2`
into its `bmv2/` subdirectory (`<name>-bmv2` on the page; "skipped" there
without bmv2, which is not a failure). Scripts that compare the targets in
one process (forwarder_veth_pps, p4runtime_writes) run once. The page opens
with the p4sim / bmv2 ratios of the run (results_page.target_comparison).

    .venv/bin/python bench/run_all.py            # full: bench/results/, docs/results.md
    .venv/bin/python bench/run_all.py --quick    # bench/results/quick/ and its results.md
    .venv/bin/python bench/run_all.py --only p4sim_scale --only p4sim_pps
    .venv/bin/python bench/run_all.py --only p4_compile_time   # p4c-bm2-ss on PATH for ratios
    .venv/bin/python bench/run_all.py --page-only    # rebuild the page from the JSON

The full run fits in about 20 minutes on 2 cores; run it on a quiet machine, the
figures are only as good as the machine is idle. Exit status: 0 when every
benchmark succeeded, 1 otherwise (the page then lists the failures).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))
from machine import commit, machine  # noqa: E402
from results_page import fmt, write_page  # noqa: E402

RESULTS = BENCH / "results"
PAGE = ROOT / "docs" / "results.md"
LIBRARIES = {"run_all", "machine", "results_page"}
# Smaller counts for quick runs of scripts that have no --quick of their own.
QUICK_ARGS = {
    "p4runtime_writes": ["--single", "300", "--batches", "5"],
    "p4sim_veth_pps": ["--seconds", "1"],
}
TIMEOUT_S = {"full": 600, "quick": 180}
SUMMARY = "run_all.json"
# Benchmarks measuring one switch target per run (their own --target):
# also run on bmv2 where it is installed.
PER_TARGET = {"handoff", "newconn"}
BMV2_TOOLS = ("p4c", "simple_switch_grpc")


@dataclass(frozen=True)
class Job:
    """One run of a benchmark script: its name on the page, the target it
    measures when the script takes --target, and its results directory."""

    name: str
    script: Path
    out_dir: Path
    extra: tuple[str, ...] = ()
    log_dir: Path | None = None  # default out_dir

    @classmethod
    def plan(cls, scripts: list[Path], out_dir: Path) -> list[Job]:
        jobs = []
        for script in scripts:
            jobs.append(cls(script.stem, script, out_dir))
            if script.stem in PER_TARGET:
                jobs.append(cls(f"{script.stem}-bmv2", script, out_dir / "bmv2",
                                ("--target", "bmv2"), out_dir))  # fmt: skip
        return jobs


@dataclass
class Outcome:
    name: str
    status: str  # "ok", "failed: ..."
    seconds: float
    command: list[str]
    results: list[str] = field(default_factory=list)  # JSON files, relative to ROOT
    plots: list[str] = field(default_factory=list)


def benchmarks(only: list[str]) -> list[Path]:
    scripts = [
        p
        for p in sorted(BENCH.glob("*.py"))
        if p.stem not in LIBRARIES and '__name__ == "__main__"' in p.read_text()
    ]
    if only:
        unknown = set(only) - {p.stem for p in scripts}
        if unknown:
            raise SystemExit(f"no benchmark named {', '.join(sorted(unknown))}")
        scripts = [p for p in scripts if p.stem in only]
    return scripts


def command(script: Path, quick: bool, out_dir: Path, extra: tuple[str, ...] = ()) -> list[str]:
    help_text = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    args = [sys.executable, str(script), *extra]
    if quick:
        args += ["--quick"] if "--quick" in help_text else QUICK_ARGS.get(script.stem, [])
    if "--out" in help_text:
        args += ["--out", str(out_dir)]
    elif "--json" in help_text:
        args += ["--json", str(out_dir / f"{script.stem}.json")]
    return args


def _files(directory: Path, pattern: str) -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in directory.rglob(pattern)} if directory.exists() else {}


def _written(before: dict[Path, float], after: dict[Path, float]) -> list[Path]:
    return sorted(p for p, mtime in after.items() if before.get(p) != mtime)


def run_one(job: Job, quick: bool) -> Outcome:
    mode = "quick" if quick else "full"
    script, out_dir = job.script, job.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    args = command(script, quick, out_dir, job.extra)
    shown = [str(Path(a).relative_to(ROOT)) if a.startswith(str(ROOT)) else a for a in args[1:]]
    print(f"== {job.name}: {' '.join(shown)}", flush=True)
    if "--target" in job.extra and any(shutil.which(t) is None for t in BMV2_TOOLS):
        print("   skipped: p4c or simple_switch_grpc not on PATH")
        return Outcome(job.name, "skipped: p4c or simple_switch_grpc not on PATH", 0.0, shown)
    before_json, before_png = _files(RESULTS, "*.json"), _files(RESULTS, "*.png")
    log = (job.log_dir or out_dir) / f"{job.name}.log"
    started = time.perf_counter()
    try:
        with log.open("w") as sink:
            done = subprocess.run(
                args, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, timeout=TIMEOUT_S[mode]
            )
        status = "ok" if done.returncode == 0 else f"failed: exit {done.returncode}"
    except subprocess.TimeoutExpired:
        status = f"failed: over {TIMEOUT_S[mode]} s"
    seconds = round(time.perf_counter() - started, 1)
    if status != "ok":
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        status += f" ({tail[0][:200]})"
    outcome = Outcome(job.name, status, seconds, shown)
    env = {
        "machine": machine(),
        **commit(),
        "command": outcome.command,
        "mode": mode,
        "seconds": seconds,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    pngs = _written(before_png, _files(RESULTS, "*.png"))
    for path in _written(before_json, _files(RESULTS, "*.json")):
        if path.name == SUMMARY:
            continue
        stamp(path, env)
        outcome.results.append(str(path.relative_to(ROOT)))
        own = [p for p in pngs if p.stem == path.stem]
        if not own:
            own = [plot_numbers(path)]
        outcome.plots += [str(p.relative_to(ROOT)) for p in own]
    outcome.plots += [
        str(p.relative_to(ROOT)) for p in pngs if str(p.relative_to(ROOT)) not in outcome.plots
    ]
    print(f"   {status} in {seconds} s; results: {', '.join(outcome.results) or 'none'}")
    return outcome


def stamp(path: Path, env: dict[str, Any]) -> None:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        data = {"results": data}
    data["environment"] = env
    path.write_text(json.dumps(data, indent=2) + "\n")


def numbers(data: Any, prefix: str = "") -> list[tuple[str, float]]:
    """(path, value) of every number in a result, the environment aside."""
    if isinstance(data, bool):
        return []
    if isinstance(data, int | float):
        return [(prefix, float(data))]
    out: list[tuple[str, float]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key != "environment":
                out += numbers(value, f"{prefix} / {key}" if prefix else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += numbers(value, f"{prefix}[{i}]")
    return out


def plot_numbers(path: Path) -> Path:
    """A horizontal bar per number of the result (log scale when they span
    more than two decades), for results that come without a plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = numbers(json.loads(path.read_text()))[:40]
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.32 * max(len(figures), 1)))
    labels = [name for name, _ in figures][::-1]
    values = [value for _, value in figures][::-1]
    bars = ax.barh(labels, values, color="#4c72b0")
    ax.bar_label(bars, labels=[fmt(v) for v in values], padding=3, fontsize=8)
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > 100:
        ax.set_xscale("log")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title(path.stem, fontsize=10)
    fig.tight_layout()
    png = path.with_suffix(".png")
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke-sized runs, seconds each")
    parser.add_argument("--only", action="append", default=[], help="run this benchmark only")
    parser.add_argument("--page-only", action="store_true", help="rebuild the page, run nothing")
    args = parser.parse_args(argv)
    out_dir = RESULTS / "quick" if args.quick else RESULTS
    page = out_dir / "results.md" if args.quick else PAGE
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_path = out_dir / SUMMARY
    previous: dict[str, Any] = {}
    if summary_path.exists():
        previous = {o["name"]: o for o in json.loads(summary_path.read_text())["benchmarks"]}
    if not args.page_only:
        started = time.perf_counter()
        for job in Job.plan(benchmarks(args.only), out_dir):
            previous[job.name] = asdict(run_one(job, args.quick))
        total = round(time.perf_counter() - started, 1)
        print(f"benchmarks done in {total} s")
        summary = {
            "mode": "quick" if args.quick else "full",
            "machine": machine(),
            **commit(),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "benchmarks": [previous[k] for k in sorted(previous)],
        }
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    if not summary_path.exists():
        raise SystemExit(f"no {summary_path.relative_to(ROOT)}: run the benchmarks first")
    write_page(json.loads(summary_path.read_text()), page, ROOT)
    print(f"wrote {page.relative_to(ROOT)}")
    failed = [o["name"] for o in previous.values() if o["status"].startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
