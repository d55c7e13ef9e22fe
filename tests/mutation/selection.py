"""A pytest plugin for mutmut's runs (``-p tests.mutation.selection``): which tests judge
a mutant of the indicator fold and rules.

mutmut runs, for each mutant, every selected test that called the mutated function. The
fold runs on every append, so that is most of the suite, minutes per surviving mutant;
the tests written for the fold and the rules decide alone (the suite's other tests only
call them). Every other mutant keeps mutmut's choice.
"""

import os

import pytest

OWN_TESTS = (
    "tests/indicators/test_what_indicators_say.py",
    "tests/indicators/test_state.py",
    "tests/indicators/test_rules.py",
)
JUDGES = {"app.indicators.state.": OWN_TESTS, "app.indicators.rules.": OWN_TESTS}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under a mutant of the fold or the rules, deselect every test but their own, when
    any of their own calls the mutated function. CH_MUTATION_LEAVE_OUT (test files,
    space-separated) measures a score without them."""
    left_out = tuple(os.environ.get("CH_MUTATION_LEAVE_OUT", "").split())
    if left_out:
        config.hook.pytest_deselected(items=[i for i in items if i.nodeid.startswith(left_out)])
        items[:] = [item for item in items if not item.nodeid.startswith(left_out)]
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    judges = next((paths for prefix, paths in JUDGES.items() if mutant.startswith(prefix)), None)
    if judges is None:
        return
    kept = [item for item in items if item.nodeid.startswith(judges)]
    if not kept:  # a function only other tests call (the sales series): theirs
        return
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    # The quickest first: under -x, the first failure ends the run.
    items[:] = sorted(
        kept,
        key=lambda item: next(n for n, path in enumerate(judges) if item.nodeid.startswith(path)),
    )
