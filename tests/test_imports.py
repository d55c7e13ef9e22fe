"""No test module imports another: what tests share (builders, clients, signers, the
fixtures' types) lives in tests/support/, where a newcomer looks for it, and a test
module can be moved or deleted without breaking others."""

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _is_test_module(dotted: str) -> bool:
    last = dotted.rsplit(".", 1)[-1]
    return last.startswith("test_") or last == "conftest"


def _imported(path: Path, tests: Path = TESTS) -> list[str]:
    """Every module of the ``tests`` package that ``path`` imports, dotted and absolute."""
    package = ".".join(path.relative_to(tests.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}".rstrip(".")
            # ``from tests.ingest import test_twilio`` imports a module by its name
            found += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return [name for name in found if name == "tests" or name.startswith("tests.")]


def test_no_test_module_imports_a_test_module() -> None:
    offences = [
        f"{path.relative_to(TESTS.parent)} imports {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for name in _imported(path)
        if _is_test_module(name)
    ]
    assert not offences, "move what is shared into tests/support/: " + "; ".join(offences)


def test_every_way_of_importing_a_test_module_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "tests" / "ingest" / "test_example.py"
    path.parent.mkdir(parents=True)
    for source, expected in {
        "from tests.ingest.test_twilio import sign": "tests.ingest.test_twilio",
        "from tests.ingest import test_twilio": "tests.ingest.test_twilio",
        "import tests.conftest": "tests.conftest",
        "from .test_pipeline import signed": "tests.ingest.test_pipeline",
        "from ..conftest import MakeKey": "tests.conftest",
        "from . import test_mailgun": "tests.ingest.test_mailgun",
    }.items():
        path.write_text(source + "\n")
        assert expected in _imported(path, tmp_path / "tests"), source
    path.write_text("from tests.support.api import new_customer\n")
    assert not any(_is_test_module(n) for n in _imported(path, tmp_path / "tests"))
