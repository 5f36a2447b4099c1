"""The layout of controller/ by role, and its import rules, checked over the source.

Each subpackage may import only what the table of "Layout of the control
software" allows (controller/__init__.py names the roles); a module's path
says where it runs. Every import statement counts, including those inside
functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "controller"

# subpackage -> the packages of ours it may import besides itself
ALLOWED: dict[str, set[str]] = {
    "controller.p4rt": set(),
    "controller.handoff": {"controller.proto"},
    "controller.config": set(),
    "controller.proto": set(),
    "controller.switch": {
        "controller.p4rt", "controller.handoff", "controller.config", "controller.proto"
    },
    "controller.classifier": {"controller.handoff", "controller.config", "controller.proto"},
    "controller.agent": {"controller.handoff"},
    "controller.examples": {"controller.handoff"},
}
# may import anything of ours; the only importers of controller.lab
ANYTHING = ("controller.lab", "controller.cli")
TOP_LEVEL = {"controller", "controller.cli"}  # the only modules directly in controller/


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    path: Path
    line: int
    target: str  # the imported module (or module.name), dotted

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.module} imports {self.target}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imports_of(path: Path, text: str | None = None) -> list[Import]:
    """Our modules imported by the module at `path` (its source, or `text`)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    source_text = path.read_text() if text is None else text
    for node in ast.walk(ast.parse(source_text, str(path))):
        if isinstance(node, ast.Import):
            found += [Import(name, path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            found += [Import(name, path, node.lineno, f"{source}.{alias.name}")
                      for alias in node.names]  # fmt: skip
    return [i for i in found if i.target == "controller" or i.target.startswith("controller.")]


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


ALL_IMPORTS = [i for path in modules() for i in imports_of(path)]


def test_the_source_is_found() -> None:
    names = {module_name(p) for p in modules()}
    assert {"controller.cli", "controller.p4rt.client", "controller.switch.main",
            "controller.classifier.main", "controller.agent.main"} <= names  # fmt: skip
    assert any(within(i.target, "controller.p4rt") for i in ALL_IMPORTS)


def test_every_module_has_a_role() -> None:
    roles = (*ALLOWED, *ANYTHING)
    stray = [
        str(p.relative_to(ROOT))
        for p in modules()
        if module_name(p) not in TOP_LEVEL and not any(within(module_name(p), r) for r in roles)
    ]
    assert not stray, f"modules outside the role packages of controller/: {stray}"


def test_names_say_what_a_module_is() -> None:
    bad = [
        str(p.relative_to(ROOT))
        for p in modules()
        if p.stem == "inspect"  # shadows the standard library
        or p.stem.endswith("_io")  # a grab-bag
        or p.relative_to(PACKAGE) == Path("controller.py")  # the process is controller.switch
    ]
    assert not bad, f"module names that do not say what they hold: {bad}"


def test_nothing_outside_lab_and_cli_imports_lab() -> None:
    bad = [
        i.where()
        for i in ALL_IMPORTS
        if within(i.target, "controller.lab") and not any(within(i.module, a) for a in ANYTHING)
    ]
    assert not bad, "only controller.lab and controller.cli may import controller.lab:\n" + (
        "\n".join(bad)
    )


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_layout_allows(package: str) -> None:
    allowed = {package, *ALLOWED[package]}
    bad = [
        i.where()
        for i in ALL_IMPORTS
        if within(i.module, package)
        and i.target != "controller"
        and not any(within(i.target, a) for a in allowed)
    ]
    assert not bad, f"{package} may import only {sorted(allowed)} of ours:\n" + "\n".join(bad)


def test_the_rules_catch_a_forbidden_import() -> None:
    """The checker itself: an import inside a function, a relative import and a
    `from controller import` are all seen, each with its line."""
    path = PACKAGE / "p4rt" / "client.py"
    module = "controller/p4rt/client.py:{}: controller.p4rt.client imports controller.{}"
    text = (
        "import grpc\n\nfrom controller.handoff.tls import TlsFiles\n"
        "def f():\n    from ..lab import netns\n    from controller import switch\n"
    )
    assert [i.where() for i in imports_of(path, text)] == [
        module.format(3, "handoff.tls.TlsFiles"),
        module.format(5, "lab.netns"),
        module.format(6, "switch"),
    ]
