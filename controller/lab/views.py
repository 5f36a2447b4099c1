"""What `handoff flows|stats|policy|trace` and `lab status` print: tables that
fit the terminal without cutting what an operator needs, and JSON documents.

Tables never shorten a cell with "…": every column folds rather than cuts,
and the columns an operator needs to act on (client address, flow id, state,
classifier, counter names) have a minimum width of their longest cell. When
a table is wider than the terminal, the columns marked optional are left out,
least useful first, and the caption says which (`--json` has everything).
Through a pipe there is no width limit: every column, every row, in full.

The JSON documents are plain dicts of plain values (ints, floats, strings,
lists), one per command; flow ids appear both as integers and in hex.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from controller.proto import handoff_pb2 as pb

Json = dict[str, Any]
UNLIMITED = 100_000  # the console width through a pipe


def make_console(width: int | None = None, force_terminal: bool | None = None) -> Console:
    """The terminal's width on a terminal, no limit through a pipe."""
    probe = Console(force_terminal=force_terminal)
    if width is None and not probe.is_terminal:
        width = UNLIMITED
    return Console(width=width, force_terminal=force_terminal, highlight=False)


# ---------------------------------------------------------------- fitting tables


@dataclass(frozen=True)
class Column:
    header: str
    justify: Literal["left", "right"] = "left"
    optional: int = 0  # 0: always shown; otherwise left out when narrow, highest first
    keep_whole: bool = False  # never folded: its width is its longest cell


def fit_table(
    title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int
) -> Table:
    """A table of `rows` that fits `width` by leaving out optional columns."""
    shown = list(range(len(columns)))
    optional = sorted((i for i, c in enumerate(columns) if c.optional),
                      key=lambda i: -columns[i].optional)  # fmt: skip
    measure = Console(width=UNLIMITED)
    while True:
        table = _table(title, columns, rows, shown)
        table.min_width = min(len(title), width)  # a title wraps at the table's width
        natural = measure.measure(table).maximum
        if natural <= width or not optional:
            break
        shown.remove(optional.pop(0))
    if natural > width and len(shown) > 2:
        return _listing(title, columns, rows)
    hidden = [columns[i].header for i in range(len(columns)) if i not in shown]
    if hidden:
        table.caption = f"({', '.join(hidden)} left out to fit {width} columns; --json has all)"
    return table


def _listing(title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> Table:
    """Too narrow for even the needed columns: one `column  value` line per cell."""
    table = Table(title=title, box=None, show_header=False, title_justify="left",
                  padding=(0, 1, 0, 0), min_width=len(title))  # fmt: skip
    table.add_column(overflow="fold", no_wrap=True)
    table.add_column(overflow="fold")
    for number, row in enumerate(rows):
        if number:
            table.add_row("", "")
        for column, cell in zip(columns, row, strict=True):
            table.add_row(column.header, cell)
    return table


def _table(
    title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]], shown: Sequence[int]
) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, title_justify="left",
                  caption_justify="left", collapse_padding=True)  # fmt: skip
    for i in shown:
        column = columns[i]
        longest = max((len(row[i]) for row in rows), default=0)
        table.add_column(
            column.header, justify=column.justify, overflow="fold",
            min_width=longest if column.keep_whole and longest else None,
        )  # fmt: skip
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    return table


# ---------------------------------------------------------------- small formats


def age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def flow_id(value: int) -> str:
    return f"{value:#010x}"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def stamp(unix: float) -> str:
    if not unix:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(unix)) + f".{int(unix % 1 * 1000):03d}"


# ---------------------------------------------------------------- flows


def flow_state(flow: pb.Flow) -> str:
    if flow.state == "installed" and not flow.on_switch:
        return "installed (lost)"  # the controller wrote it, the switch no longer has it
    return flow.state


FLOW_COLUMNS = (
    Column("client", keep_whole=True),
    Column("VIP", optional=3),
    Column("back-end", keep_whole=True),
    Column("flow id", keep_whole=True),
    Column("state", keep_whole=True),
    Column("age", justify="right", optional=1),
    Column("packets", justify="right", keep_whole=True),
    Column("bytes", justify="right", optional=2),
    Column("classifier", keep_whole=True),
)


# With several switches: which switch's encap_map holds the flow's entry.
SWITCH_COLUMN = Column("switch", keep_whole=True)


