"""New connections per second: handoff, HAProxy and a direct back-end side by side on one lab.

The lab is bench/handoff.py's (controller.lab.session.LabSession: the basic
topology on p4sim, the shipped switch, controller, classifier on k1, agents
and demo back-ends on b1..b3). Next to the handoff path the bench starts,
in the same lab:
  direct   the demo back-end (`handoff backend --listen`) on b1:8080; the
           client talks to it with no load balancer in between
  haproxy  Debian's HAProxy in k1's namespace (HTTP mode, round robin over
           demo back-ends on b1..b3:8080, the same application code)
  handoff  the VIP: the classifier reads the request and hands the
           connection to b1..b3 (round robin)
wrk runs in the client's namespace c1 against each, with `-H 'Connection:
close'` (one connection per request: new connections per second) at 8
and 50 clients, and with keep-alive at 8 clients (requests per second);
then curl downloads `--download-mb` MB (the demo back-end's /bytes/N) over
one connection on each path (MB/s, and the CPU seconds each process spent
on it). `--repeat` rounds in which the three paths take turns, each row
keeping the median run (on a shared machine, outside load then falls on
all paths alike).
For every run the CPU time of each lab process is read from
/proc/PID/stat before and after, and reported per request (with
Connection: close, per connection): where a handed-off connection's cost
lands, process by process. So are the frames the switch received on its
ports (the kernel's counters of its veth ends, whatever the target): each
crossing of the switch counts once, the lab's background traffic
(heartbeats, release notices) included, since a path's own messages are
part of what it costs the switch.

    .venv/bin/python bench/newconn.py [--seconds 6] [--repeat 3]
    .venv/bin/python bench/newconn.py --quick

Needs root, wrk and haproxy (`make debs` installs both); without haproxy
the HAProxy rows are skipped and say so. Writes bench/results/newconn.json
and .png (newconn-quick.* with --quick; `--out DIR` for another directory).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
DIRECT_PORT = 8080
HAPROXY_PORT = 8081
BACKENDS = ["b1", "b2", "b3"]
# c1 is a load generator: one address opening thousands of connections a
# second, each leaving a TIME_WAIT socket in c1 for 60 s (wrk closes first;
# HAProxy closes before wrk, so its TIME_WAITs stay on k1). Without reuse,
# connect() searched past them for a free port: the direct path fell from
# 2,700 to 450 connections/s round after round, and every path paid for
# the TIME_WAITs the runs before it left. With reuse a port comes back
# after a second; on the handoff path a new connection may then meet the
# previous one's switch entry in its end grace (the controller's `reused`
# removals, about 1 % of the connections).
CLIENT_SYSCTLS = ("net.ipv4.tcp_tw_reuse=1",)
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _switch_frames(lab: Any) -> int:
    """Frames received on every port of the lab's switch so far."""
    namespace = lab.names.switch_of(lab.topology, lab.topology.switch.name)
    shown = subprocess.run(
        ["ip", "-n", namespace, "-j", "-s", "link"], capture_output=True, text=True, check=True
    ).stdout
    links = json.loads(shown)
    return sum(int(link["stats64"]["rx"]["packets"]) for link in links if link["ifname"] != "lo")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests, errors and latency percentiles from `wrk --latency` output."""
    result: dict[str, Any] = {}
    match = re.search(r"(\d+) requests in ([\d.]+)(s|ms|m)", output)
    if not match:
        raise ValueError(f"no request count in wrk's output:\n{output}")
    result["requests"] = int(match.group(1))
    seconds = float(match.group(2)) * {"s": 1.0, "ms": 1e-3, "m": 60.0}[match.group(3)]
    result["seconds"] = round(seconds, 3)
    result["requests_per_s"] = round(result["requests"] / seconds, 1) if seconds else 0.0
    for pct in ("50", "99"):
        found = re.search(rf"^\s+{pct}(?:\.0+)?%\s+(\S+)", output, re.M)
        if found:
            result[f"p{pct}_ms"] = round(_ms(found.group(1)), 3)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    result["socket_errors"] = sum(int(g) for g in errors.groups()) if errors else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    return result


def haproxy_config(bind: str, backends: list[str]) -> str:
    servers = "\n".join(
        f"    server {name} {address}:{DIRECT_PORT}" for name, address in backends_of(backends)
    )
    return f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend vip
    bind {bind}:{HAPROXY_PORT}
    default_backend demo
backend demo
    balance roundrobin
{servers}
"""


def backends_of(pairs: list[str]) -> list[tuple[str, str]]:
    return [tuple(p.split("=", 1)) for p in pairs]  # type: ignore[misc]


