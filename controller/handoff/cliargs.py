"""Argument types shared by the `handoff` processes' command lines."""

from __future__ import annotations

import argparse


def host_port(text: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`; an empty host means every address)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def agent_override(text: str) -> tuple[str, tuple[str, int]]:
    """`NAME=HOST:PORT`: where the agent of back-end NAME listens."""
    name, sep, where = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=HOST:PORT")
    return name, host_port(where)
