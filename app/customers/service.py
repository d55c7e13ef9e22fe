"""The customer aggregate: create, read, change, find and identify customers."""

import contextlib
import json
import math
import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Executor, new_id
from app.core.errors import (
    EXAMPLE_ID,
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    ValidationFailed,
    field_errors,
    invalid_field,
)
from app.core.merge_patch import apply_merge_patch
from app.core.pagination import InvalidCursor, cursor_id, decode_cursor, encode_cursor
from app.core.preconditions import check_if_match
from app.core.security import Principal
from app.customers.identifiers import IdentifierKind, normalize_email, normalize_identifier
from app.customers.models import Consent, Customer, CustomerIdentifier
from app.customers.repository import (
    CustomerGraphRepository,
    CustomerRepository,
    Identified,
    SearchFilters,
    caller_card_rows,
    card_row,
    chain_owners,
    family_ids,
    identified,
    survivor_of,
    survivors_of,
)
from app.customers.schemas import (
    Address,
    ConsentIn,
    ConsentOut,
    ConsentPage,
    ContactOut,
    ContactPage,
    CustomerCreate,
    CustomerOut,
    CustomerPage,
    CustomerRef,
    CustomerSummary,
    IdentifierIn,
    IdentifierOut,
    IdentifierRef,
    Preferences,
    Profile,
)
from app.customers.visibility import is_visible

_PROFILE_FIELDS = tuple(Profile.model_fields)
_LIKE_SPECIALS = re.compile(r"[%_\\]")


class CustomerNotFound(NotFound):
    """A customer that does not exist or that the caller may not see: both read alike, so
    the answer names no id, not even the one a caller passes in (which may be another
    than the request's own, e.g. a survivor); the request's path is in ``instance``."""

    code = "customer-not-found"
    title = "Customer not found"
    example = ("Customer not found.", {})

    def __init__(self, customer_id: UUID | str | None = None) -> None:
        super().__init__("Customer not found.")


class IdentifierConflictFields(BaseModel):
    identifier: IdentifierRef = Field(description="The identifier, as normalised")
    conflicting_customer_id: UUID | None = Field(
        default=None, description="Its holder; absent when the key may not see that customer"
    )


class IdentifierConflict(Conflict):
    """An identifier already names another customer. The holder is named only to a caller
    who may see it; anyone else learns only that the value is taken (a unique value cannot
    be hidden from whoever tries to claim it)."""

    code = "identifier-conflict"
    title = "Identifier taken"
    Extension = IdentifierConflictFields
    example = (
        f"The phone +34612345678 already identifies customer {EXAMPLE_ID}.",
        {
            "conflicting_customer_id": EXAMPLE_ID,
            "identifier": {"kind": "phone", "value": "+34612345678"},
        },
    )

    def __init__(self, kind: str, value: str, holder: UUID | None) -> None:
        identifier = {"kind": kind, "value": value}
        if holder is None:
            super().__init__(
                f"The {kind} {value} is already taken.", extra={"identifier": identifier}
            )
            return
        super().__init__(
            f"The {kind} {value} already identifies customer {holder}.",
            extra={"conflicting_customer_id": str(holder), "identifier": identifier},
        )


class CustomerNotActive(Conflict):
    """The customer was merged into another or erased: it takes no more changes (an
    append to a merged customer lands on its survivor; an erased one takes nothing)."""

    code = "customer-not-active"
    title = "Customer not active"
    example = (f"Customer {EXAMPLE_ID} is merged and cannot change.", {})


class IdentifierNotFound(NotFound):
    """The customer has no identifier with this id."""

    code = "identifier-not-found"
    title = "Identifier not found"
    example = (
        f"Identifier {EXAMPLE_ID} not found on customer {EXAMPLE_ID}.",
        {},
    )


class NotIdentifiedFields(BaseModel):
    identifier: IdentifierRef = Field(description="What was looked up, as normalised")