def _listening(lab: Any, host: str, address: tuple[str, int], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            lab.call_in(host, lambda: socket.create_connection(address, timeout=1)).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {address[0]}:{address[1]} (from {host})")


def run_wrk(
    lab: Any, url: str, clients: int, seconds: float, close: bool, pids: dict[str, int]
) -> dict[str, Any]:
    argv = ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--latency", "--timeout", "5s"]
    if close:
        argv += ["-H", "Connection: close"]
    before = {name: _cpu_s(pid) for name, pid in pids.items()}
    frames_before = _switch_frames(lab)
    done = lab.command("c1", [*argv, url], check=False, timeout=seconds + 60)
    frames = _switch_frames(lab) - frames_before
    after = {name: _cpu_s(pid) for name, pid in pids.items()}
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-1000:]}")
    result = parse_wrk(done.stdout)
    requests = max(result["requests"], 1)
    result["switch_frames_per_request"] = round(frames / requests, 2)
    cpu = {name: after[name] - before[name] for name in pids}
    result["cpu_ms_per_request"] = {
        name: round(spent * 1e3 / requests, 3) for name, spent in cpu.items() if spent > 0
    }
    result["cpu_ms_per_request_total"] = round(sum(cpu.values()) * 1e3 / requests, 3)
    return result


def run_download(lab: Any, url: str, size: int, pids: dict[str, int]) -> dict[str, Any]:
    """One GET of `size` bytes by curl in c1: MB/s and each process's CPU
    seconds. A short or failed body is an error, not a figure."""
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}"]
    before = {name: _cpu_s(pid) for name, pid in pids.items()}
    done = lab.command("c1", [*argv, url], check=False, timeout=300)
    after = {name: _cpu_s(pid) for name, pid in pids.items()}
    fields = done.stdout.split()
    if done.returncode != 0 or len(fields) != 3 or fields[:2] != ["200", str(size)]:
        raise RuntimeError(
            f"download of {size} bytes from {url} failed ({done.returncode}): "
            f"{done.stdout!r} {done.stderr[-500:]}"
        )
    seconds = float(fields[2])
    cpu = {name: round(after[name] - before[name], 3) for name in pids}
    return {
        "bytes": size,
        "seconds": round(seconds, 3),
        "mb_per_s": round(size / seconds / 1e6, 1),
        "cpu_s": {name: spent for name, spent in cpu.items() if spent > 0},
        "cpu_s_total": round(sum(cpu.values()), 3),
    }


