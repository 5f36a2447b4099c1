"""P4Runtime ids and aliases, computed the way p4c computes them.

Verified against p4c's `control-plane/p4RuntimeSymbolTable.{h,cpp}` (2024):

- An id is `prefix << 24 | (jenkins_one_at_a_time(name) & 0xFFFFFF)`, where
  the prefix is the resource type's `P4Ids.Prefix` value from p4info.proto
  and `name` is the control-plane name: the fully qualified name with a
  leading "." (global `@name`) stripped, hashed as its UTF-8 bytes.
- `@id` values are taken first. An `@id` whose top byte is 0 gets the type's
  prefix or'ed in; a non-zero top byte must already be the type's prefix. Two
  declarations with one `@id` are an error.
- The remaining names of one type get ids in sorted order (p4c keeps them in a
  `std::map<cstring, ...>`, ordered by `strcmp`, i.e. by bytes). On a
  collision the 32-bit *hash* is incremented (not the id) and masked again,
  which is linear probing within the type's 24-bit space.
- The alias is the shortest suffix of dot-separated components that is unique
  among *all* symbols of *all* types (one suffix tree for the whole program).

Older p4c releases (before 2018) kept only 16 bits of the hash with a zero
second byte; p4sim follows the current rule. `P4Ids.Prefix` in the bundled
p4info.proto has no pseudo-table (0x05) entry, so none is listed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from p4sim.errors import TypeCheckError

PREFIXES: dict[str, int] = {
    "action": 0x01,
    "table": 0x02,
    "value_set": 0x03,
    "controller_header": 0x04,
    "action_profile": 0x11,
    "counter": 0x12,
    "direct_counter": 0x13,
    "meter": 0x14,
    "direct_meter": 0x15,
    "register": 0x16,
    "digest": 0x17,
}

_MASK32 = 0xFFFFFFFF
_LOW24 = 0xFFFFFF


def jenkins_one_at_a_time(data: bytes) -> int:
    h = 0
    for byte in data:
        h = (h + byte) & _MASK32
        h = (h + (h << 10)) & _MASK32
        h ^= h >> 6
    h = (h + (h << 3)) & _MASK32
    h ^= h >> 11
    return (h + (h << 15)) & _MASK32


def control_plane_name(name: str) -> str:
    """p4c's `controlPlaneName()`: a global `@name(".x")` loses its dot."""
    return name[1:] if name.startswith(".") else name


def allocate_ids(kind: str, names: Iterable[str], explicit: Mapping[str, int]) -> dict[str, int]:
    """Ids for every name in `names` and `explicit` (name -> `@id` value) of
    one resource `kind` (a key of PREFIXES)."""
    prefix = PREFIXES[kind]
    result: dict[str, int] = {}
    used: set[int] = set()
    for raw, value in explicit.items():
        name = control_plane_name(raw)
        top = value & 0xFF000000
        if value < 0 or value > _MASK32 or (top and top >> 24 != prefix):
            raise TypeCheckError(
                None, f"{name}: @id {value:#x} is not a valid {kind} id (prefix {prefix:#04x})"
            )
        full = value | (prefix << 24)
        if full in used:
            raise TypeCheckError(None, f"{name}: @id {full:#x} is assigned to two {kind}s")
        used.add(full)
        result[name] = full
    pending = sorted({control_plane_name(n) for n in names} - set(result), key=lambda n: n.encode())
    for name in pending:
        start = jenkins_one_at_a_time(name.encode())
        probe = start
        candidate = (prefix << 24) | (probe & _LOW24)
        while candidate in used:
            probe = (probe + 1) & _MASK32
            if probe == start:
                raise TypeCheckError(None, f"no {kind} id is left for {name}")
            candidate = (prefix << 24) | (probe & _LOW24)
        used.add(candidate)
        result[name] = candidate
    return result


class SuffixSet:
    """All control-plane names of a program, to find each one's shortest
    unique dot-separated suffix (p4c's `P4SymbolSuffixSet`)."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names: set[str] = set()
        # Counts how many names end with each suffix (a tuple of components,
        # last component first).
        self._through: dict[tuple[str, ...], int] = {}
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        if name in self._names:
            return
        self._names.add(name)
        parts = tuple(reversed(name.split(".")))
        for n in range(1, len(parts) + 1):
            self._through[parts[:n]] = self._through.get(parts[:n], 0) + 1

    def alias(self, name: str) -> str:
        parts = tuple(reversed(name.split(".")))
        if name not in self._names:
            raise KeyError(name)
        needed = len(parts)
        for n in range(1, len(parts) + 1):
            if self._through[parts[:n]] < 2:
                needed = n
                break
        return ".".join(reversed(parts[:needed]))
