"""Pre-shared HMAC keys, chosen by key id, shared by classifiers and agents.

A blob names the key it was sealed with, so keys can be rotated without a flag
day: add the new key (with a higher id) to every agent first, then to the
classifiers, which always seal with the highest id they hold; remove the old
key once no blob can still be in flight under it.

Key file format (text, UTF-8)::

    # comment lines and blank lines are ignored
    <key id> <key as hex>
    1 6b0f3c...e1      (one key per line; id 0..65535; key 16..64 bytes)

Whitespace separates the two columns; a `#` after them starts a comment. The
file must not be readable or writable by group or others (like an ssh private
key), because anyone who reads it can forge handoffs.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

KEY_ID_MAX = 0xFFFF
KEY_MIN_BYTES = 16
KEY_MAX_BYTES = 64  # one SHA-256 block: longer keys are hashed down by HMAC anyway


class KeyFileError(Exception):
    """A key file or key set that cannot be used; the message names the place."""


class Keyring:
    """An immutable set of keys by id; seals with the highest id."""

    def __init__(self, keys: Mapping[int, bytes]) -> None:
        if not keys:
            raise KeyFileError("no keys: a keyring needs at least one key")
        for key_id, key in keys.items():
            _check_key(key_id, key, where=f"key id {key_id}")
        self._keys: dict[int, bytes] = dict(keys)
        self.sealing_key_id: int = max(self._keys)

    def get(self, key_id: int) -> bytes | None:
        """The key under `key_id`, or None when this keyring does not hold it."""
        return self._keys.get(key_id)

    def ids(self) -> tuple[int, ...]:
        return tuple(sorted(self._keys))

    def __repr__(self) -> str:  # never print key material
        return f"Keyring(ids={list(self.ids())}, sealing={self.sealing_key_id})"


def _check_key(key_id: int, key: bytes, where: str) -> None:
    if not 0 <= key_id <= KEY_ID_MAX:
        raise KeyFileError(f"{where}: key id {key_id} outside 0..{KEY_ID_MAX}")
    if not KEY_MIN_BYTES <= len(key) <= KEY_MAX_BYTES:
        raise KeyFileError(
            f"{where}: key is {len(key)} bytes, must be {KEY_MIN_BYTES}..{KEY_MAX_BYTES}"
        )


def parse_keys(text: str, source: str = "<keys>") -> Keyring:
    """Parse key file text (format in the module docstring)."""
    keys: dict[int, bytes] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}:{lineno}"
        fields = line.split()
        if len(fields) != 2:
            raise KeyFileError(f"{where}: expected '<key id> <hex key>', got {len(fields)} fields")
        id_text, hex_text = fields
        if not id_text.isdigit():
            raise KeyFileError(f"{where}: key id {id_text!r} is not a decimal number")
        key_id = int(id_text)
        try:
            key = bytes.fromhex(hex_text)
        except ValueError:
            raise KeyFileError(f"{where}: key is not valid hex") from None
        _check_key(key_id, key, where)
        if key_id in keys:
            raise KeyFileError(f"{where}: key id {key_id} defined twice")
        keys[key_id] = key
    if not keys:
        raise KeyFileError(f"{source}: no keys defined")
    return Keyring(keys)


def load_keys(path: str | os.PathLike[str]) -> Keyring:
    """Read a key file, refusing one that group or others can access."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"{p}: permissions {stat.filemode(mode)} let others read the keys; chmod 600 it"
            )
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"{p}: cannot read key file: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise KeyFileError(f"{p}: key file is not UTF-8 text") from None
    return parse_keys(text, source=str(p))
