"""`handoff flows|stats|policy|trace|lab status|shell` as an operator runs them
on a live lab: in a real terminal (tmux) at 80 and 200 columns and through a
pipe, the client address, flow id and state of a live flow appear in full;
`--json` is one document that agrees with the switch's own P4Runtime Read;
`trace` tells one connection's story from accept to its end; `shell` joins the
lab's switch over mutual TLS.

One lab for the module (a `--tls` lab, so `shell` is tested on TLS too), on
p4sim: the CLI only talks to the controller and the classifiers, whatever
the target.
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import bring_up
from e2e_support import get

from controller.lab.session import LabSession, wait_for
from controller.switch.tables import connection_of, flow_id_of

ROOT = Path(__file__).resolve().parents[2]
CLI_TOOLS = ("ip", "nft", "ethtool", "ss", "openssl", "tmux")
SHELL_PYTHON = ROOT / ".venv-p4rt-shell" / "bin" / "python"
CLIENT = "10.0.1.10"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabSession]:
    yield from bring_up(tmp_path_factory, "p4sim", tag="u", tools=CLI_TOOLS, tls=True)


class Live:
    """A keep-alive connection from c1, handed off, its switch entry in place."""

    def __init__(self, lab: LabSession) -> None:
        self.sock = lab.connect("c1")
        self.port: int = self.sock.getsockname()[1]
        self.sock.sendall(get("/"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1 << 16)
            assert chunk, f"connection closed before an answer: {head!r}"
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head
        wait_for(lambda: any(f.connection.client_port == self.port and f.on_switch
                             for f in lab.flows()), 10, f"port {self.port}'s switch entry")
        (flow,) = [f for f in lab.flows() if f.connection.client_port == self.port]
        self.flow_id: int = flow.ref.flow_id
        self.backend: str = flow.backend_name

    @property
    def client(self) -> str:
        return f"{CLIENT}:{self.port}"

    @property
    def flow_hex(self) -> str:
        return f"{self.flow_id:#010x}"


@pytest.fixture(scope="module")
def live(lab: LabSession) -> Iterator[Live]:
    connection = Live(lab)
    yield connection
    connection.sock.close()


def handoff_argv(lab: LabSession, *args: str) -> list[str]:
    return [sys.executable, "-m", "controller.cli", *args, "--run-dir", str(lab.run_dir)]


def piped(lab: LabSession, *args: str) -> str:
    done = subprocess.run(handoff_argv(lab, *args), capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def in_terminal(lab: LabSession, width: int, *args: str) -> list[str]:
    """The screen (and scrollback) of `handoff ARGS` run in a tmux terminal
    of `width` columns, once the command has exited. COLUMNS and LINES are
    unset, as in a user's terminal, so the width is the terminal's own."""
    server = lab.run_root / f"tmux-{uuid.uuid4().hex[:8]}"  # its socket; gone with the lab
    config = server.with_suffix(".conf")
    config.write_text("set -g remain-on-exit on\nset -g history-limit 5000\n")
    tmux = ["tmux", "-S", str(server), "-f", str(config)]
    command = (f"env -u COLUMNS -u LINES {shlex.join(handoff_argv(lab, *args))}; "
               f"echo '[exit '$?']'")  # fmt: skip
    subprocess.run([*tmux, "new-session", "-d", "-s", "cli", "-x", str(width), "-y", "50",
                    "-c", str(ROOT), command], check=True, timeout=30)  # fmt: skip
    try:
        def dead() -> bool:
            shown = subprocess.run([*tmux, "display-message", "-p", "-t", "cli", "#{pane_dead}"],
                                   capture_output=True, text=True, check=True, timeout=10)
            return shown.stdout.strip() == "1"  # fmt: skip

        wait_for(dead, 60, f"`handoff {' '.join(args)}` to finish in tmux")
        screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "cli", "-S", "-"],
                                capture_output=True, text=True, check=True,
                                timeout=10).stdout  # fmt: skip
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, timeout=10)
        server.unlink(missing_ok=True)
    lines = [line.rstrip() for line in screen.splitlines()]
    assert "[exit 0]" in lines, screen
    lines = lines[: lines.index("[exit 0]")]
    assert all(len(line) <= width for line in lines)
    return lines


def line_with(lines: list[str], *cells: str) -> str:
    """The one output line that holds every cell, each in full."""
    found = [line for line in lines if all(cell in line for cell in cells)]
    assert found, f"no line holds {cells} in:\n" + "\n".join(lines)
    return found[0]


@pytest.mark.parametrize("width", [80, 200])
def test_flows_in_a_terminal_show_the_live_flow_in_full(
    lab: LabSession, live: Live, width: int
) -> None:
    lines = in_terminal(lab, width, "flows")
    row = line_with(lines, live.client, live.flow_hex, "installed", live.backend, "k1")
    assert "…" not in "\n".join(lines)
    if width == 200:
        assert "10.0.0.100:80" in row  # every column has room
    else:
        assert any("left out to fit 80 columns" in line for line in lines)


def test_flows_through_a_pipe_have_every_column(lab: LabSession, live: Live) -> None:
    text = piped(lab, "flows")
    assert "\x1b[" not in text  # no terminal, no colours
    line_with(text.splitlines(), live.client, "10.0.0.100:80", live.backend, live.flow_hex,
              "installed", "k1")  # fmt: skip


def test_flows_json_agrees_with_the_switchs_p4runtime_read(lab: LabSession, live: Live) -> None:
    document = json.loads(piped(lab, "flows", "--json"))
    on_switch = {(f["client_ip"], f["client_port"], f["vip"], f["vip_port"]): f["flow_id"]
                 for f in document["flows"] if f["on_switch"]}  # fmt: skip
    read = {connection_of(entry): flow_id_of(entry) for entry in lab.encap_entries()}
    assert on_switch == read and read  # the same entries, the same flow ids
    (mine,) = [f for f in document["flows"] if f["client_port"] == live.port]
    assert (mine["flow_id"], mine["flow_id_hex"], mine["state"], mine["classifier"]) == (
        live.flow_id, live.flow_hex, "installed", "k1")
    assert mine["packets"] >= 1 and mine["bytes"] > 0 and document["count"] == len(
        document["flows"])


@pytest.mark.parametrize("width", [80, 200])
def test_stats_and_policy_keep_counter_names_and_back_ends(
    lab: LabSession, live: Live, width: int
) -> None:
    lines = in_terminal(lab, width, "stats")
    line_with(lines, "connections_total{outcome=handed_off}")
    line_with(lines, "decision_to_handover")
    line_with(lines, "flows{state=installed}")
    lines = in_terminal(lab, width, "policy", "show")
    for backend in ("b1", "b2", "b3"):
        line_with(lines, backend, "yes")


def test_stats_and_policy_json(lab: LabSession, live: Live) -> None:
    stats = json.loads(piped(lab, "stats", "--json"))
    assert stats["controller"]["primary"] is True
    (k1,) = stats["classifiers"]
    assert k1["counters"]['p4handoff_classifier_connections_total{outcome="handed_off"}'] >= 1
    assert k1["latencies"]["decision_to_handover"]["count"] >= 1
    policy = json.loads(piped(lab, "policy", "show", "--json"))
    backends = {b["name"]: b["live"] for p in policy["classifiers"][0]["pools"]
                for b in p["backends"]}  # fmt: skip
    assert backends == {"b1": True, "b2": True, "b3": True}


def test_trace_tells_one_connections_story_until_it_ends(lab: LabSession) -> None:
    live = Live(lab)
    try:
        (story,) = json.loads(piped(lab, "trace", live.client, "--json"))["connections"]
        assert (story["client"], story["flow_id"], story["ended"]) == (
            live.client, live.flow_id, "live")
        decided = story["classifier"]
        assert decided["classifier"] == "k1" and decided["outcome"] == "handed_off"
        assert decided["rule_index"] is not None and decided["pool"] and decided["rule"]
        assert decided["backend"] == live.backend and decided["agent"].endswith(":7100")
        assert {"read", "allocate", "freeze", "agent", "install", "commit"} <= set(
            decided["phases_s"])
        assert story["flow"]["on_switch"] and story["flow"]["packets"] >= 1
        assert story["agent_live"] is True
        by_id = json.loads(piped(lab, "trace", live.flow_hex, "--json"))["connections"]
        # ids are unique per back-end: other back-ends' flows may share this one
        assert live.client in [s["client"] for s in by_id]
        assert {s["flow_id"] for s in by_id} == {live.flow_id}
        for width in (80, 200):
            lines = in_terminal(lab, width, "trace", live.client)
            line_with(lines, live.flow_hex)
            line_with(lines, "rule", f"pool: {decided['pool']}")
            line_with(lines, "decision", f"pool {decided['pool']} -> back-end {live.backend}")
            line_with(lines, "switch entry", "packets")
            line_with(lines, "agent", live.backend, "answering heartbeats")
            line_with(lines, "ended", "live")
    finally:
        live.sock.shutdown(socket.SHUT_WR)  # our FIN; the back-end answers with its own
        while live.sock.recv(1 << 16):
            pass
        live.sock.close()

    def ended() -> bool:
        (story,) = json.loads(piped(lab, "trace", live.client, "--json"))["connections"]
        return bool(story["flow"] and story["flow"].get("end_reason"))

    wait_for(ended, 30, f"{live.client}'s flow to end")
    (story,) = json.loads(piped(lab, "trace", live.client, "--json"))["connections"]
    assert story["flow"]["end_reason"] in ("fin", "rst") and not story["flow"]["on_switch"]
    line_with(piped(lab, "trace", live.client).splitlines(), "ended", story["flow"]["end_reason"])


def test_trace_of_a_connection_no_rule_matched(lab: LabSession) -> None:
    """Answered by the classifier itself: no flow id, no switch entry, and
    the story says so."""
    sock = lab.connect("c1")
    port = sock.getsockname()[1]
    try:
        sock.sendall(b"OPTIONS * HTTP/1.1\r\nHost: vip\r\n\r\n")
        answer = b""
        while chunk := sock.recv(1 << 16):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 503"), answer
    finally:
        sock.close()

    def told() -> bool:
        (story,) = json.loads(piped(lab, "trace", f"{CLIENT}:{port}", "--json"))["connections"]
        return story["classifier"]["outcome"] == "no_match"

    wait_for(told, 10, f"the classifier's outcome for port {port}")
    (story,) = json.loads(piped(lab, "trace", f"{CLIENT}:{port}", "--json"))["connections"]
    assert story["flow"] is None and story["flow_id"] is None
    assert story["classifier"]["rule_index"] is None and story["ended"].startswith("no_match")
    lines = in_terminal(lab, 80, "trace", f"{CLIENT}:{port}")
    line_with(lines, "rule", "none matched")
    line_with(lines, "ended", "no_match")


def test_trace_of_an_unknown_connection_names_it(lab: LabSession) -> None:
    done = subprocess.run(handoff_argv(lab, "trace", "10.0.1.99:1"), capture_output=True,
                          text=True, timeout=60, cwd=ROOT, check=False)  # fmt: skip
    assert done.returncode == 1 and "no connection 10.0.1.99:1 is known" in done.stderr


@pytest.mark.parametrize("width", [80, 200])
def test_lab_status_in_a_terminal_and_as_json(lab: LabSession, width: int) -> None:
    lines = in_terminal(lab, width, "lab", "status")
    for process in ("switch", "controller", "classifier-k1", "agent-b1", "backend-b3"):
        line_with(lines, process, "running", f"logs/{process}.log")
    document = json.loads(piped(lab, "lab", "status", "--json"))
    assert document["tls"] is True and document["up"] is True
    assert {p["name"] for p in document["processes"] if p["running"]} >= {
        "switch", "controller", "classifier-k1", "agent-b1", "agent-b2", "agent-b3"}


@pytest.mark.skipif(not SHELL_PYTHON.exists(), reason="p4runtime-shell venv missing: "
                    "run `make p4rt-shell-venv`")  # fmt: skip
def test_shell_reads_the_switch_of_a_tls_lab(lab: LabSession, live: Live) -> None:
    script = ('n = len(list(table_entry["encap_map"].read()))\n'
              'print("ENCAP_ENTRIES", n)\n')  # fmt: skip
    done = subprocess.run(handoff_argv(lab, "shell"), input=script, capture_output=True,
                          text=True, timeout=120, cwd=ROOT, check=False)  # fmt: skip
    assert "ENCAP_ENTRIES" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    shown = int(done.stdout.split("ENCAP_ENTRIES", 1)[1].split()[0])
    assert shown == len(lab.encap_entries()) >= 1

