"""`make mutation`: mutation testing of the modules that carry the README's promises.

    .venv/bin/python -m tests.mutation [--only visibility,privacy] [--skip-sql]

Starts an embedded PostgreSQL of its own and migrates one database there, the template
every test session copies (TEST_DATABASE_TEMPLATE_URL), so that many short sessions can
run side by side. Then:

1. the SQL mutants of the erasure and retention functions (tests/mutation/sql_mutants.py),
   each of which the privacy tests must kill;
2. mutmut over the Python modules (``[tool.mutmut]`` in pyproject.toml), each mutant
   running the tests that called the function it changed.

Prints the score per module and every surviving mutant; fails when a module scores under
TARGET or a SQL mutant survives. docs/testing.md explains the figures.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from app.core.embedded import start_embedded
from app.core.migrations import upgrade_to_head

PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TARGET = 0.85

# What each module's score counts: mutmut's names of the mutated functions (a verify
# method and the helpers it calls; the whole module elsewhere).
MODULES: dict[str, tuple[str, ...]] = {
    "adapters": (
        "app.ingest.adapters.*ǁverify*",
        "app.ingest.adapters.signatures.*",
        "app.ingest.adapters.base.xǁDeliveryǁjson*",
        "app.ingest.adapters.base.xǁDeliveryǁform_pairs*",
        "app.ingest.adapters.base.xǁDeliveryǁsignature_header*",
        "app.ingest.adapters.email_message.x_verify_basic_or_token*",
        "app.ingest.adapters.email_message.x_basic_credentials*",
        "app.ingest.adapters.mailgun.x__credentials*",
        "app.ingest.adapters.sendgrid_events.x__public_key*",
        "app.ingest.adapters.stripe.x__parse_signature*",
        "app.ingest.adapters.twilio.x__signed_urls*",
        "app.ingest.adapters.twilio.x_signed_parameters*",
    ),
    "visibility": ("app.customers.visibility.*",),
    "privacy": ("app.privacy.service.*",),
    "state": ("app.indicators.state.*",),
    "rules": ("app.indicators.rules.*",),
}
KILLED = {1, 3, 36, -24, 24, 152, 255}  # a failing test, or a timeout (an endless loop)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(MODULES), help="modules, comma-separated")
    parser.add_argument("--skip-sql", action="store_true", help="no SQL mutants")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--keep", action="store_true", help="reuse mutants/ (which test calls which function)"
    )
    args = parser.parse_args()
    chosen = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = set(chosen) - set(MODULES)
    if unknown:
        parser.error(f"unknown modules {sorted(unknown)}; known: {sorted(MODULES)}")

    if not args.keep:
        # mutmut maps tests to functions once and keeps the map: a test edited since
        # would judge mutants with an old map.
        shutil.rmtree(PROJECT / "mutants", ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="ch-mutation-"))
    started = time.monotonic()
    template = start_embedded(work / "embedded", "mutation_template")
    upgrade_to_head(template)
    (work / "pytest").mkdir()
    env = {
        **os.environ,
        "TEST_DATABASE_TEMPLATE_URL": template,
        "PYTEST_DEBUG_TEMPROOT": str(work / "pytest"),
    }
    env.pop("TEST_DATABASE_URL", None)
    failures: list[str] = []

    if not args.skip_sql:
        step = time.monotonic()
        sql = subprocess.run(
            [BIN / "pytest", "-m", "mutation", "tests/mutation", "-rA", "-q",
             "-p", "no:cacheprovider", f"--basetemp={work / 'sql'}"],
            cwd=PROJECT, env=env, check=False,
        )  # fmt: skip
        print(f"SQL mutants: {time.monotonic() - step:.0f} s")
        if sql.returncode != 0:
            failures.append("a SQL mutant survived (or the harness failed)")

    patterns = [p for module in chosen for p in MODULES[module]]
    step = time.monotonic()
    subprocess.run(
        [BIN / "mutmut", "run", "--max-children", str(args.max_children), *patterns],
        cwd=PROJECT, env=env, check=False,
    )  # fmt: skip
    print(f"\nmutmut: {time.monotonic() - step:.0f} s")
    failures += report(chosen)
    print(f"make mutation: {time.monotonic() - started:.0f} s in all")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def report(chosen: list[str]) -> list[str]:
    """Print the score of each module and its survivors; the modules under TARGET."""
    from fnmatch import fnmatch

    results: dict[str, int | None] = {}
    for meta in (PROJECT / "mutants").rglob("*.meta"):
        results.update(json.loads(meta.read_text()).get("exit_code_by_key", {}))
    under = []
    print(f"\n{'module':<12} {'mutants':>8} {'killed':>7} {'survived':>9} {'score':>7}")
    for module in chosen:
        mine = {
            name: code
            for name, code in results.items()
            if any(fnmatch(name, p) for p in MODULES[module])
        }
        outcome = Counter("killed" if code in KILLED else "survived" for code in mine.values())
        total = len(mine)
        score = outcome["killed"] / total if total else 0.0
        print(
            f"{module:<12} {total:>8} {outcome['killed']:>7} {outcome['survived']:>9} {score:>7.1%}"
        )
        for name, code in sorted(mine.items()):
            if code not in KILLED:
                print(f"    survived ({code}): {name}")
        if score < TARGET:
            under.append(f"{module} scores {score:.1%}, under {TARGET:.0%}")
    return under


if __name__ == "__main__":
    sys.exit(main())