class NotIdentified(NotFound):
    """No customer the key may see is identified by this phone, email or external id."""

    code = "customer-not-identified"
    title = "No customer identified"
    Extension = NotIdentifiedFields
    example = (
        "No customer is identified by phone +34612345678.",
        {"identifier": {"kind": "phone", "value": "+34612345678"}},
    )


def _identifier_out(identifier: CustomerIdentifier) -> IdentifierOut:
    return IdentifierOut.model_validate(identifier, from_attributes=True)


def _consent_out(consent: Consent) -> ConsentOut:
    return ConsentOut.model_validate(consent, from_attributes=True)


def _profile_of(customer: Customer) -> dict[str, Any]:
    """The stored profile as the JSON a client would send."""
    return {name: getattr(customer, name) for name in _PROFILE_FIELDS} | {
        "organization_id": str(customer.organization_id) if customer.organization_id else None
    }


def _columns_of(profile: Profile) -> dict[str, Any]:
    values = profile.model_dump(mode="json")
    values["organization_id"] = profile.organization_id
    return values


async def _check_organization(
    repo: CustomerRepository, organization_id: UUID | None, principal: Principal, field: str
) -> None:
    if organization_id is None:
        return
    organization = await repo.get(organization_id, principal)
    if (
        organization is None
        or organization.kind != "organization"
        or organization.status != "active"
    ):
        raise invalid_field(field, f"{organization_id} is not an active organization")


def _conflict(kind: str, value: str, holder: UUID, seen: bool) -> IdentifierConflict:
    return IdentifierConflict(kind, value, holder if seen else None)


async def _claim_identifiers(
    repo: CustomerRepository,
    customer_id: UUID,
    values: list[tuple[str, str]],
    principal: Principal,
) -> None:
    """Attach identifiers, or 409 when one already names another customer."""
    holders = await repo.holders_of(values, principal)
    for (kind, value), (holder, seen) in holders.items():
        if holder != customer_id:
            raise _conflict(kind, value, holder, seen)
    fresh = [pair for pair in dict.fromkeys(values) if pair not in holders]
    try:
        await repo.add_identifiers(customer_id, fresh)
    except IntegrityError:
        # A concurrent writer took one of them between our check and our insert.
        for (kind, value), (holder, seen) in (await repo.holders_of(fresh, principal)).items():
            if holder != customer_id:
                raise _conflict(kind, value, holder, seen) from None
        raise


async def create_customer(
    session: AsyncSession, data: CustomerCreate, principal: Principal
) -> CustomerOut:
    """Create a customer with its identifiers; 409 if one already names another customer."""
    repo = CustomerRepository(session)
    if principal.owned_only and data.owner_id is None:
        data.owner_id = principal.agent_id
    if not is_visible(data.owner_id, principal):  # a key never creates what it cannot see
        raise Forbidden("An owned-only key creates customers for its own agent only.")
    await _check_organization(repo, data.organization_id, principal, "body.organization_id")
    profile = Profile.model_validate(data.model_dump(exclude={"identifiers"}))
    customer = await repo.add(Customer(**_columns_of(profile)))
    await _claim_identifiers(
        repo, customer.id, [(i.kind.value, i.value) for i in data.identifiers], principal
    )
    return await _aggregate(repo, customer, principal)


async def get_customer(
    session: AsyncSession, customer_id: UUID, principal: Principal
) -> CustomerOut:
    """The customer aggregate; 404 when missing or not visible to the caller."""
    return (await read_customer(session, customer_id, principal))[0]


