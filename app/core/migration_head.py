"""The newest migration, read from the files in migrations/versions without Alembic.

`/readyz` compares it with the database's; Alembic's script directory would answer the
same but costs every serving worker about 11 MiB of imports (docs/performance.md)."""

import ast
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VERSIONS = PROJECT_ROOT / "migrations" / "versions"


class MultipleHeads(RuntimeError):
    """The migrations branch: no single revision is the newest."""


def _assigned(path: Path) -> dict[str, object]:
    """The module-level ``revision`` and ``down_revision`` of one migration file."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            found[target.id] = ast.literal_eval(value)
    return found


def read_head(versions: Path) -> str | None:
    """The one revision in ``versions`` that no other revises (None if there are none)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in versions.glob("*.py"):
        assigned = _assigned(path)
        revision = assigned.get("revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        down = assigned.get("down_revision")
        revised.update([down] if isinstance(down, str) else down or ())  # type: ignore[arg-type]
    heads = sorted(revisions - revised)
    if len(heads) > 1:
        raise MultipleHeads(f"the migrations have several heads: {', '.join(heads)}")
    return heads[0] if heads else None


@lru_cache
def head_revision() -> str | None:
    """The newest revision in migrations/versions."""
    return read_head(VERSIONS)