def flows_table(response: pb.ListFlowsResponse, now: float, width: int = UNLIMITED) -> Table:
    rows = []
    several = any(flow.switches for flow in response.flows)
    for flow in response.flows:
        c = flow.connection
        end = flow.ended_at or now
        row = [
            endpoint(c.client_ip, c.client_port), endpoint(c.vip, c.vip_port),
            flow.backend_name or flow.ref.backend, flow_id(flow.ref.flow_id), flow_state(flow),
            age(end - flow.created_at), str(flow.packets), str(flow.bytes), flow.classifier,
        ]  # fmt: skip
        if several:
            row.append(",".join(flow.switches) or "-")
        rows.append(row)
    vips = {row[1] for row in rows}
    title = f"{len(rows)} flows" + (f" to {vips.pop()}" if len(vips) == 1 else "")
    columns = (*FLOW_COLUMNS, SWITCH_COLUMN) if several else FLOW_COLUMNS
    return fit_table(title, columns, rows, width)


def flow_json(flow: pb.Flow, now: float) -> Json:
    c = flow.connection
    document: Json = {
        "client": endpoint(c.client_ip, c.client_port),
        "client_ip": c.client_ip, "client_port": c.client_port,
        "vip": c.vip, "vip_port": c.vip_port,
        "backend": flow.backend_name, "backend_address": flow.ref.backend,
        "forwarder": flow.ref.forwarder,
        "flow_id": flow.ref.flow_id, "flow_id_hex": flow_id(flow.ref.flow_id),
        "state": flow.state, "on_switch": flow.on_switch,
        "packets": flow.packets, "bytes": flow.bytes,
        "classifier": flow.classifier,
        "created_at": flow.created_at, "ended_at": flow.ended_at or None,
        "age_s": round((flow.ended_at or now) - flow.created_at, 3),
    }  # fmt: skip
    if flow.end_reason:
        document["end_reason"] = flow.end_reason
    if flow.switches:
        document["switches"] = list(flow.switches)
    return document


def flows_json(response: pb.ListFlowsResponse, now: float) -> Json:
    return {"at": now, "count": len(response.flows),
            "flows": [flow_json(f, now) for f in response.flows]}  # fmt: skip


def flows_summary_table(response: pb.ListFlowsResponse, width: int = UNLIMITED) -> Table:
    """One row per back-end: live and ended flows, and switch counters."""
    counts: dict[str, list[int]] = {}
    for flow in response.flows:
        row = counts.setdefault(flow.backend_name or flow.ref.backend, [0, 0, 0, 0])
        row[0 if flow.state != "quarantine" else 1] += 1
        row[2] += flow.packets
        row[3] += flow.bytes
    columns = [Column("back-end", keep_whole=True)] + [
        Column(h, justify="right") for h in ("live", "ended", "packets", "bytes")
    ]
    rows = [[backend, *(str(v) for v in counts[backend])] for backend in sorted(counts)]
    return fit_table(f"{len(response.flows)} flows by back-end", columns, rows, width)


# ---------------------------------------------------------------- stats


def counter_name(name: str, role: str) -> str:
    """`p4handoff_classifier_connections_total{outcome="handed_off"}` ->
    `connections_total{outcome=handed_off}`: the prefix and quotes go, nothing else."""
    return name.removeprefix(f"p4handoff_{role}_").replace('"', "")


def _is_histogram_part(name: str) -> bool:
    return name.split("{")[0].endswith(("_created", "_count", "_sum", "_bucket"))


def stats_tables(response: pb.StatsResponse, width: int = UNLIMITED) -> list[Table]:
    """The counters, and the latency percentiles per step (milliseconds)."""
    title = f"{response.role} {response.name}"
    if response.role == "controller":
        title += " (primary)" if response.primary else " (backup)"
    rows = [[counter_name(name, response.role), f"{response.counters[name]:g}"]
            for name in sorted(response.counters) if not _is_histogram_part(name)]  # fmt: skip
    counters = fit_table(title, [Column("counter", keep_whole=True),
                                 Column("value", justify="right")], rows, width)  # fmt: skip
    tables = [counters]
    if response.latencies:
        columns = [Column("step", keep_whole=True), Column("n", justify="right"),
                   Column("mean ms", justify="right", optional=2),
                   Column("p50 ms", justify="right"), Column("p99 ms", justify="right"),
                   Column("max ms", justify="right", optional=1)]  # fmt: skip
        latency_rows = [[lat.step, str(lat.count), ms(lat.mean_s), ms(lat.p50_s), ms(lat.p99_s),
                         ms(lat.max_s)] for lat in response.latencies]  # fmt: skip
        tables.append(fit_table(f"{title}: latency by step (recent samples)", columns,
                                latency_rows, width))  # fmt: skip
    return tables


def stats_table(response: pb.StatsResponse, width: int = UNLIMITED) -> Group:
    return Group(*stats_tables(response, width))


