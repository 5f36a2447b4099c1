"""IP address text parsed once per process.

Every handoff parses the same few addresses (the VIP, the forwarder, the
back-ends, and a client's, once per connection) several times in each of
four processes; `ipaddress.ip_address` was about a tenth of the classifier's
Python time under load (py-spy, 8 clients). The parsed objects are immutable,
so a bounded cache keyed on the text is safe; text that is not an address
raises ValueError every time (exceptions are not cached).
"""

from __future__ import annotations

import functools
import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Distinct addresses remembered: a busy VIP's clients, and far less than a MB.
CACHED_ADDRESSES = 16_384


@functools.lru_cache(maxsize=CACHED_ADDRESSES)
def ip_address(text: str) -> IPAddress:
    """`ipaddress.ip_address(text)`, cached."""
    return ipaddress.ip_address(text)


@functools.lru_cache(maxsize=CACHED_ADDRESSES)
def unmapped(address: str) -> str:
    """`address` in its canonical text, an IPv4-mapped IPv6 address as the
    IPv4 address it stands for."""
    addr = ip_address(address)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def version(text: str) -> int:
    """4 or 6; ValueError if `text` is not an IP address."""
    return ip_address(text).version
