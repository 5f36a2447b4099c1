"""Sample connection states and keys shared by the blob, protocol and agent tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from controller.handoff.blob import Handoff
from controller.handoff.keys import Keyring
from controller.handoff.tcpstate import ConnectionState, RepairWindow, TcpOptions

KEY_ID = 7
KEY = bytes(range(32))
KEYS = Keyring({KEY_ID: KEY})
FORWARDER = "10.0.0.1"
REQUEST = b"GET /index.html HTTP/1.1\r\nHost: vip\r\n\r\n"


def make_state(**overrides: Any) -> ConnectionState:
    """A plausible frozen connection; keyword arguments replace any field
    (`window=` / `options=` take dicts of the fields to change)."""
    window = RepairWindow(
        snd_wl1=1_000_001, snd_wnd=64_240, max_window=64_240, rcv_wnd=65_160, rcv_wup=2_000_040
    )
    options = TcpOptions(
        mss=1460, snd_wscale=7, rcv_wscale=7, sack=True, timestamps=True, ts_offset=123_456
    )
    window = dataclasses.replace(window, **overrides.pop("window", {}))
    options = dataclasses.replace(options, **overrides.pop("options", {}))
    base = ConnectionState(
        client_ip="10.0.1.10",
        client_port=40_000,
        vip_ip="10.0.0.100",
        vip_port=80,
        snd_seq=1_000_001,
        rcv_seq=2_000_001,
        window=window,
        options=options,
        send_unacked=b"",
        send_unsent=b"",
        receive=REQUEST,
    )
    return dataclasses.replace(base, **overrides)


def make_handoff(flow_id: int = 0x00010002, forwarder: str = FORWARDER, **state: Any) -> Handoff:
    return Handoff(flow_id=flow_id, forwarder_ip=forwarder, state=make_state(**state))