def stats_json(response: pb.StatsResponse) -> Json:
    return {
        "role": response.role, "name": response.name, "primary": response.primary,
        "counters": dict(sorted(response.counters.items())),
        "latencies": {lat.step: {"count": lat.count, "mean_s": lat.mean_s, "p50_s": lat.p50_s,
                                 "p99_s": lat.p99_s, "max_s": lat.max_s}
                      for lat in response.latencies},
    }  # fmt: skip


# ---------------------------------------------------------------- policy


def policy_table(response: pb.PolicyResponse, classifier: str = "",
                 width: int = UNLIMITED) -> Table:  # fmt: skip
    rows = [[pool.name, pool.algorithm, b.name, str(b.weight), "yes" if b.live else "NO",
             str(b.active)] for pool in response.pools for b in pool.backends]  # fmt: skip
    columns = [Column("pool", keep_whole=True), Column("algorithm", optional=1),
               Column("back-end", keep_whole=True), Column("weight", justify="right"),
               Column("live", keep_whole=True), Column("active", justify="right")]  # fmt: skip
    who = f"{classifier}: " if classifier else ""
    title = f"{who}policy {response.source} (no match: {response.on_no_match})"
    return fit_table(title, columns, rows, width)


def policy_json(response: pb.PolicyResponse, classifier: str) -> Json:
    return {
        "classifier": classifier, "source": response.source, "on_no_match": response.on_no_match,
        "pools": [{"name": p.name, "algorithm": p.algorithm,
                   "backends": [{"name": b.name, "weight": b.weight, "live": b.live,
                                 "active": b.active} for b in p.backends]}
                  for p in response.pools],
    }  # fmt: skip


# ---------------------------------------------------------------- lab status


@dataclass(frozen=True)
class ProcessRow:
    name: str
    namespace: str
    pid: int
    running: bool
    log: str


def lab_status_table(name: str, run_dir: str, processes: Sequence[ProcessRow],
                     namespaces: Sequence[str], width: int = UNLIMITED) -> Table:  # fmt: skip
    prefix = run_dir.rstrip("/") + "/"
    rows = [[p.name, p.namespace, str(p.pid), "running" if p.running else "STOPPED",
             p.log.removeprefix(prefix)] for p in processes]  # fmt: skip
    columns = [Column("process", keep_whole=True), Column("namespace", optional=2),
               Column("pid", justify="right", optional=1), Column("state", keep_whole=True),
               Column("log", keep_whole=True)]  # fmt: skip
    title = f"lab {name}: {len(processes)} processes, {len(namespaces)} namespaces, in {run_dir}"
    return fit_table(title, columns, rows, width)


def lab_status_json(
    name: str, run_dir: str, info: Mapping[str, object], processes: Sequence[ProcessRow],
    namespaces: Sequence[str],
) -> Json:
    return {
        "lab": name, "run_dir": run_dir, "target": info.get("target"),
        "tls": bool(info.get("tls")), "up": any(p.running for p in processes),
        "processes": [{"name": p.name, "namespace": p.namespace, "pid": p.pid,
                       "running": p.running, "log": p.log} for p in processes],
        "namespaces": list(namespaces),
    }  # fmt: skip


# ---------------------------------------------------------------- trace


@dataclass
class Story:
    """One connection (one flow id): what the classifier and the controller know."""

    record: pb.HandoffRecord | None
    flow: pb.Flow | None
    agent_live: bool | None = None

    @property
    def connection(self) -> pb.Connection:
        if self.record is not None:
            return self.record.connection
        assert self.flow is not None
        return self.flow.connection

    @property
    def flow_ref(self) -> pb.FlowRef | None:
        if self.flow is not None:
            return self.flow.ref
        if self.record is not None and self.record.HasField("flow"):
            return self.record.flow
        return None

    @property
    def started(self) -> float:
        if self.record is not None:
            return self.record.accepted_at
        return self.flow.created_at if self.flow is not None else 0.0

    def ending(self) -> str:
        """How it ended (or that it has not)."""
        flow, record = self.flow, self.record
        if flow is not None and flow.state in ("quarantine", "ended"):
            reason = flow.end_reason or "ended"
            return f"{reason} at {stamp(flow.ended_at)}" if flow.ended_at else reason
        if record is not None and record.outcome and record.outcome != "handed_off":
            return f"{record.outcome} (at the classifier, {stamp(record.finished_at)})"
        if flow is not None and flow.state == "installed":
            return "live" if flow.on_switch else "live, but its switch entry is missing"
        if record is not None and not record.outcome:
            return "handoff in progress"
        if flow is not None:
            return flow.state
        return "handed off (the controller no longer remembers the flow)"