async def read_customer(
    session: AsyncSession, customer_id: UUID, principal: Principal
) -> tuple[CustomerOut, bool]:
    """The customer aggregate, and whether its version dates all of it: not when it shows
    other customers (a person's organisation, an organisation's contacts), whose changes
    leave this customer's version as it is, nor once it is merged (its owner follows the
    survivor's by a trigger). 404 when missing or not visible."""
    repo = CustomerRepository(session)
    customer = await repo.get(customer_id, principal)
    if customer is None:
        raise CustomerNotFound(customer_id)
    dated = (
        customer.kind == "person"
        and customer.organization_id is None
        and customer.status != "merged"
    )
    return await _aggregate(repo, customer, principal), dated


async def _aggregate(
    repo: CustomerRepository, customer: Customer, principal: Principal
) -> CustomerOut:
    identifiers = (await repo.identifiers_of([customer.id]))[customer.id]
    organization = None
    contacts = None
    if customer.kind == "person" and customer.organization_id is not None:
        org = await repo.get(customer.organization_id, principal)
        if org is not None:
            organization = CustomerRef(id=org.id, display_name=org.display_name, kind=org.kind)
    if customer.kind == "organization":
        contacts = await _contacts(repo, customer.id, principal, limit=100, after=None)
    consents = await repo.current_consents(customer.id)
    return CustomerOut(
        **{
            name: getattr(customer, name)
            for name in CustomerOut.model_fields
            if hasattr(customer, name)
            and name
            not in {
                "address",
                "preferences",
                "identifiers",
                "organization_id",
                "organization",
                "contacts",
                "consents",
            }
        },
        # An organisation the caller may not see is not named, not even by its id.
        organization_id=organization.id if organization else None,
        address=Address.model_validate(customer.address) if customer.address else None,
        preferences=Preferences.model_validate(customer.preferences)
        if customer.preferences
        else None,
        identifiers=[_identifier_out(i) for i in identifiers],
        organization=organization,
        contacts=contacts,
        consents=[_consent_out(c) for c in consents],
    )


async def _contacts(
    repo: CustomerRepository,
    organization_id: UUID,
    principal: Principal,
    *,
    limit: int,
    after: UUID | None,
) -> list[ContactOut]:
    people = await repo.contacts_of(organization_id, principal, limit=limit, after=after)
    identifiers = await repo.identifiers_of([p.id for p in people])
    return [
        ContactOut(
            id=p.id,
            display_name=p.display_name,
            job_title=p.job_title,
            identifiers=[_identifier_out(i) for i in identifiers[p.id]],
        )
        for p in people
    ]


async def _writable(
    repo: CustomerRepository,
    customer_id: UUID,
    principal: Principal,
    if_match: str | None,
    *,
    required: bool,
) -> Customer:
    customer = await repo.get(customer_id, principal, for_update=True)
    if customer is None:
        raise CustomerNotFound(customer_id)
    if customer.status != "active":
        raise CustomerNotActive(f"Customer {customer_id} is {customer.status} and cannot change.")
    check_if_match(if_match, customer.version, required=required)
    return customer


async def patch_customer(
    session: AsyncSession,
    customer_id: UUID,
    patch: Any,
    if_match: str | None,
    principal: Principal,
) -> CustomerOut:
    """Apply a JSON merge patch (RFC 7396) to the profile, guarded by If-Match."""
    repo = CustomerRepository(session)
    customer = await _writable(repo, customer_id, principal, if_match, required=True)
    if not isinstance(patch, dict):
        raise invalid_field("body", "a merge patch must be a JSON object", "dict_type")
    merged = apply_merge_patch(_profile_of(customer), patch)
    try:
        profile = Profile.model_validate(merged)
    except ValidationError as exc:
        errors = field_errors(
            {**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)
        )
        raise ValidationFailed(
            "; ".join(f"{e['field']}: {e['reason']}" for e in errors), extra={"errors": errors}
        ) from None
    if profile.organization_id == customer.id:
        raise invalid_field("body.organization_id", "a customer cannot belong to itself")
    if profile.organization_id != customer.organization_id:
        await _check_organization(repo, profile.organization_id, principal, "body.organization_id")
    if not is_visible(profile.owner_id, principal):  # nor hands one out of its own sight
        raise Forbidden("An owned-only key cannot hand a customer to another owner.")
    if not await repo.update_profile(customer.id, customer.version, _columns_of(profile)):
        raise CustomerNotFound(customer_id)
    await session.refresh(customer)
    return await _aggregate(repo, customer, principal)


