"""A front end's journeys through the Python client that openapi-python-client generates
from openapi/openapi.json, against the real server: the generator must warn about
nothing and leave out no operation, and every answer must parse into its typed model,
problems included.

Run with `pytest -m client` (CI runs it as its own step). The generator runs in an
environment of its own (`uv tool run`, pinned by clients/python-generator.txt).
"""

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from tests.support.server import BIN, admin_key, free_port, stop, wait_ready

pytestmark = pytest.mark.client

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "openapi" / "openapi.json"
CONFIG = ROOT / "clients" / "python.yaml"
GENERATOR = ROOT / "clients" / "python-generator.txt"
UV = Path(sys.executable).parent / "uv"
PACKAGE = "customer_history_client"


def generator_requirement() -> str:
    """The generator as pinned, e.g. ``openapi-python-client==0.29.1``."""
    return next(
        line
        for line in GENERATOR.read_text().splitlines()
        if line.startswith("openapi-python-client==")
    )


def generate(into: Path) -> str:
    """Generate the client package into ``into``; what the generator said."""
    done = subprocess.run(
        [
            str(UV),
            "tool",
            "run",
            "--constraints",
            str(GENERATOR),
            "--from",
            generator_requirement(),
            "openapi-python-client",
            "generate",
            "--path",
            str(SPEC),
            "--config",
            str(CONFIG),
            "--meta",
            "none",
            "--output-path",
            str(into / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    return said


@pytest.fixture(scope="module")
def client_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    into = tmp_path_factory.mktemp("generated")
    said = generate(into)
    assert not re.search(r"warning|unable|skipping|error", said, re.IGNORECASE), said
    sys.path.insert(0, str(into))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(into))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def operation(tag: str, operation_id: str) -> Any:
    """The generated module of one operation (its sync, sync_detailed, asyncio...)."""
    return module(f"api.{tag}.{operation_id}")


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    env = {**os.environ, "DATABASE_URL": database_url}
    port = free_port()
    process = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, process, 90)
        yield base, admin_key(env, "generated-client")
    finally:
        stop(process)


@pytest.fixture(scope="module")
def api(client_package: ModuleType, server: tuple[str, dict[str, str]]) -> Any:
    base, header = server
    token = header["Authorization"].removeprefix("Bearer ")
    return client_package.AuthenticatedClient(base_url=base, token=token, timeout=30)


def event_body(data: dict[str, Any], schema: str = "EventIn") -> Any:
    """An event to append as the client types it: the body is one of oneOf's branches
    (`EventInType<n>`, one per payload model), the first that reads it, as the client's
    own parser chooses."""
    models = module("models")
    branches = sorted(
        (n for n in dir(models) if re.fullmatch(schema + r"Type\d+", n)),
        key=lambda n: int(n.removeprefix(schema + "Type")),
    )
    for name in branches:
        try:
            return getattr(models, name).from_dict(data)
        except (TypeError, ValueError, KeyError):
            continue
    raise AssertionError(f"no branch of {schema} reads {data}")


def test_every_operation_is_generated(client_package: ModuleType) -> None:
    spec = json.loads(SPEC.read_text())
    missing = [
        f"{op['tags'][0]}.{op['operationId']}"
        for operations in spec["paths"].values()
        for op in operations.values()
        if importlib.util.find_spec(f"{PACKAGE}.api.{op['tags'][0]}.{op['operationId']}") is None
    ]
    assert missing == []


def test_a_front_end_s_journeys(api: Any) -> None:
    models = module("models")
    spec = json.loads(SPEC.read_text())

    # Create a customer: the spec's own example, a national phone among its identifiers.
    example = spec["components"]["schemas"]["CustomerCreate"]["examples"][0]
    created = operation("customers", "create_customer").sync_detailed(
        client=api, body=models.CustomerCreate.from_dict(example)
    )
    assert created.status_code == 201, created.content
    customer = created.parsed
    assert isinstance(customer, models.CustomerOut) and customer.display_name == "José Núñez"
    assert created.headers["location"].endswith(f"/v1/customers/{customer.id}")
    assert created.headers["etag"] == f'"{customer.version}"'

    # Append events, then a retry of the first: the original, 200.
    sent = []
    for hours, kind in enumerate(["call.completed", "email.received", "order.placed"]):
        body = event_body(
            {
                "type": kind,
                "occurred_at": f"2026-11-0{hours + 1}T10:00:00+01:00",
                "source": "front-end",
                "source_event_id": f"evt-{hours}",
                "payload": {"order_id": "SO-1", "total": "49.90", "currency": "EUR"}
                if kind == "order.placed"
                else {},
            }
        )
        appended = operation("timeline", "append_event").sync_detailed(
            customer_id=customer.id, client=api, body=body
        )
        assert appended.status_code == 201, appended.content
        assert isinstance(appended.parsed, models.EventOut) and appended.parsed.type_ == kind
        sent.append((body, appended.parsed.id))
    again = operation("timeline", "append_event").sync_detailed(
        customer_id=customer.id, client=api, body=sent[0][0]
    )
    assert again.status_code == 200 and again.parsed.id == sent[0][1]

    # Page the timeline two by two: every event once, newest first.
    first = operation("timeline", "get_timeline").sync(customer_id=customer.id, client=api, limit=2)
    assert isinstance(first, models.TimelinePage) and len(first.items) == 2
    rest = operation("timeline", "get_timeline").sync(
        customer_id=customer.id, client=api, limit=2, cursor=first.next_cursor
    )
    assert rest.next_cursor is None
    assert [e.id for e in first.items + rest.items] == [eid for _, eid in reversed(sent)]
    assert all(e.occurred_at.tzinfo is not None for e in first.items)
    # A payload read as the schema EventPayloads names for its type.
    order = next(e for e in first.items + rest.items if e.type_ == "order.placed")
    typed = models.OrderPayload.from_dict(order.payload.to_dict())
    assert (typed.order_id, typed.currency) == ("SO-1", "EUR")

    # A one-line bulk import, as the client sends it: one event, its one result.
    imported = operation("timeline", "import_events").sync_detailed(
        client=api,
        body=event_body(
            {
                "customer": {"id": str(customer.id)},
                "type": "note.added",
                "occurred_at": "2026-11-04T10:00:00Z",
                "payload": {"text": "Imported"},
            },
            "IdentifiedEventIn",
        ),
    )
    assert imported.status_code == 200, imported.content
    assert isinstance(imported.parsed, models.BulkLineResult)
    assert imported.parsed.status == models.BulkLineResultStatus.CREATED

    # The indicators, typed: money as Money.
    indicators = operation("indicators", "get_indicators").sync(customer_id=customer.id, client=api)
    assert isinstance(indicators, models.IndicatorsOut)
    assert [(m.amount, m.currency) for m in indicators.value.lifetime_value] == [("49.90", "EUR")]


def test_the_screen_pop_in_any_spelling(api: Any, server: tuple[str, dict[str, str]]) -> None:
    """The advice of docs/api.md: give a generated client the number as written (it encodes the
    path itself); by hand, the `+` goes as it is or as `%2B`."""
    models = module("models")
    body = models.CustomerCreate.from_dict(
        {"display_name": "Ana Caller", "identifiers": [{"kind": "phone", "value": "622 11 22 33"}]}
    )
    customer = operation("customers", "create_customer").sync(client=api, body=body)
    for spelling in ("622 11 22 33", "622112233", "+34622112233", "+34 622 11 22 33"):
        popped = operation("fichas", "screen_pop").sync_detailed(
            phone=spelling, role="support", client=api
        )
        assert popped.status_code == 200, (spelling, popped.content)
        ficha = popped.parsed
        assert isinstance(ficha, models.Ficha) and ficha.customer_id == customer.id
        identity = ficha.sections.identity
        assert isinstance(identity, models.IdentitySection), spelling
        assert identity.display_name == "Ana Caller"
    base, header = server
    for by_hand in ("%2B34622112233", "+34622112233"):
        answer = httpx.get(f"{base}/v1/fichas/by-phone/{by_hand}?role=support", headers=header)
        assert answer.status_code == 200 and answer.json()["customer_id"] == str(customer.id)
    unknown = operation("fichas", "screen_pop").sync_detailed(
        phone="+34699000000", role="support", client=api
    )
    assert unknown.status_code == 404 and isinstance(unknown.parsed, models.CallerNotFoundProblem)
    assert unknown.parsed.phone == "+34699000000"


def test_problems_read_as_typed_models(api: Any) -> None:
    models = module("models")
    missing = operation("customers", "get_customer").sync_detailed(customer_id=uuid4(), client=api)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.CustomerNotFoundProblem)
    assert missing.parsed.type_ == "urn:customer-history:problem:customer-not-found"

    body = {"display_name": "Held", "identifiers": [{"kind": "email", "value": "held@example.com"}]}
    holder = operation("customers", "create_customer").sync(
        client=api, body=models.CustomerCreate.from_dict(body)
    )
    taken = operation("customers", "create_customer").sync_detailed(
        client=api, body=models.CustomerCreate.from_dict({**body, "display_name": "Other"})
    )
    assert taken.status_code == 409
    conflict = taken.parsed
    assert isinstance(conflict, models.IdentifierConflictProblem)
    assert conflict.conflicting_customer_id == holder.id
    assert (conflict.identifier.kind, conflict.identifier.value) == ("email", "held@example.com")

    read = operation("customers", "get_customer").sync_detailed(customer_id=holder.id, client=api)
    stale = operation("customers", "patch_customer").sync_detailed(
        customer_id=holder.id,
        client=api,
        body=models.CustomerPatch.from_dict({"tier": "vip"}),
        if_match='"0"',
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.PreconditionFailedProblem)
    assert stale.parsed.current_etag == read.headers["etag"]
    changed = operation("customers", "patch_customer").sync_detailed(
        customer_id=holder.id,
        client=api,
        body=models.CustomerPatch.from_dict({"tier": "vip"}),
        if_match=read.headers["etag"],
    )
    assert changed.status_code == 200 and changed.parsed.tier == models.Tier.VIP
    assert UUID(str(changed.parsed.id)) == holder.id
