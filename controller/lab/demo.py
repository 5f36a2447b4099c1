"""`make demo`: the basic lab on p4sim (or bmv2), real clients, real handoffs, then down.

Every request is made by a real client (curl, wrk) in the client host's
namespace against the VIP, so what it prints is what a user of the lab would
see: which back-end answered (the demo back-end's `X-Backend` header), whether
large bodies arrived intact (SHA-256 both ways), the load generator's figures,
the classifier's handoff latencies and the switch's flow table.

    python -m controller.lab.demo [--target p4sim|bmv2]    # make demo [TARGET=bmv2]

bmv2 needs `p4c` and `simple_switch_grpc` on PATH.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from controller.examples.demo_backend import pattern_sha256
from controller.lab import query, views
from controller.lab.lab import Lab, down, require_tools, up
from controller.lab.netns import LabError, in_netns
from controller.switch.pipeline import missing_tools

TOPOLOGY = Path(__file__).resolve().parents[2] / "topologies" / "basic.yaml"
BIG = 20_000_000

# (what it shows, curl arguments after the URL base)
REQUESTS: list[tuple[str, list[str]]] = [
    ("api pool, weighted round robin (b1 x2, b2 x1)", ["/"]),
    ("api pool, weighted round robin", ["/"]),
    ("api pool, weighted round robin", ["/"]),
    ("host *.example.com rule", ["/", "-H", "Host: shop.example.com"]),
    ("static pool, consistent hash on the path", ["/static/logo.png"]),
    ("static pool, same path, same back-end", ["/static/logo.png"]),
    ("uploads pool, least connections (POST)", ["/sha256", "--data-binary", "hello"]),
    ("no rule matches: HTTP 503 from the classifier", ["*", "-X", "OPTIONS",
                                                        "--request-target", "*"]),
]


class DemoError(Exception):
    pass


def client(lab: Lab, argv: Sequence[str], timeout: float = 60) -> str:
    namespace = lab.names.host(lab.topology.hosts_with_role("client")[0].name)
    done = subprocess.run(in_netns(namespace, argv), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise DemoError(f"`{' '.join(argv)}` failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def curl(lab: Lab, vip: str, path: str, extra: Sequence[str]) -> tuple[str, str, str]:
    """(status, X-Backend, seconds) of one request on a fresh connection
    (an IPv6 `vip` is written `[addr]`, with `-6 -g` among `extra`)."""
    url = f"http://{vip}{path if path.startswith('/') else '/'}"
    output = client(lab, ["curl", "-s", "-m", "10", "-o", "/dev/null", "-D", "-", "-w",
                          "TIME %{time_total}\n", *extra, url])
    status = re.search(r"^HTTP/1.1 (\d+)", output, re.M)
    backend = re.search(r"^X-Backend: (\S+)", output, re.M | re.I)
    seconds = re.search(r"^TIME (\S+)", output, re.M)
    return (status.group(1) if status else "?", backend.group(1) if backend else "-",
            f"{float(seconds.group(1)) * 1e3:.1f} ms" if seconds else "?")


def run_demo(console: Console, lab: Lab) -> None:
    vip = str(lab.topology.vips[0].address)
    table = Table(title=f"requests from {lab.topology.hosts_with_role('client')[0].name} "
                        f"to VIP {vip}:80, one connection each")
    for column in ("request", "policy decision", "status", "served by", "time"):
        table.add_column(column)
    for what, (path, *extra) in REQUESTS:
        status, backend, seconds = curl(lab, vip, path, extra)
        shown = path if path.startswith("/") else f"OPTIONS {path}"
        table.add_row(shown, what, status, backend, seconds)
    console.print(table)

    console.print(f"[bold]•[/] {BIG // 10**6} MB upload and download, each on a handed-off "
                  "connection, checked by SHA-256")
    with tempfile.NamedTemporaryFile(suffix=".bin") as body:
        data = os.urandom(BIG)
        body.write(data)
        body.flush()
        answer = client(lab, ["curl", "-s", "-m", "120", "--data-binary", f"@{body.name}",
                              f"http://{vip}/sha256"], timeout=150)
        expected = hashlib.sha256(data).hexdigest()
        verdict = "[green]intact[/]" if expected in answer else f"[red]MISMATCH[/] ({answer!r})"
        console.print(f"  upload   sha256 {expected[:16]}…  {verdict}")
    digest = client(lab, ["sh", "-c", f"curl -s -m 120 http://{vip}/bytes/{BIG} | sha256sum"],
                    timeout=150).split()[0]
    verdict = "[green]intact[/]" if digest == pattern_sha256(BIG) else "[red]MISMATCH[/]"
    console.print(f"  download sha256 {digest[:16]}…  {verdict}")

    vip6 = lab.topology.vips[0].address6
    if vip6 is not None:
        run_ipv6(console, lab, f"[{vip6}]")

    console.print("[bold]•[/] load: wrk, 50 connections for 5 s (each connection is handed "
                  "off once, then keeps alive)")
    load = client(lab, ["wrk", "-t2", "-c50", "-d5s", f"http://{vip}/"], timeout=60)
    for line in load.splitlines():
        if re.search(r"Requests/sec|Latency|requests in|Non-2xx|Socket errors", line):
            console.print(f"  {line.strip()}")

    # The views as `handoff stats|flows|trace` print them, at this console's width.
    width = console.width
    for stats in query.classifier_stats(lab.run_dir):
        for table in views.stats_tables(stats, width):
            console.print(table)
    flows = query.list_flows(lab.run_dir, True)
    console.print(views.flows_summary_table(flows, width))
    newest = max(flows.flows, key=lambda f: f.created_at, default=None)
    del flows.flows[8:]
    console.print(views.flows_table(flows, time.time(), width))
    console.print("(the first 8 flows; `handoff flows --all` lists all of them, "
                  "`--json` as one document)")
    if newest is not None:
        c = newest.connection
        console.print(f"[bold]•[/] handoff trace {c.client_ip}:{c.client_port}")
        request = query.trace_request(f"{c.client_ip}:{c.client_port}")
        for table in views.trace_tables(query.trace(lab.run_dir, request, limit=1), width):
            console.print(table)


def run_ipv6(console: Console, lab: Lab, vip6: str) -> None:
    """The same service over IPv6 (`curl -6` to the VIP's IPv6 address): the
    connections are handed off like the IPv4 ones."""
    table = Table(title=f"curl -6 to VIP {vip6}:80, one connection each")
    for column in ("request", "policy decision", "status", "served by", "time"):
        table.add_column(column)
    for what, (path, *extra) in REQUESTS[:3] + REQUESTS[4:6]:
        status, backend, seconds = curl(lab, vip6, path, ["-6", "-g", *extra])
        table.add_row(path, what, status, backend, seconds)
    console.print(table)
    fetch = f"curl -6 -g -s -m 120 http://{vip6}/bytes/{BIG} | sha256sum"
    digest = client(lab, ["sh", "-c", fetch], timeout=150).split()[0]
    verdict = "[green]intact[/]" if digest == pattern_sha256(BIG) else "[red]MISMATCH[/]"
    console.print(f"  IPv6 {BIG // 10**6} MB download sha256 {digest[:16]}…  {verdict}")
    handed = sum(1 for f in query.list_flows(lab.run_dir, True).flows
                 if ":" in f.connection.client_ip)  # fmt: skip
    console.print(f"  IPv6 connections handed off so far: {handed}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("p4sim", "bmv2"), default="p4sim",
                        help="the switch: p4sim (default) or bmv2's simple_switch_grpc")
    args = parser.parse_args(argv)
    # A terminal's width; 80 columns through a pipe (the views fit it).
    console = Console(width=None if sys.stdout.isatty() else 80)
    if os.geteuid() != 0:
        print("make demo: the lab creates network namespaces: run it as root", file=sys.stderr)
        return 1
    missing = missing_tools(args.target)
    if missing:
        print(f"make demo: target {args.target} needs {' and '.join(missing)} on PATH",
              file=sys.stderr)
        return 1
    try:
        require_tools()
        lab = Lab.of(TOPOLOGY, Path("run"))
        console.rule(f"P4 Handoff demo: lab {lab.topology.name} on {args.target}")
        down(lab)
        up(lab, args.target, step=lambda text: console.print(f"[bold]•[/] {text}"))
        try:
            run_demo(console, lab)
        finally:
            stopped, removed = down(lab)
            console.print(f"[bold]•[/] lab down: stopped {len(stopped)} processes, removed "
                          f"{len(removed)} namespaces; logs in {lab.run_dir}/logs")
    except (LabError, DemoError, query.InspectError, subprocess.TimeoutExpired) as error:
        print(f"make demo: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