def join_stories(records: Iterable[pb.HandoffRecord], flows: Iterable[pb.Flow]) -> list[Story]:
    """Pair each classifier record with the controller's flow of the same flow
    id (the one created closest after the accept); unpaired ones stand alone.
    Newest first."""
    remaining = list(flows)
    stories = []
    for record in records:
        match = None
        if record.HasField("flow"):
            port = record.connection.client_port
            candidates = [f for f in remaining
                          if f.ref == record.flow and f.connection.client_port == port]  # fmt: skip
            if candidates:
                match = min(candidates, key=lambda f: abs(f.created_at - record.accepted_at))
                remaining.remove(match)
        stories.append(Story(record, match))
    stories += [Story(None, flow) for flow in remaining]
    stories.sort(key=lambda s: s.started, reverse=True)
    return stories


def story_rows(story: Story) -> list[tuple[str, str]]:
    record, flow, ref = story.record, story.flow, story.flow_ref
    c = story.connection
    rows = [("connection", f"{endpoint(c.client_ip, c.client_port)} -> "
                           f"{endpoint(c.vip, c.vip_port)}")]  # fmt: skip
    if record is not None:
        rows.append(("classifier", f"{record.classifier}, accepted {stamp(record.accepted_at)}"))
        if record.request:
            rows.append(("request", record.request))
        if record.rule_index >= 0:
            rows.append(("rule", f"rules[{record.rule_index}] {record.rule}"))
        else:
            rows.append(("rule", "none matched" if record.outcome else "-"))
        if record.pool:
            rows.append(("decision", f"pool {record.pool} -> back-end {record.backend_name}"))
    elif flow is not None:
        rows.append(("classifier", f"{flow.classifier} (its record of this connection is gone)"))
    if ref is not None:
        rows.append(("flow id", f"{flow_id(ref.flow_id)} ({ref.flow_id}) via {ref.forwarder} "
                                f"to {ref.backend}"))  # fmt: skip
    if record is not None:
        for phase in record.phases:
            rows.append((f"  {phase.step}", f"{ms(phase.seconds)} ms"))
        if record.outcome:
            rows.append(("outcome", record.outcome))
    if flow is not None:
        held = "yes" if flow.on_switch else "no"
        if flow.switches:
            held += f" on {','.join(flow.switches)}"
        rows.append(("switch entry", f"{held}: {flow.packets} packets, {flow.bytes} bytes "
                                     f"(state {flow.state})"))  # fmt: skip
    backend = (flow.backend_name if flow is not None else "") or (
        record.backend_name if record is not None else "")
    if backend:
        agent = f"{backend}"
        if record is not None and record.agent:
            agent += f" at {record.agent}"
        if story.agent_live is not None:
            agent += ", answering heartbeats" if story.agent_live else ", NOT answering heartbeats"
        rows.append(("agent", agent))
    rows.append(("ended", story.ending()))
    return rows


def trace_tables(stories: Sequence[Story], width: int = UNLIMITED) -> list[Table]:
    tables = []
    for number, story in enumerate(stories, 1):
        ref = story.flow_ref
        c = story.connection
        title = (f"connection {number} of {len(stories)}: "
                 f"{endpoint(c.client_ip, c.client_port)}"
                 + (f", flow {flow_id(ref.flow_id)}" if ref is not None else ""))  # fmt: skip
        columns = [Column("what", keep_whole=True), Column("value")]
        tables.append(fit_table(title, columns, [list(row) for row in story_rows(story)], width))
    return tables


def record_json(record: pb.HandoffRecord) -> Json:
    return {
        "classifier": record.classifier, "accepted_at": record.accepted_at,
        "finished_at": record.finished_at or None, "request": record.request,
        "rule_index": record.rule_index if record.rule_index >= 0 else None,
        "rule": record.rule or None, "pool": record.pool or None,
        "backend": record.backend_name or None, "agent": record.agent or None,
        "phases_s": {p.step: p.seconds for p in record.phases},
        "outcome": record.outcome or None,
    }  # fmt: skip


def story_json(story: Story, now: float) -> Json:
    c = story.connection
    ref = story.flow_ref
    return {
        "client": endpoint(c.client_ip, c.client_port), "client_ip": c.client_ip,
        "client_port": c.client_port, "vip": c.vip, "vip_port": c.vip_port,
        "flow_id": ref.flow_id if ref is not None else None,
        "flow_id_hex": flow_id(ref.flow_id) if ref is not None else None,
        "classifier": record_json(story.record) if story.record is not None else None,
        "flow": flow_json(story.flow, now) if story.flow is not None else None,
        "agent_live": story.agent_live,
        "ended": story.ending(),
    }  # fmt: skip


def trace_json(query: str, stories: Sequence[Story], now: float) -> Json:
    return {"query": query, "at": now, "connections": [story_json(s, now) for s in stories]}


def renderables(tables: Iterable[RenderableType]) -> Group:
    return Group(*tables)


def note(text: str) -> Text:
    return Text(text)
