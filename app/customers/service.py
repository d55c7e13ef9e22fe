"""The customer aggregate: create, read and change a customer, its identifiers, contacts,
preferences and consents; where its history lives."""

from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.access import record_access
from app.core.db import Executor
from app.core.errors import (
    EXAMPLE_ID,
    Conflict,
    Forbidden,
    NotFound,
    invalid_field,
    invalid_fields,
)
from app.core.merge_patch import apply_merge_patch
from app.core.notify import notify_on_commit
from app.core.pagination import cursor_id, keyset_page
from app.core.preconditions import check_if_match
from app.core.security import ACCESS_CHANNEL, Principal
from app.customers import queries
from app.customers.models import Consent, Customer, CustomerIdentifier
from app.customers.repository import CustomerRepository
from app.customers.schemas import (
    Address,
    Candidate,
    ConsentIn,
    ConsentOut,
    ConsentPage,
    ContactOut,
    ContactPage,
    CustomerCreate,
    CustomerKind,
    CustomerOut,
    CustomerRef,
    CustomerStatus,
    IdentifierIn,
    IdentifierOut,
    IdentifierRef,
    Preferences,
    Profile,
)
from app.customers.visibility import is_visible, owner_of_new, sees_everyone

PROFILE_FIELDS = tuple(Profile.model_fields)


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


def identifier_out(identifier: CustomerIdentifier) -> IdentifierOut:
    return IdentifierOut.model_validate(identifier, from_attributes=True)


def _consent_out(consent: Consent) -> ConsentOut:
    return ConsentOut.model_validate(consent, from_attributes=True)