async def add_identifier(
    session: AsyncSession,
    customer_id: UUID,
    data: IdentifierIn,
    if_match: str | None,
    principal: Principal,
) -> tuple[IdentifierOut, bool]:
    """Attach an identifier; returns it and whether it was new (idempotent for its owner)."""
    repo = CustomerRepository(session)
    customer = await _writable(repo, customer_id, principal, if_match, required=False)
    existing = await repo.holders_of([(data.kind.value, data.value)], principal)
    await _claim_identifiers(repo, customer.id, [(data.kind.value, data.value)], principal)
    if not existing:
        await repo.touch(customer)
    identifier = next(
        i
        for i in (await repo.identifiers_of([customer.id]))[customer.id]
        if (i.kind, i.value) == (data.kind.value, data.value)
    )
    return _identifier_out(identifier), not existing


async def remove_identifier(
    session: AsyncSession,
    customer_id: UUID,
    identifier_id: UUID,
    if_match: str | None,
    principal: Principal,
) -> None:
    """Detach an identifier: the value no longer recognises this customer."""
    repo = CustomerRepository(session)
    customer = await _writable(repo, customer_id, principal, if_match, required=False)
    identifier = await repo.get_identifier(customer.id, identifier_id)
    if identifier is None:
        raise IdentifierNotFound(f"Identifier {identifier_id} not found on customer {customer_id}.")
    await repo.delete_identifier(identifier)
    await repo.touch(customer)


async def list_contacts(
    session: AsyncSession,
    customer_id: UUID,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
) -> ContactPage:
    """The contact persons of an organisation."""
    repo = CustomerRepository(session)
    customer = await repo.get(customer_id, principal)
    if customer is None:
        raise CustomerNotFound(customer_id)
    if customer.kind != "organization":
        raise invalid_field("path.customer_id", "only an organization has contacts")
    after = cursor_id(cursor, "after")
    items = await _contacts(repo, customer.id, principal, limit=limit + 1, after=after)
    next_cursor = encode_cursor({"after": str(items[limit - 1].id)}) if len(items) > limit else None
    return ContactPage(items=items[:limit], next_cursor=next_cursor)


async def set_preferences(
    session: AsyncSession,
    customer_id: UUID,
    data: Preferences,
    if_match: str | None,
    principal: Principal,
) -> tuple[Preferences, int]:
    """Replace the contact preferences; returns them and the new version."""
    repo = CustomerRepository(session)
    customer = await _writable(repo, customer_id, principal, if_match, required=False)
    customer.preferences = data.model_dump(mode="json", by_alias=True)
    await repo.touch(customer)
    return data, customer.version


async def record_consent(
    session: AsyncSession, customer_id: UUID, data: ConsentIn, principal: Principal
) -> ConsentOut:
    """Append a consent decision; the aggregate shows the latest per channel and purpose."""
    repo = CustomerRepository(session)
    customer = await _writable(repo, customer_id, principal, None, required=False)
    consent = await repo.add_consent(
        Consent(customer_id=customer.id, **data.model_dump(mode="json"))
    )
    await repo.touch(customer)
    return _consent_out(consent)


async def consent_history(
    session: AsyncSession,
    customer_id: UUID,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
) -> ConsentPage:
    """Every consent decision of a customer, newest first."""
    repo = CustomerRepository(session)
    if await repo.get(customer_id, principal) is None:
        raise CustomerNotFound(customer_id)
    before = cursor_id(cursor, "before")
    rows = await repo.consent_history(customer_id, limit=limit + 1, before=before)
    next_cursor = encode_cursor({"before": str(rows[limit - 1].id)}) if len(rows) > limit else None
    return ConsentPage(items=[_consent_out(c) for c in rows[:limit]], next_cursor=next_cursor)


