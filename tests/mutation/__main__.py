"""`make mutation`: mutation testing of the modules that carry the docs' promises.

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
from fnmatch import fnmatch
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
# The fold and the rules have about 1,700 mutants, each run against their own tests (a
# property test of 300 histories among them): one in SAMPLE is run by default.
SAMPLED = ("state", "rules")
SAMPLE = 5
NO_MUTANT = "no.such.mutant"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(MODULES), help="modules, comma-separated")
    parser.add_argument("--skip-sql", action="store_true", help="no SQL mutants")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--sample",
        type=int,
        default=SAMPLE,
        help=f"run one mutant in N of {', '.join(SAMPLED)} (1: all of them)",
    )
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

    step = time.monotonic()
    mutmut = [BIN / "mutmut", "run", "--max-children", str(args.max_children)]
    names = [p for module in chosen if module not in SAMPLED for p in MODULES[module]]
    sampled = [module for module in chosen if module in SAMPLED]
    if sampled:
        # Mutants are generated (and tests mapped to functions) by a first run that
        # names no mutant; then one in N of the fold's and the rules' is named.
        subprocess.run([*mutmut, NO_MUTANT], cwd=PROJECT, env=env, check=False)
        names += sorted(mutants_of(sampled))[:: args.sample]
    subprocess.run([*mutmut, *names], cwd=PROJECT, env=env, check=False)
    print(f"\nmutmut: {time.monotonic() - step:.0f} s")
    failures += report(chosen)
    print(f"make mutation: {time.monotonic() - started:.0f} s in all")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def results() -> dict[str, int | None]:
    """Every mutant mutmut generated, with its exit code (None: not run)."""
    found: dict[str, int | None] = {}
    for meta in (PROJECT / "mutants").rglob("*.meta"):
        found.update(json.loads(meta.read_text()).get("exit_code_by_key", {}))
    return found


def mutants_of(modules: list[str]) -> list[str]:
    """The names of the mutants the modules' patterns match."""
    return [
        name
        for name in results()
        if any(fnmatch(name, p) for module in modules for p in MODULES[module])
    ]


def report(chosen: list[str]) -> list[str]:
    """Print the score of each module (over the mutants run) and its survivors; the
    modules under TARGET."""
    found = results()
    under = []
    print(f"\n{'module':<12} {'mutants':>8} {'run':>6} {'killed':>7} {'survived':>9} {'score':>7}")
    for module in chosen:
        mine = {name: found[name] for name in mutants_of([module])}
        run = {name: code for name, code in mine.items() if code is not None}
        killed = sum(code in KILLED for code in run.values())
        score = killed / len(run) if run else 0.0
        print(
            f"{module:<12} {len(mine):>8} {len(run):>6} {killed:>7} {len(run) - killed:>9} "
            f"{score:>7.1%}"
        )
        for name, code in sorted(run.items()):
            if code not in KILLED:
                print(f"    survived ({code}): {name}")
        if score < TARGET:
            under.append(f"{module} scores {score:.1%}, under {TARGET:.0%}")
    return under


if __name__ == "__main__":
    sys.exit(main())
