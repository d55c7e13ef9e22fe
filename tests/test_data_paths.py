"""The two data paths keep one shape each (README, *Layout*): in a domain, only `queries.py`
touches the driver connection, and it holds no ORM; `repository.py` holds the ORM."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
# What reaches for the asyncpg connection, or speaks to it: names no ORM code uses.
DRIVER_NAMES = {"driver_connection", "begun_driver", "get_raw_connection", "asyncpg"}
DRIVER_METHODS = {"fetch", "fetchrow", "fetchval", "executemany", "copy_records_to_table"}


def _domain_modules() -> list[Path]:
    """Every module of every domain package (``app/core`` is the machinery under them)."""
    return sorted(
        path
        for package in APP.iterdir()
        if package.is_dir() and (package / "__init__.py").exists() and package.name != "core"
        for path in package.rglob("*.py")
    )


def _driver_uses(tree: ast.AST) -> set[str]:
    found = {name for name in _imports(tree) if name == "asyncpg"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in DRIVER_NAMES:
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in DRIVER_NAMES | DRIVER_METHODS:
            found.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module == "app.core.db":
            found |= {alias.name for alias in node.names} & DRIVER_NAMES
    return found


def _imports(tree: ast.AST) -> set[str]:
    return {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }


def test_only_queries_modules_touch_the_driver_connection() -> None:
    offenders = {
        str(path.relative_to(APP.parent)): sorted(uses)
        for path in _domain_modules()
        if path.name != "queries.py" and (uses := _driver_uses(ast.parse(path.read_text())))
    }
    assert offenders == {}, (
        f"SQL for the driver goes in the domain's queries.py (README, Layout): {offenders}"
    )


def test_queries_modules_hold_no_orm() -> None:
    offenders = [
        str(path.relative_to(APP.parent))
        for path in _domain_modules()
        if path.name == "queries.py" and "sqlalchemy" in _imports(ast.parse(path.read_text()))
    ]
    assert offenders == [], f"ORM code goes in the domain's repository.py: {offenders}"


def test_the_check_sees_a_driver_call() -> None:
    """The rule is not vacuous: a queries module is caught by it."""
    caught = _driver_uses(ast.parse((APP / "customers" / "queries.py").read_text()))
    assert {"driver_connection", "fetchrow"} <= caught
    assert _driver_uses(ast.parse("import asyncpg.pool")) == {"asyncpg"}