async def identify(
    on: Executor, kind: IdentifierKind, value: str, principal: Principal
) -> Identified | None:
    """Who an already-normalised identifier names, if the caller may see them."""
    return await identified(on, kind.value, value, principal)


def search_filters(
    *,
    q: str | None,
    phone: str | None,
    email: str | None,
    external_id: str | None,
    owner_id: str | None,
    tier: str | None,
    tag: str | None,
    kind: str | None,
    status: str | None,
    default_region: str,
) -> SearchFilters:
    """Normalise the search parameters; a malformed phone, email or id is a 422 naming it."""
    identifiers: list[tuple[str, str]] = []
    for field, ident_kind, raw in (
        ("phone", IdentifierKind.PHONE, phone),
        ("email", IdentifierKind.EMAIL, email),
        ("external_id", IdentifierKind.EXTERNAL, external_id),
    ):
        if raw is not None:
            try:
                identifiers.append(
                    (ident_kind.value, normalize_identifier(ident_kind, raw, default_region))
                )
            except ValueError as exc:
                raise invalid_field(f"query.{field}", str(exc)) from None
    words: list[str] = []
    q_identifiers: list[tuple[str, str]] = []
    q_email_prefix = None
    if q is not None and q.strip():
        text = q.strip()
        if "@" in text:
            try:
                q_identifiers.append(("email", normalize_email(text)))
            except ValueError:
                q_email_prefix = _LIKE_SPECIALS.sub("", text.lower())
        elif sum(ch.isdigit() for ch in text) >= 6:
            with contextlib.suppress(ValueError):
                q_identifiers.append(
                    ("phone", normalize_identifier(IdentifierKind.PHONE, text, default_region))
                )
        words = [w for w in (_LIKE_SPECIALS.sub("", w) for w in text.split()) if w][:8]
    return SearchFilters(
        words=words,
        q_identifiers=q_identifiers,
        q_email_prefix=q_email_prefix,
        identifiers=identifiers,
        owner_id=owner_id,
        tier=tier,
        tag=tag,
        kind=kind,
        status=status,
    )


def _finite_number(value: object) -> bool:
    """A JSON number a float holds (json.loads also reads NaN, Infinity and 400 digits)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


async def search_customers(
    session: AsyncSession,
    filters: SearchFilters,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
) -> CustomerPage:
    """One page of matching customers; the cursor continues exactly where the page ended."""
    after = None
    if cursor:
        rank = decode_cursor(cursor).get("rank")
        if rank is not None and not _finite_number(rank):
            raise InvalidCursor("The cursor is not one this service issued.")
        position = cursor_id(cursor, "id")
        assert position is not None
        after = (None if rank is None else float(rank), position)
    repo = CustomerRepository(session)
    rows = await repo.search(filters, principal, limit=limit + 1, after=after)
    page = rows[:limit]
    identifiers = await repo.identifiers_of([c.id for c, _ in page])
    organizations = await repo.visible_among(
        [c.organization_id for c, _ in page if c.organization_id], principal
    )
    items = [
        CustomerSummary(
            **{
                name: getattr(c, name)
                for name in CustomerSummary.model_fields
                if name not in {"identifiers", "organization_id"}
            },
            organization_id=c.organization_id if c.organization_id in organizations else None,
            identifiers=[_identifier_out(i) for i in identifiers[c.id]],
        )
        for c, _ in page
    ]
    next_cursor = None
    if len(rows) > limit:
        last, rank = page[-1]
        next_cursor = encode_cursor({"rank": rank, "id": str(last.id)})
    return CustomerPage(items=items, next_cursor=next_cursor)


# --- used by the timeline: resolving who an event is about, and merges ---------------


async def survivor_id(on: Executor, customer_id: UUID) -> UUID:
    """Where a customer's history lives now: itself, or the survivor of its merges."""
    found = await survivor_of(on, customer_id)
    if found is None:
        raise CustomerNotFound(customer_id)
    return found