def _median_run(runs: list[dict[str, Any]], key: str = "requests_per_s") -> dict[str, Any]:
    """The run with the median `key` (a rate), with every run's rate next to it."""
    ordered = sorted(runs, key=lambda r: r[key])
    chosen = dict(ordered[len(ordered) // 2])
    chosen[f"runs_{key}"] = [r[key] for r in runs]
    return chosen


def _group(name: str) -> str:
    """Processes summed by role for the CPU table."""
    for prefix, role in (
        ("agent-", "agents"), ("backend-", "app (handover)"), ("direct-", "app (direct)"),
    ):  # fmt: skip
        if name.startswith(prefix):
            return role
    return name


def plot(document: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = document["runs"]
    paths = [p for p in ("direct", "haproxy", "handoff") if any(r["path"] == p for r in runs)]
    figure, (rate, cpu, download) = plt.subplots(
        1, 3, figsize=(17, 4.4), gridspec_kw={"width_ratios": [3, 2, 1.3]}
    )
    modes = [("close", 8), ("close", 50), ("keepalive", 8)]
    width = 0.8 / len(paths)
    for i, name in enumerate(paths):
        heights = []
        for mode, clients in modes:
            found = [r for r in runs if (r["path"], r["mode"], r["clients"]) == (name, mode,
                                                                                  clients)]
            heights.append(found[0]["requests_per_s"] if found else 0.0)
        xs = [j + i * width for j in range(len(modes))]
        rate.bar(xs, heights, width, label=name)
    rate.set_xticks([j + width * (len(paths) - 1) / 2 for j in range(len(modes))])
    rate.set_xticklabels(["new conn., 8 clients", "new conn., 50 clients", "keep-alive, 8"])
    rate.set_yscale("log")
    rate.set_ylabel("requests per second (wrk)")
    rate.legend()
    rate.grid(True, axis="y", which="both", alpha=0.3)
    bottom = [0.0] * len(paths)
    roles = sorted({_group(n) for r in runs for n in r["cpu_ms_per_request"]})
    for role in roles:
        heights = []
        for name in paths:
            found = [r for r in runs if (r["path"], r["mode"], r["clients"]) == (name, "close", 50)]
            per = found[0]["cpu_ms_per_request"] if found else {}
            heights.append(sum(v for n, v in per.items() if _group(n) == role))
        cpu.bar(paths, heights, bottom=bottom, label=role)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    cpu.set_ylabel("CPU ms per new connection (50 clients)")
    cpu.legend(fontsize=7)
    cpu.grid(True, axis="y", alpha=0.3)
    downloads = {d["path"]: d["mb_per_s"] for d in document.get("downloads", [])}
    download.bar(list(downloads), list(downloads.values()), color=["C0", "C1", "C2"])
    download.set_ylabel(f"MB/s, one {document.get('download_mb', 0):g} MB download")
    download.grid(True, axis="y", alpha=0.3)
    figure.suptitle("New connections: handoff vs HAProxy vs direct, lab on p4sim (2 cores)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _table(runs: list[dict[str, Any]]) -> str:
    rows = [("path", "mode", "clients", "req/s", "p50 ms", "p99 ms", "errors", "CPU ms/req",
             "switch frames/req")]  # fmt: skip
    for r in runs:
        rows.append((
            r["path"], r["mode"], str(r["clients"]), f"{r['requests_per_s']:.0f}",
            f"{r.get('p50_ms', 0):.2f}", f"{r.get('p99_ms', 0):.2f}",
            str(r["socket_errors"] + r["non_2xx"]), f"{r['cpu_ms_per_request_total']:.2f}",
            f"{r['switch_frames_per_request']:.1f}",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def bench_main(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH))
    import handoff as handoff_bench  # bench/handoff.py: the same lab and policy

    from controller.lab.session import LabSession, wait_for
    from controller.switch.pipeline import missing_tools

    if os.geteuid() != 0:
        print("bench/newconn.py: cannot run: needs root (network namespaces)", file=sys.stderr)
        return 2
    if shutil.which("wrk") is None:
        print("bench/newconn.py: cannot run: needs wrk (`make debs`)", file=sys.stderr)
        return 2
    missing = missing_tools(args.target)
    if missing:
        print(f"bench/newconn.py: target {args.target} needs {' and '.join(missing)}",
              file=sys.stderr)  # fmt: skip
        return 2
    haproxy = shutil.which("haproxy")
    skipped: dict[str, str] = {}
    if haproxy is None:
        skipped["haproxy"] = "haproxy is not installed (`make debs` installs it): rows skipped"
        print(f"bench/newconn.py: {skipped['haproxy']}", file=sys.stderr)
    seconds = 3.0 if args.quick else args.seconds
    download_mb = 20.0 if args.quick else args.download_mb
    download_bytes = int(download_mb * 1e6)
    repeat = 1 if args.quick else args.repeat
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    with LabSession(policy=handoff_bench.POLICY, target=args.target, tag="n") as lab:
        for setting in CLIENT_SYSCTLS:
            lab.command("c1", ["sysctl", "-qw", setting])
        for host in BACKENDS:
            lab.spawn(f"direct-{host}", host, [
                sys.executable, "-m", "controller.cli", "backend", "--name", host,
                "--listen", f"{lab.address(host)}:{DIRECT_PORT}",
            ])  # fmt: skip
            _listening(lab, "c1", (lab.address(host), DIRECT_PORT))
        urls = {
            "direct": f"http://{lab.address('b1')}:{DIRECT_PORT}/",
            "handoff": f"http://{lab.vip[0]}:{lab.vip[1]}/",
        }
        if haproxy is not None:
            config = lab.run_dir / "haproxy.cfg"
            config.write_text(haproxy_config(
                lab.address("k1"), [f"{h}={lab.address(h)}" for h in BACKENDS]
            ))  # fmt: skip
            lab.spawn("haproxy", "k1", [haproxy, "-db", "-f", str(config)])
            try:
                _listening(lab, "c1", (lab.address("k1"), HAPROXY_PORT))
            except RuntimeError:
                print(lab.log("haproxy", 2000), file=sys.stderr)
                raise
            urls["haproxy"] = f"http://{lab.address('k1')}:{HAPROXY_PORT}/"
        pids = {r.name: r.pid for r in lab.records()}
        order = [p for p in ("direct", "haproxy", "handoff") if p in urls]
        modes = [("close", 8), ("close", 50), ("keepalive", 8)]
        # The paths take turns within each round, so that load from outside
        # the bench (a shared machine) falls on all of them alike.
        tries: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        fetched: dict[str, list[dict[str, Any]]] = {}
        for round_ in range(repeat):
            for mode, clients in modes:
                for path in order:
                    if path == "handoff":
                        # Each run starts with no held flows (cost must not
                        # depend on the previous run's ends still in grace).
                        wait_for(lambda: not lab.held_flows(), 120, "flows to end")
                    one = run_wrk(lab, urls[path], clients, seconds, mode == "close", pids)
                    tries.setdefault((path, mode, clients), []).append(one)
                    print(f"round {round_ + 1}: {path:8s} {mode:9s} {clients:3d} clients: "
                          f"{one['requests_per_s']:8.0f} req/s  "
                          f"p50 {one.get('p50_ms', 0):7.2f} ms  "
                          f"p99 {one.get('p99_ms', 0):7.2f} ms  "
                          f"CPU {one['cpu_ms_per_request_total']:.2f} ms/req",
                          flush=True)  # fmt: skip
            for path in order:
                got = run_download(lab, f"{urls[path]}bytes/{download_bytes}", download_bytes, pids)
                fetched.setdefault(path, []).append(got)
                print(f"round {round_ + 1}: {path:8s} download {download_mb:g} MB: "
                      f"{got['mb_per_s']:8.1f} MB/s  CPU {got['cpu_s_total']:.2f} s",
                      flush=True)  # fmt: skip
        for path in order:
            for mode, clients in modes:
                result = {
                    "run": f"{path}, {mode}, {clients} clients",
                    **_median_run(tries[(path, mode, clients)]),
                }
                result.update(path=path, mode=mode, clients=clients)
                runs.append(result)
        downloads = [{"path": p, **_median_run(fetched[p], "mb_per_s")} for p in order]
        outcomes = lab.outcomes("k1")
    print(_table(runs))
    for d in downloads:
        print(f"download {d['path']:8s} {d['mb_per_s']:8.1f} MB/s  CPU {d['cpu_s_total']:.2f} s: "
              + ", ".join(f"{n} {v:.2f}" for n, v in sorted(d["cpu_s"].items())))  # fmt: skip
    side = {}
    for clients in (8, 50):
        rate = {
            r["path"]: r["requests_per_s"] for r in runs
            if r["mode"] == "close" and r["clients"] == clients
        }  # fmt: skip
        if rate.get("haproxy"):
            side[f"handoff_over_haproxy_{clients}_clients"] = round(
                rate["handoff"] / rate["haproxy"], 3
            )
        if rate.get("direct"):
            side[f"handoff_over_direct_{clients}_clients"] = round(
                rate["handoff"] / rate["direct"], 3
            )
    speed = {d["path"]: d["mb_per_s"] for d in downloads}
    for other in ("haproxy", "direct"):
        if speed.get(other):
            side[f"download_handoff_over_{other}"] = round(speed["handoff"] / speed[other], 3)
    out_dir = Path(args.out) if args.out else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "newconn-quick" if args.quick else "newconn"
    document = {
        "what": "wrk -t1 -cN -dS --latency [-H 'Connection: close'] from c1; CPU per request "
        "from /proc/PID/stat of every lab process; downloads: curl from c1, one connection",
        "target": args.target,
        "seconds_per_run": seconds,
        "repeat": repeat,
        "ratios": side,
        "classifier_outcomes": outcomes,
        "client_sysctls": list(CLIENT_SYSCTLS),
        "skipped": skipped,
        "runs": runs,
        "download_mb": download_mb,
        "downloads": downloads,
        "seconds": round(time.perf_counter() - started, 1),
        "python": platform.python_version(),
        "cpus": len(os.sched_getaffinity(0)),
    }
    png = out_dir / f"{stem}.png"
    plot(document, png)
    out = out_dir / f"{stem}.json"
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"ratios {side}; classifier outcomes {outcomes}")
    print(f"wrote {out} and {png} ({document['seconds']} s)")
    failed = sum(
        r["socket_errors"] + r["non_2xx"] for r in runs if r["path"] == "handoff"
    )  # fmt: skip
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="wrk duration per run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds, paths taking turns (each row: the median)"
    )
    parser.add_argument(
        "--download-mb", type=float, default=100.0, help="size of each path's download (MB)"
    )
    parser.add_argument("--quick", action="store_true", help="3 s runs, 20 MB downloads")
    parser.add_argument("--target", default="p4sim", choices=("p4sim", "bmv2"))
    parser.add_argument("--out", help="directory for the JSON and PNG (default bench/results)")
    return bench_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
