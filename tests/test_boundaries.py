"""The engine knows nothing of Qt: no module under kiosk/ or models/ imports PySide6 or ui."""

import ast
from pathlib import Path

import pytest

from kiosk.paths import PROJECT_ROOT

FORBIDDEN = ("PySide6", "ui")


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", ["kiosk", "models"])
def test_the_engine_never_imports_the_gui(package):
    offenders = {str(p.relative_to(PROJECT_ROOT)): sorted(imported_roots(p) & set(FORBIDDEN))
                 for p in (PROJECT_ROOT / package).rglob("*.py")}
    assert {path: names for path, names in offenders.items() if names} == {}