async def survivors(on: Executor, customer_ids: Sequence[UUID]) -> set[UUID]:
    """Where these customers' histories live now (unknown ids are left out)."""
    return await survivors_of(on, customer_ids)


async def owners_of(session: AsyncSession, identifiers: Sequence[tuple[str, str]]) -> set[UUID]:
    """The customers holding any of these normalised (kind, value) identifiers; creates none."""
    return set((await CustomerGraphRepository(session).owners(list(set(identifiers)))).values())


async def family(on: Executor, customer_id: UUID) -> list[UUID]:
    """The ids whose events form a customer's timeline: itself and everyone merged into it."""
    return await family_ids(on, customer_id)


async def readable_family(
    session: AsyncSession, customer_id: UUID, principal: Principal
) -> tuple[Customer, list[UUID]]:
    """A visible customer and the ids whose events form its timeline (merged-in included)."""
    customer = await CustomerRepository(session).get(customer_id, principal)
    if customer is None:
        raise CustomerNotFound(customer_id)
    return customer, await family(session, customer.id)


async def writable_target(session: AsyncSession, customer_id: UUID, principal: Principal) -> UUID:
    """The customer an append to ``customer_id`` lands on (the survivor if it was merged)."""
    customer = await CustomerRepository(session).get(customer_id, principal)
    if customer is None:
        raise CustomerNotFound(customer_id)
    if customer.status == "erased":
        raise CustomerNotActive(
            f"Customer {customer_id} was erased; nothing more is recorded on it."
        )
    if customer.status == "merged":
        if customer.id not in await visible_ids(session, [customer.id], principal):
            raise CustomerNotFound(customer_id)  # its history lives on one the key cannot see
        return await survivor_id(session, customer.id)
    return customer.id


class NoWritableCustomer(CustomerNotFound):
    """What an owned-only key hears whether the identifiers name another owner's customer
    or nobody: the two must not be told apart, or the key could probe for customers."""

    def __init__(self) -> None:
        ProblemError.__init__(
            self,
            "The identifiers name no customer this key may write; "
            "an owned-only key writes only to its own customers and creates none.",
        )


async def visible_ids(
    session: AsyncSession, customer_ids: Sequence[UUID], principal: Principal
) -> set[UUID]:
    """Those of ``customer_ids`` the caller may see, and the survivor their history now
    lives on as well (an owned-only key must not learn of another owner's customer)."""
    if not principal.owned_only:
        return set(customer_ids)
    owners = await chain_owners(session, customer_ids)
    return {
        cid
        for cid, (own, survivor) in owners.items()
        if is_visible(own, principal) and is_visible(survivor, principal)
    }