def _profile_of(customer: Customer) -> dict[str, Any]:
    """The stored profile as the JSON a client would send."""
    return {name: getattr(customer, name) for name in PROFILE_FIELDS} | {
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
        or organization.kind != CustomerKind.ORGANIZATION
        or organization.status != CustomerStatus.ACTIVE
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
    data.owner_id = owner_of_new(data.owner_id, principal)
    if not is_visible(data.owner_id, principal):  # a key never creates what it cannot see
        raise Forbidden("An owned-only key creates customers for its own agent only.")
    await _check_organization(repo, data.organization_id, principal, "body.organization_id")
    profile = Profile.model_validate(data.model_dump(exclude={"identifiers"}))
    customer = await repo.add(Customer(**_columns_of(profile)))
    await contacts_changed(session, data.organization_id)
    await _claim_identifiers(
        repo, customer.id, [(i.kind.value, i.value) for i in data.identifiers], principal
    )
    return await get_customer(session, customer.id, principal)


class Merged(NamedTuple):
    """What a read of a merged customer answers instead: where its history lives now."""

    survivor: UUID


async def show_customer(
    session: AsyncSession, customer_id: UUID, principal: Principal, *, follow: bool
) -> tuple[CustomerOut, bool] | Merged:
    """A reader's view of a customer (:func:`read_customer`), logged as read; for a merged
    customer followed, only its survivor, and nothing is read."""
    customer, dated = await read_customer(session, customer_id, principal)
    if customer.status == CustomerStatus.MERGED and follow:
        return Merged(await survivor_id(session, customer.id))
    await record_access(session, principal, customer.id, "customer")
    return customer, dated


async def read_customer(
    session: AsyncSession, customer_id: UUID, principal: Principal
) -> tuple[CustomerOut, bool]:
    """The customer aggregate, and whether its version dates all of it: not when it shows
    other customers (a person's organisation, an organisation's contacts), whose changes
    leave this customer's version as it is, nor once it is merged (its owner follows the
    survivor's by a trigger). 404 when missing or not visible."""
    row = await queries.card_row(session, customer_id, principal)
    if row is None:
        raise CustomerNotFound(customer_id)
    dated = (
        row["kind"] == CustomerKind.PERSON
        and row["organization_id"] is None
        and row["status"] != CustomerStatus.MERGED
    )
    return _card(row), dated


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
            identifiers=[identifier_out(i) for i in identifiers[p.id]],
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
    if customer.status != CustomerStatus.ACTIVE:
        raise CustomerNotActive(f"Customer {customer_id} is {customer.status} and cannot change.")
    check_if_match(if_match, customer.version, required=required)
    return customer


async def patch_customer(
    session: AsyncSession,
    customer_id: UUID,
    patch: Any,
    if_match: str | None,
    principal: Principal,
) -> tuple[CustomerOut, UUID | None]:
    """Apply a JSON merge patch (RFC 7396) to the profile, guarded by If-Match: the
    customer, and the organisation it belonged to before."""
    repo = CustomerRepository(session)
    customer = await _writable(repo, customer_id, principal, if_match, required=True)
    if not isinstance(patch, dict):
        raise invalid_field("body", "a merge patch must be a JSON object", "dict_type")
    merged = apply_merge_patch(_profile_of(customer), patch)
    try:
        profile = Profile.model_validate(merged)
    except ValidationError as exc:
        raise invalid_fields(exc, "body") from None
    if profile.organization_id == customer.id:
        raise invalid_field("body.organization_id", "a customer cannot belong to itself")
    if profile.organization_id != customer.organization_id:
        await _check_organization(repo, profile.organization_id, principal, "body.organization_id")
    if not is_visible(profile.owner_id, principal):  # nor hands one out of its own sight
        raise Forbidden("An owned-only key cannot hand a customer to another owner.")
    previous = customer.organization_id
    if not await repo.update_profile(customer.id, customer.version, _columns_of(profile)):
        raise CustomerNotFound(customer_id)
    if profile.owner_id != customer.owner_id:
        await queries.access_changed(session, [customer.id], customer.id, profile.owner_id)
    if profile.organization_id != previous:
        await contacts_changed(session, previous, profile.organization_id)
    elif profile.owner_id != customer.owner_id:  # who sees it among the contacts changes
        await contacts_changed(session, previous)
    return await get_customer(session, customer.id, principal), previous


async def contacts_changed(session: AsyncSession, *organizations: UUID | None) -> None:
    """A contact person joined or left these organisations, or changed owner, or a merge
    moved a contact's history into or out of them: the owners of their contact persons
    are written again on their rows (``visibility.hides_contacts_sql`` reads them there),
    and their open streams, which carry the contact persons' events their keys see,
    check on commit what they carry now."""
    changed = sorted({o for o in organizations if o is not None})
    await queries.keep_contact_owners(session, changed)
    for organization in changed:
        await notify_on_commit(session, ACCESS_CHANNEL, f"customer:{organization}")


async def recount_contact_owners(on: Executor, organizations: Sequence[UUID]) -> None:
    """Write these organisations' ``contact_owners`` from their contact persons, for rows
    written in bulk (the seed's COPY), which :func:`contacts_changed` did not see."""
    await queries.recount_contact_owners(on, organizations)


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
    return identifier_out(identifier), not existing


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
    if customer.kind != CustomerKind.ORGANIZATION:
        raise invalid_field("path.customer_id", "only an organization has contacts")
    after = cursor_id(cursor, "after")
    items = await _contacts(repo, customer.id, principal, limit=limit + 1, after=after)
    page, next_cursor = keyset_page(items, limit, lambda c: {"after": str(c.id)})
    return ContactPage(items=page, next_cursor=next_cursor)


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
    page, next_cursor = keyset_page(rows, limit, lambda c: {"before": str(c.id)})
    return ConsentPage(items=[_consent_out(c) for c in page], next_cursor=next_cursor)


async def survivor_id(on: Executor, customer_id: UUID) -> UUID:
    """Where a customer's history lives now: itself, or the survivor of its merges."""
    found = await queries.survivor_of(on, customer_id)
    if found is None:
        raise CustomerNotFound(customer_id)
    return found


async def survivors(on: Executor, customer_ids: Sequence[UUID]) -> set[UUID]:
    """Where these customers' histories live now (unknown ids are left out)."""
    return await queries.survivors_of(on, customer_ids)


async def family(on: Executor, customer_id: UUID) -> list[UUID]:
    """The ids whose events form a customer's timeline: itself and everyone merged into it."""
    return await queries.family_ids(on, customer_id)


async def readable_family(
    session: AsyncSession, customer_id: UUID, principal: Principal, contacts: bool = False
) -> tuple[Customer, list[UUID]]:
    """A visible customer and the ids whose events form its timeline (merged-in included);
    with ``contacts``, an organisation's contact persons that ``principal`` may see too."""
    customer = await CustomerRepository(session).get(customer_id, principal)
    if customer is None:
        raise CustomerNotFound(customer_id)
    ids = await family(session, customer.id)
    if contacts and customer.kind == CustomerKind.ORGANIZATION:
        ids += await queries.contacts_family_ids(session, customer.id, principal)
    return customer, ids


async def alerts_unseen(
    session: AsyncSession, customer_ids: Sequence[UUID], principal: Principal
) -> set[UUID]:
    """Those of ``customer_ids`` whose alerts (and their follow-ups) ``principal`` does not
    see: organisations some of whose contact persons it cannot see (``visibility.py``);
    no statement for a key that sees everyone."""
    if sees_everyone(principal):
        return set()
    return await CustomerRepository(session).hiding_contacts(customer_ids, principal)


async def visible_family(
    on: Executor, customer_id: UUID, principal: Principal, contacts: bool = False
) -> tuple[CustomerStatus, list[UUID]]:
    """A visible customer's status and the ids whose events form its timeline (merged-in
    included), in one statement: for reads on a bare connection. With ``contacts``, an
    organisation's contact persons that ``principal`` may see too (one statement more)."""
    found = await queries.visible_family(on, customer_id, principal)
    if found is None:
        raise CustomerNotFound(customer_id)
    ids = list(found["family"])
    if contacts and found["kind"] == CustomerKind.ORGANIZATION:
        ids += await queries.contacts_family_ids(on, customer_id, principal)
    return CustomerStatus(found["status"]), ids


async def get_customer(on: Executor, customer_id: UUID, principal: Principal) -> CustomerOut:
    """The customer aggregate, read in one query: what every read of it answers (the API's
    customer, a ficha's), as far as ``principal`` may see it; 404 otherwise."""
    row = await queries.card_row(on, customer_id, principal)
    if row is None:
        raise CustomerNotFound(customer_id)
    return _card(row)


async def caller_rows(on: Executor, readings: Sequence[str], principal: Principal) -> list[Any]:
    """Who the caller may see holding one of the readings of a caller id (national and,
    for bare digits, international: see ``phone_readings``): a row each reading held, with
    the card of the holder when they are one customer (:func:`caller_candidates`,
    :func:`caller_card`)."""
    national, international = caller_readings(readings)
    return list(await queries.caller_card_rows(on, national, international, principal))


def caller_readings(readings: Sequence[str]) -> tuple[str, str | None]:
    """The national and the international reading of a caller id (None for one reading)."""
    national, *international = readings
    assert len(international) <= 1, "a caller id has two readings at most"
    return national, next(iter(international), None)


def caller_candidates(rows: Sequence[Any]) -> list[Candidate]:
    """Each reading held and its holder, from the rows of :func:`caller_rows` (or of a
    screen-pop, which reads them with its ficha)."""
    return [
        Candidate(
            customer_id=r["holder_id"],
            display_name=r["holder_name"],
            phone=r["phone"],
            unverified=r["holder_unverified"],
        )
        for r in rows
    ]


def caller_card(row: Any) -> CustomerOut:
    """The card of the one customer holding the readings, as :func:`get_customer` gives
    it, from a row of :func:`caller_rows` whose holders are one customer."""
    return _card(row)


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
