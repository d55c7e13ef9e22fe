"""Customer changes recorded on the timeline: merges and their undoing, profile changes,
preferences and consents. Each one spans domains (the customer changes, its events are appended, its
indicators are rebuilt), so it is written here, above the services it orchestrates,
rather than in any one of them."""

from typing import Any
from uuid import UUID

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.config import Settings
from app.core.security import Principal
from app.customers import merges
from app.customers import service as customers
from app.customers.schemas import ConsentIn, ConsentOut, CustomerOut, Preferences
from app.indicators import service as indicators
from app.timeline.models import CustomerMerge
from app.timeline.repository import TimelineRepository
from app.timeline.schemas import FieldConflict, MergeOutcome, UnmergeOutcome
from app.timeline.service import NotMerged, append_system_event


async def merge(
    session: AsyncSession,
    survivor_id: UUID,
    absorbed_id: UUID,
    dry_run: bool,
    principal: Principal,
    settings: Settings,
    clock: Clock,
) -> MergeOutcome:
    """Merge a duplicate into a survivor (or preview it): identifiers move, histories join."""
    target, source, identifiers, conflicts = await merges.merge_preview(
        session, survivor_id, absorbed_id, principal
    )
    repo = TimelineRepository(session)
    family = await customers.family(session, source.id)
    outcome = MergeOutcome(
        dry_run=dry_run,
        survivor_id=target.id,
        absorbed_id=source.id,
        merge_id=None,
        identifiers=identifiers,
        events_by_type=await repo.count_by_type(family),
        conflicting_fields=[FieldConflict.model_validate(c) for c in conflicts],
    )
    if dry_run:
        return outcome
    absorbed_owner = source.owner_id
    moved = await merges.absorb(session, target, source)
    record = await repo.add_merge(
        CustomerMerge(
            survivor_id=target.id,
            absorbed_id=source.id,
            identifier_ids=moved,
            actor=principal.agent_id,
            absorbed_owner_id=absorbed_owner,
        )
    )
    payload = {
        "survivor_id": str(target.id),
        "absorbed_id": str(source.id),
        "identifiers_moved": len(moved),
    }
    await append_system_event(
        session,
        target.id,
        "customer.merged",
        payload,
        f"Merged {source.display_name} into this customer",
        principal.agent_id,
        settings,
        clock,
    )
    await append_system_event(
        session,
        source.id,
        "customer.merged",
        payload,
        f"Merged into {target.display_name}",
        principal.agent_id,
        settings,
        clock,
    )
    # The target's organisation gains the absorbed history (rebuild takes it with the
    # target); the absorbed customer's loses it: a merged customer is no contact person.
    left = [source.organization_id] if source.organization_id is not None else []
    await indicators.rebuild(session, [target.id, *left], settings, clock)
    outcome.merge_id = record.id
    return outcome


async def unmerge(
    session: AsyncSession,
    survivor_id: UUID,
    absorbed_id: UUID,
    principal: Principal,
    settings: Settings,
    clock: Clock,
) -> UnmergeOutcome:
    """Undo a merge: the absorbed customer returns with exactly its identifiers and events."""
    repo = TimelineRepository(session)
    # Who may see both comes first: the merge record is not looked at for anyone else.
    target, source = await merges.lock_pair(session, survivor_id, absorbed_id, principal)
    record = await repo.open_merge(survivor_id, absorbed_id)
    if record is None:  # both exist and are seen: it is the state that refuses, a conflict
        raise NotMerged(f"Customer {absorbed_id} is not merged into {survivor_id}.")
    restored = await merges.restore(
        session, target, source, record.identifier_ids, record.absorbed_owner_id
    )
    record.unmerged_at = func.now()  # when the split was stored, as merged_at: a record
    payload = {
        "survivor_id": str(target.id),
        "absorbed_id": str(source.id),
        "identifiers_moved": restored,
    }
    await append_system_event(
        session,
        target.id,
        "customer.unmerged",
        payload,
        f"Split {source.display_name} back out",
        principal.agent_id,
        settings,
        clock,
    )
    await append_system_event(
        session,
        source.id,
        "customer.unmerged",
        payload,
        f"Split back out of {target.display_name}",
        principal.agent_id,
        settings,
        clock,
    )
    await indicators.rebuild(session, [target.id, source.id], settings, clock)
    return UnmergeOutcome(
        survivor_id=target.id, restored_id=source.id, identifiers_restored=restored
    )


async def patch_customer(
    session: AsyncSession,
    customer_id: UUID,
    patch: Any,
    if_match: str | None,
    principal: Principal,
    settings: Settings,
    clock: Clock,
) -> CustomerOut:
    """Change the profile; a contact person joining or leaving an organisation takes its
    history into or out of the organisations' indicators."""
    customer, previous = await customers.patch_customer(
        session, customer_id, patch, if_match, principal
    )
    if previous != customer.organization_id:
        moved = [o for o in (previous, customer.organization_id) if o is not None]
        await indicators.rebuild(session, moved, settings, clock)
    return customer


async def set_preferences(
    session: AsyncSession,
    customer_id: UUID,
    data: Preferences,
    if_match: str | None,
    principal: Principal,
    settings: Settings,
    clock: Clock,
) -> tuple[Preferences, int]:
    """Replace preferences and record preference.updated on the timeline."""
    preferences, version = await customers.set_preferences(
        session, customer_id, data, if_match, principal
    )
    await append_system_event(
        session,
        customer_id,
        "preference.updated",
        {"preferences": preferences.model_dump(mode="json", by_alias=True)},
        "Contact preferences updated",
        principal.agent_id,
        settings,
        clock,
    )
    return preferences, version


async def record_consent(
    session: AsyncSession,
    customer_id: UUID,
    data: ConsentIn,
    principal: Principal,
    settings: Settings,
    clock: Clock,
) -> ConsentOut:
    """Record a consent decision and its consent.granted / consent.withdrawn event."""
    consent = await customers.record_consent(session, customer_id, data, principal)
    verb = "granted" if data.granted else "withdrawn"
    await append_system_event(
        session,
        customer_id,
        f"consent.{verb}",
        {
            "channel": data.channel.value,
            "purpose": data.purpose.value,
            "source": data.source,
            "evidence": data.evidence,
        },
        f"Consent {verb}: {data.purpose.value} by {data.channel.value}",
        principal.agent_id,
        settings,
        clock,
    )
    return consent