async def resolve_customers(
    session: AsyncSession,
    refs: list[tuple[UUID | None, list[tuple[str, str]], str | None]],
    principal: Principal,
) -> list[tuple[UUID, bool] | ProblemError]:
    """Who each reference names: (customer id, created) or the reason it cannot be resolved.

    A reference is an explicit id or identifiers (normalised). The first identifier that
    names a customer wins; when none does, a new ``unverified`` customer is created with
    all of them (once per batch, however many references name it).
    """
    graph = CustomerGraphRepository(session)
    owners = await graph.owners(list({pair for _, idents, _ in refs for pair in idents}))
    explicit = await graph.existing([cid for cid, _, _ in refs if cid is not None])
    visible = await visible_ids(session, list({*explicit, *owners.values()}), principal)
    created: dict[tuple[str, str], UUID] = {}
    new_customers: list[tuple[UUID, str]] = []
    new_identifiers: list[tuple[UUID, str, str]] = []
    results: list[tuple[UUID, bool] | ProblemError] = []
    for customer_id, identifiers, display_name in refs:
        if customer_id is not None:
            status, _ = explicit.get(customer_id, (None, None))
            if status is None or customer_id not in visible:
                results.append(CustomerNotFound(customer_id))
            elif status == "erased":
                results.append(Conflict(f"Customer {customer_id} was erased."))
            else:
                results.append((customer_id, False))
            continue
        known = next((owners[i] for i in identifiers if i in owners), None)
        if known is not None:
            if known not in visible:
                results.append(NoWritableCustomer())
            else:
                results.append((known, False))
            continue
        fresh = next((created[i] for i in identifiers if i in created), None)
        if fresh is not None:
            results.append((fresh, False))
            continue
        if principal.owned_only:
            results.append(NoWritableCustomer())
            continue
        new = new_id()
        new_customers.append((new, (display_name or identifiers[0][1])[:300]))
        for identifier in identifiers:
            if identifier not in created:
                created[identifier] = new
                new_identifiers.append((new, *identifier))
        results.append((new, True))
    if new_customers:
        taken = await graph.create_unverified(new_customers, new_identifiers)
        # A concurrent writer created some of the same customers first: use theirs.
        lost = {c for c, kind, value in new_identifiers if (kind, value) not in taken}
        lost -= {c for c, kind, value in new_identifiers if (kind, value) in taken}
        if lost:
            owners = await graph.owners([(k, v) for c, k, v in new_identifiers if c in lost])
            winner = {c: owners[(k, v)] for c, k, v in new_identifiers if (k, v) in owners}
            results = [
                (winner[r[0]], False) if isinstance(r, tuple) and r[0] in winner else r
                for r in results
            ]
            await graph.delete_customers(list(lost))
    return results


async def merge_preview(
    session: AsyncSession, survivor: UUID, absorbed: UUID, principal: Principal
) -> tuple[Customer, Customer, list[IdentifierOut], list[dict[str, Any]]]:
    """Both customers (locked), the identifiers that would move and the fields that differ."""
    repo = CustomerRepository(session)
    if survivor == absorbed:
        raise invalid_field("body.source_customer_id", "a customer cannot be merged into itself")
    first, second = sorted([survivor, absorbed])
    locked = {
        c.id: c
        for c in [
            await repo.get(first, principal, for_update=True),
            await repo.get(second, principal, for_update=True),
        ]
        if c
    }
    if survivor not in locked:
        raise CustomerNotFound(survivor)
    if absorbed not in locked:
        raise invalid_field("body.source_customer_id", f"customer {absorbed} not found")
    target, source = locked[survivor], locked[absorbed]
    for customer in (target, source):
        if customer.status != "active":
            raise CustomerNotActive(
                f"Customer {customer.id} is {customer.status}; only active customers merge."
            )
    identifiers = (await repo.identifiers_of([source.id]))[source.id]
    conflicts = [
        {"field": name, "survivor": getattr(target, name), "absorbed": getattr(source, name)}
        for name in _PROFILE_FIELDS
        if name not in {"tags", "attributes", "unverified"}
        and getattr(source, name) not in (None, "")
        and getattr(target, name) not in (None, "")
        and getattr(source, name) != getattr(target, name)
    ]
    # An organisation the caller may not see is reported as differing, never named.
    seen = await repo.visible_among(
        [c.organization_id for c in (target, source) if c.organization_id], principal
    )
    for conflict in conflicts:
        if conflict["field"] == "organization_id":
            for side in ("survivor", "absorbed"):
                conflict[side] = conflict[side] if conflict[side] in seen else None
    return target, source, [_identifier_out(i) for i in identifiers], jsonable(conflicts)


def jsonable(value: Any) -> Any:
    """Plain JSON values (UUIDs as strings) for problem and preview documents."""
    return json.loads(json.dumps(value, default=str))


