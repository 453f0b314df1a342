"""The code keeps to the map in docs/design.md: imports point down the floors, blueprints stand alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOORS = {"core": 0, "b24": 1, "oauth": 2, "services": 3, "blueprints": 4, "app": 5, "worker": 5}
OUTSIDE = ("sandbox", "tests", "bench")


def modules() -> list[Path]:
    found = [ROOT / "app.py", ROOT / "worker.py"]
    for package in ("core", "b24", "oauth", "services", "blueprints"):
        found += sorted((ROOT / package).glob("*.py"))
    return found


def imported(path: Path) -> set[str]:
    """The first-party modules ``path`` imports (``services.flows``, ``oauth``, ...)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return {name for name in names if name.split(".")[0] in FLOORS or name.split(".")[0] in OUTSIDE}


def floor(path: Path) -> int:
    return FLOORS[path.parent.name if path.parent != ROOT else path.stem]


def is_blueprint(path: Path) -> bool:
    return "Blueprint(" in path.read_text()


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_the_floors(path: Path) -> None:
    up = sorted(name for name in imported(path) if FLOORS.get(name.split(".")[0], 99) > floor(path))
    assert up == [], f"{path.relative_to(ROOT)} imports from a floor above it: {up}"
    outside = sorted(name for name in imported(path) if name.split(".")[0] in OUTSIDE)
    assert outside == [], f"{path.relative_to(ROOT)} imports test or sandbox code: {outside}"


def test_no_blueprint_imports_another() -> None:
    blueprints = {p.stem for p in (ROOT / "blueprints").glob("*.py") if is_blueprint(p)}
    assert {"api", "frame", "connect", "install", "events", "health"} <= blueprints
    for path in (ROOT / "blueprints").glob("*.py"):
        others = {name.split(".")[1] for name in imported(path) if name.startswith("blueprints.")}
        assert not (others & (blueprints - {path.stem})), f"{path.name} imports blueprint(s) {others}"


def test_error_handlers_are_registered_once_by_the_factory() -> None:
    # core/errors.py holds the one mechanism; only create_app calls it; nobody else registers any.
    for path in modules():
        text = path.read_text()
        if path != ROOT / "core" / "errors.py":
            assert "errorhandler(" not in text and "register_error_handler(" not in text, path
        if path != ROOT / "app.py":
            assert "register_error_handlers(" not in text or path.name == "errors.py", path
