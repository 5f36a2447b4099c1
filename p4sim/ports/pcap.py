"""Per-port pcap captures (`--pcap DIR`), named like bmv2's: `<port name>_in.pcap`
and `<port name>_out.pcap`. The classic libpcap format (microsecond
timestamps, Ethernet link type) opens in tcpdump, Wireshark and scapy.
Records are buffered and flushed at most every `flush_interval` seconds, so a
capture costs a memory copy per frame rather than a system call."""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import BinaryIO

_GLOBAL_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_RECORD = struct.Struct("<IIII")


class PcapWriter:
    def __init__(self, path: Path, flush_interval: float = 0.5) -> None:
        self.path = path
        self._file: BinaryIO = path.open("wb")
        self._file.write(_GLOBAL_HEADER)
        self._file.flush()
        self._interval = flush_interval
        self._last_flush = time.monotonic()

    def write(self, frame: bytes, timestamp: float | None = None) -> None:
        now = time.time() if timestamp is None else timestamp
        seconds = int(now)
        micros = int((now - seconds) * 1_000_000)
        self._file.write(_RECORD.pack(seconds, micros, len(frame), len(frame)))
        self._file.write(frame)
        mono = time.monotonic()
        if mono - self._last_flush >= self._interval:
            self._file.flush()
            self._last_flush = mono

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class PcapSet:
    """The in/out writers of every port, created on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._writers: dict[tuple[str, str], PcapWriter] = {}

    def _writer(self, name: str, direction: str) -> PcapWriter:
        key = (name, direction)
        writer = self._writers.get(key)
        if writer is None:
            writer = PcapWriter(self.directory / f"{name}_{direction}.pcap")
            self._writers[key] = writer
        return writer

    def received(self, name: str, frame: bytes) -> None:
        self._writer(name, "in").write(frame)

    def sent(self, name: str, frame: bytes) -> None:
        self._writer(name, "out").write(frame)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