async def absorb(session: AsyncSession, target: Customer, source: Customer) -> list[UUID]:
    """Move every identifier of ``source`` to ``target`` and mark ``source`` merged.

    ``source`` takes ``target``'s owner: its history is the survivor's now, and whoever
    may see one sees the other (customers merged into ``source`` follow, by trigger).
    """
    repo = CustomerRepository(session)
    moved = await CustomerGraphRepository(session).move_identifiers(source.id, target.id, None)
    source.status = "merged"
    source.merged_into = target.id
    source.owner_id = target.owner_id
    if source.unverified is False and target.unverified:
        target.unverified = False
    await repo.touch(source)
    await repo.touch(target)
    return moved


async def lock_pair(
    session: AsyncSession, target_id: UUID, source_id: UUID, principal: Principal
) -> tuple[Customer, Customer]:
    """Both customers of a merge, locked in id order; 404 when the caller cannot see
    either (before anything about the merge itself is looked at)."""
    repo = CustomerRepository(session)
    first, second = sorted([target_id, source_id])
    locked = {
        c.id: c
        for c in [
            await repo.get(first, principal, for_update=True),
            await repo.get(second, principal, for_update=True),
        ]
        if c
    }
    if target_id not in locked or source_id not in locked:
        raise CustomerNotFound()
    return locked[target_id], locked[source_id]


async def restore(
    session: AsyncSession,
    target: Customer,
    source: Customer,
    identifier_ids: list[UUID],
    owner_id: str | None,
) -> int:
    """Undo :func:`absorb` on a pair from :func:`lock_pair`: ``source`` active again with
    exactly the identifiers it brought and the owner it had."""
    repo = CustomerRepository(session)
    if target.status != "active":
        raise CustomerNotActive(
            f"Customer {target.id} is {target.status}; undo its own merge first."
        )
    moved = await CustomerGraphRepository(session).move_identifiers(
        target.id, source.id, identifier_ids
    )
    source.status = "active"
    source.merged_into = None
    source.owner_id = owner_id
    await repo.touch(source)
    await repo.touch(target)
    return len(moved)


async def customer_card(on: Executor, customer_id: UUID, principal: Principal) -> CustomerOut:
    """The aggregate as :func:`get_customer` gives it, read in one query: what a ficha is
    built on."""
    row = await card_row(on, customer_id, principal)
    if row is None:
        raise CustomerNotFound(customer_id)
    return _card(row)


async def caller_cards(
    on: Executor, readings: Sequence[str], principal: Principal
) -> list[tuple[CustomerOut, str]]:
    """Everyone the caller may see who holds one of the readings of a caller id (national
    and, for bare digits, international: see ``phone_readings``), as :func:`customer_card`
    gives them, each with the phone it holds."""
    national, *international = readings
    assert len(international) <= 1, "a caller id has two readings at most"
    rows = await caller_card_rows(on, national, next(iter(international), None), principal)
    return [(_card(row), row["phone"]) for row in rows]


def _card(row: Any) -> CustomerOut:
    composed = {
        "address",
        "preferences",
        "identifiers",
        "organization_id",
        "organization",
        "contacts",
        "consents",
    }
    fields = {name: row[name] for name in CustomerOut.model_fields if name not in composed}
    organization, contacts = row["organization"], row["contact_list"]
    return CustomerOut(
        **fields,
        organization_id=organization["id"] if organization else None,
        address=Address.model_validate(row["address"]) if row["address"] else None,
        preferences=Preferences.model_validate(row["preferences"]) if row["preferences"] else None,
        identifiers=[IdentifierOut.model_validate(i) for i in row["identifier_list"]],
        organization=CustomerRef.model_validate(organization) if organization else None,
        contacts=None if contacts is None else [ContactOut.model_validate(c) for c in contacts],
        consents=[ConsentOut.model_validate(c) for c in row["consent_list"]],
    )
