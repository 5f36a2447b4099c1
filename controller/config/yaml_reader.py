"""The one YAML reader of the configuration files (topologies and policies).

`load_yaml` reads a file and `YamlReader` walks the parsed document; every
error names `file: key.path` and is raised as the file kind's own exception
class (`TopologyError`, `PolicyError`), so a user learns which key of which
file to fix before anything is built from it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml


def load_yaml(source: Path, error: type[Exception]) -> Any:
    """The parsed document of `source`; unreadable files and bad YAML raise `error`."""
    try:
        return yaml.safe_load(source.read_text())
    except OSError as failure:
        raise error(f"{source}: cannot read: {failure.strerror}") from None
    except yaml.YAMLError as failure:
        raise error(f"{source}: not valid YAML: {failure}") from None


class YamlReader:
    """Walks a parsed YAML document and names `file: key.path` in every error."""

    def __init__(self, source: Path, error: type[Exception]) -> None:
        self.source = source
        self.error = error

    def fail(self, where: str, message: str) -> Exception:
        return self.error(f"{self.source}: {where}: {message}")

    def mapping(
        self, value: Any, where: str, required: Collection[str], optional: Collection[str] = ()
    ) -> dict[str, Any]:
        """A mapping with every `required` key and no key outside `required` and `optional`."""
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        allowed = set(required) | set(optional)
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(
                where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
            )
        missing = sorted(set(required) - set(value))
        if missing:
            raise self.fail(where, f"missing key {missing[0]!r}")
        return value

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"expected a non-empty string, got {value!r}")
        return value

    def integer(self, value: Any, where: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(where, f"expected an integer in {low}..{high}, got {value!r}")
        return value

    def address(self, value: Any, where: str) -> ipaddress.IPv4Address:
        try:
            return ipaddress.IPv4Address(self.string(value, where))
        except ipaddress.AddressValueError:
            raise self.fail(where, f"expected an IPv4 address, got {value!r}") from None

    def address6(self, value: Any, where: str) -> ipaddress.IPv6Address:
        try:
            return ipaddress.IPv6Address(self.string(value, where))
        except ipaddress.AddressValueError:
            raise self.fail(where, f"expected an IPv6 address, got {value!r}") from None

    def interface6(self, value: Any, where: str) -> ipaddress.IPv6Interface:
        text = self.string(value, where)
        expected = f"expected ADDRESS/PREFIX such as 2001:db8:1::10/64, got {text!r}"
        if "/" not in text:
            raise self.fail(where, expected)
        try:
            return ipaddress.IPv6Interface(text)
        except ValueError:
            raise self.fail(where, expected) from None

    def mac(self, value: Any, where: str) -> str:
        """A unicast Ethernet address, lower case with colons."""
        if isinstance(value, int):
            # YAML 1.1 reads digits-only colon groups as a base-60 number.
            raise self.fail(where, 'expected a MAC in quotes, such as "52:54:00:12:34:56"')
        text = self.string(value, where)
        octets = text.split(":")
        expected = f"expected a unicast MAC such as 52:54:00:12:34:56, got {text!r}"
        if len(octets) != 6 or not all(
            len(o) == 2 and all(c in "0123456789abcdefABCDEF" for c in o) for o in octets
        ):
            raise self.fail(where, expected)
        if int(octets[0], 16) & 1:
            raise self.fail(where, expected)
        return text.lower()

    def interface(self, value: Any, where: str) -> ipaddress.IPv4Interface:
        text = self.string(value, where)
        expected = f"expected ADDRESS/PREFIX such as 10.0.1.10/24, got {text!r}"
        if "/" not in text:
            raise self.fail(where, expected)
        try:
            return ipaddress.IPv4Interface(text)
        except ValueError:
            raise self.fail(where, expected) from None
