"""The layout's rules, checked on the source: what each module owns is written at its top, and
billplan's clients and its vendor emulators share no code (DESIGN.md, docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "compiler"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, absolute or relative, anywhere in the file."""
    found: set[str] = set()
    package = _name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_every_module_says_what_it_owns_in_its_docstring(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring and len(docstring.split()) >= 5, f"{_name(path)} has no docstring to speak of"


def _inside(path: Path, package: str) -> bool:
    return _name(path) == package or _name(path).startswith(package + ".")


def _reaches(imported: set[str], package: str) -> list[str]:
    return sorted(m for m in imported if m == package or m.startswith(package + "."))


@pytest.mark.parametrize(
    "path", [p for p in MODULES if _inside(p, "compiler.providers")], ids=_name
)
def test_a_provider_never_imports_an_emulator(path: Path) -> None:
    assert _reaches(_imports(path), "compiler.sandbox") == []


@pytest.mark.parametrize("path", [p for p in MODULES if _inside(p, "compiler.sandbox")], ids=_name)
def test_an_emulator_never_imports_a_provider(path: Path) -> None:
    assert _reaches(_imports(path), "compiler.providers") == []
