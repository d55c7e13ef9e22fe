"""HTTP route: a segment, as JSON pages or as CSV."""

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from app.auth.dependencies import require_roles
from app.core.bounded_json import BoundedJsonRoute
from app.core.db import Database, SessionDep, stream_connection
from app.core.errors import Forbidden, Unauthorized, ValidationFailed, problem_responses
from app.core.pagination import InvalidCursor
from app.core.security import Principal, Role
from app.core.spreadsheet import safe_cell
from app.core.streaming import BegunStreamingResponse
from app.segments import service
from app.segments.schemas import SegmentPage, SegmentQuery

# Listed with the indicators in the API document, as it has always been.
router = APIRouter(prefix="/v1", tags=["indicators"], route_class=BoundedJsonRoute)


Campaigns = Annotated[
    Principal, Depends(require_roles(Role.ADMIN, Role.MARKETING, Role.SALES, Role.COLLECTIONS))
]


CSV_COLUMNS = ("customer_id", "display_name", "language", "tier", "channel", "contact")


@router.post(
    "/segments/query",
    operation_id="query_segment",
    summary="Customers to contact for a campaign, with consent and do-not-call enforced",
    response_model=SegmentPage,
    responses={
        200: {
            "description": "JSON pages, or the whole list as CSV with `Accept: text/csv`",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **problem_responses(InvalidCursor, Unauthorized, Forbidden, ValidationFailed),
    },
)
async def query_segment(
    body: SegmentQuery, request: Request, session: SessionDep, principal: Campaigns
) -> Any:
    """Only customers the key may see, listed and counted. In the CSV every cell that a
    spreadsheet would read as a formula starts with a quote (E.164 phone numbers excepted:
    see app/core/spreadsheet.py)."""
    if "text/csv" not in request.headers.get("accept", ""):
        return await service.segment_page(session, body, principal)
    database: Database = request.app.state.db

    async def rows() -> AsyncIterator[str]:
        # One connection for the whole list, taken before the answer starts
        # (``BegunStreamingResponse``): a page that waited for a connection mid-way could
        # only end the list short.
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        query = body.model_copy(update={"limit": 1000, "cursor": None})
        async with stream_connection(database) as connection:
            while True:
                async with database.sessionmaker(bind=connection) as s:
                    page = await service.segment_page(s, query, principal, counts=False)
                for member in page.items:
                    cells = [
                        str(member.customer_id),
                        member.display_name,
                        member.language or "",
                        member.tier.value,
                        member.channel.value,
                        member.contact,
                    ]
                    writer.writerow([safe_cell(cell) for cell in cells])
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                if page.next_cursor is None:
                    return
                query = query.model_copy(update={"cursor": page.next_cursor})

    return BegunStreamingResponse(
        rows(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="segment.csv"'},
    )
