"""What the classifier knows of a connection when it decides: its first bytes.

For HTTP/1.x the request line and headers are parsed just far enough for the
policy (method, path, Host, any header it names); other services are matched
on raw bytes. The parser is deliberately small and strict: a classifier must
never wait for, or allocate for, more than its read limit, and a request it
cannot read is answered, not guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

METHODS = frozenset(
    [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE", b"CONNECT"]
)


@dataclass(frozen=True)
class Request:
    """The first bytes of a connection and, when they are HTTP, their head."""

    data: bytes
    client_ip: str = ""
    method: str | None = None
    path: str | None = None
    host: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_http(self) -> bool:
        return self.method is not None


class RequestIncomplete(Exception):
    """More bytes are needed before the head ends."""


def parse_request(data: bytes, client_ip: str = "") -> Request:
    """Parse an HTTP/1.x request head from `data`, or return raw bytes only.

    Raises RequestIncomplete when `data` starts like HTTP but the head has not
    ended yet, so the caller reads more (within its limits).
    """
    first_space = data.find(b" ")
    if first_space <= 0 or data[:first_space] not in METHODS:
        return Request(data=data, client_ip=client_ip)
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise RequestIncomplete
    lines = data[:end].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return Request(data=data, client_ip=client_ip)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            return Request(data=data, client_ip=client_ip)
        headers[name.decode("latin-1").lower()] = value.strip().decode("latin-1")
    host = headers.get("host")
    return Request(
        data=data,
        client_ip=client_ip,
        method=parts[0].decode("ascii"),
        path=parts[1].decode("latin-1"),
        host=host.split(":", 1)[0].lower() if host else None,
        headers=headers,
    )
