"""The head revision `/readyz` expects, read from the migration files without Alembic (whose
import costs every serving worker about 11 MiB, docs/performance.md)."""

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from app.core.migration_head import MultipleHeads, head_revision, read_head
from app.core.migrations import alembic_config


def test_the_head_is_the_one_alembic_upgrades_to() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def _revision(directory: Path, revision: str, down: str) -> None:
    (directory / f"{revision}_x.py").write_text(
        f'"""{revision}"""\n\nrevision: str = "{revision}"\ndown_revision = {down}\n'
    )


def test_a_merge_revision_is_the_head_and_two_branches_are_refused(tmp_path: Path) -> None:
    _revision(tmp_path, "0001", "None")
    _revision(tmp_path, "0002", '"0001"')
    _revision(tmp_path, "0003", '"0001"')
    with pytest.raises(MultipleHeads):
        read_head(tmp_path)
    _revision(tmp_path, "0004", '("0002", "0003")')
    assert read_head(tmp_path) == "0004"


def test_an_empty_directory_has_no_head(tmp_path: Path) -> None:
    assert read_head(tmp_path) is None


def test_serving_the_app_imports_no_alembic() -> None:
    check = "import sys, app.main; sys.exit('alembic' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], timeout=120).returncode == 0
