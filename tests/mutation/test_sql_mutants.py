"""Mutation testing of the erasure and retention functions (`make mutation`).

For each mutant in ``sql_mutants.MUTANTS`` a database is migrated, the function is
rewritten with the mutant, and the privacy tests run against it in a process of their
own: at least one of them must fail. The unmutated functions run first, and must pass,
so that a broken setup cannot pass for a killed mutant.
"""

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.core.db import plain_url
from app.core.migrations import upgrade_to_head
from tests.mutation.sql_mutants import MUTANTS, SqlMutant
from tests.support.databases import scratch_database

pytestmark = pytest.mark.mutation

PROJECT = Path(__file__).resolve().parents[2]
# The tests that defend the erasure and retention promises; every mutant runs them all,
# so the report names each test that kills it. The erasure's messages and text analyses
# are judged where those are made.
DEFENDERS = (
    "tests/privacy",
    "tests/messages/test_api.py::test_an_erasure_cancels_queued_messages_and_wipes_their_fields",
    "tests/text/test_journeys.py::test_erasure_removes_the_matched_words_and_keeps_the_labels",
)
FAILED = re.compile(r"^FAILED (\S+?)(?: - |$)", re.MULTILINE)


@pytest.fixture(scope="module")
def migrated(database_url: str) -> Iterator[str]:
    """A database migrated once, the template of every mutant's (no one stays connected)."""
    with scratch_database(database_url) as url:
        upgrade_to_head(url)
        yield url


async def _apply(url: str, mutant: SqlMutant) -> None:
    conn = await asyncpg.connect(plain_url(url))
    try:
        definition = await conn.fetchval(
            "SELECT pg_get_functiondef($1::text::regprocedure)", mutant.function
        )
        assert definition.count(mutant.find) == 1, (
            f"{mutant.name}: {mutant.find!r} is not in {mutant.function} exactly once; "
            "rewrite the mutant for the function as it is now"
        )
        await conn.execute(definition.replace(mutant.find, mutant.replace))
    finally:
        await conn.close()


def _run_defenders(template_url: str, basetemp: Path) -> tuple[int, list[str], str]:
    """The privacy tests on a copy of ``template_url``: exit code, failed tests, output."""
    env = {**os.environ, "TEST_DATABASE_TEMPLATE_URL": template_url}
    env.pop("TEST_DATABASE_URL", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *DEFENDERS,
            "-q",
            "-rf",
            "-p",
            "no:cacheprovider",
            f"--basetemp={basetemp}",
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode, FAILED.findall(done.stdout), done.stdout[-3000:]


def test_the_unmutated_functions_pass(migrated: str, database_url: str, tmp_path: Path) -> None:
    with scratch_database(database_url, template=_name(migrated)) as url:
        code, failed, output = _run_defenders(url, tmp_path / "run")
    assert code == 0 and not failed, output


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_the_privacy_tests_kill(
    mutant: SqlMutant, migrated: str, database_url: str, tmp_path: Path
) -> None:
    with scratch_database(database_url, template=_name(migrated)) as url:
        asyncio.run(_apply(url, mutant))
        code, failed, output = _run_defenders(url, tmp_path / "run")
    assert code in (0, 1), f"the privacy tests could not run (exit {code}):\n{output}"
    print(f"{mutant.name}: killed by {', '.join(failed) or 'nothing'}")
    assert code == 1 and failed, (
        f"the mutant '{mutant.name}' survived: nothing defends '{mutant.breaks}'\n{output}"
    )


def _name(url: str) -> str:
    database = make_url(plain_url(url)).database
    assert database
    return database
