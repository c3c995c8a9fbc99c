"""POST /v1/events (write scope, or the narrower events scope): store shop events; the user's profile is updated
before the answer.

Each event needs an ``event_id`` or a ``ts`` (:class:`ranker.feedback.events.LiveEventIn`), so a retried request
stores nothing twice. A key with the events scope only (the storefront page's) may post :data:`PAGE_EVENT_TYPES`
that carry the ``query_id`` of the answer they followed: what a shop page sends, nothing else a write key may."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from core.errors import InputError
from ranker.feedback import LiveEventIn
from ranker.service.auth import granted, require
from ranker.service.routes.common import deps_of
from ranker.service.schemas import EventsAccepted

router = APIRouter(tags=["events"])

#: What a key with only the events scope may post: what a shopper does on a page with a result it was shown.
PAGE_EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")


class EventsRequest(BaseModel):
    """A batch of events."""

    model_config = ConfigDict(extra="forbid")

    events: list[LiveEventIn] = Field(description="The events (at most RECSEARCH_SERVICE_MAX_EVENTS).")


def check_page_events(events: list[LiveEventIn]) -> None:
    """Refuse what an events-scope key may not post: another type, or an event without the answer's query_id."""
    for n, event in enumerate(events):
        if event.type not in PAGE_EVENT_TYPES:
            raise InputError(
                f"an events-scope key posts only {', '.join(PAGE_EVENT_TYPES)} (use a write key)",
                field=f"events[{n}].type",
            )
        if not event.query_id:
            raise InputError(
                "an events-scope key posts only events that carry the query_id of the answer they followed",
                field=f"events[{n}].query_id",
            )


@router.post("/v1/events", response_model=EventsAccepted, dependencies=[Depends(require("write", "events"))])
def post_events(body: EventsRequest, request: Request) -> EventsAccepted:
    """Store the events (idempotent by event id) and update the profiles of their users."""
    deps = deps_of(request)
    limit = deps.settings.service.max_events
    if len(body.events) > limit:
        raise InputError(f"at most {limit} events per request (RECSEARCH_SERVICE_MAX_EVENTS)", field="events")
    if "write" not in granted(request):
        check_page_events(body.events)
    if not body.events:
        return EventsAccepted(accepted=0)
    result = deps.profiles.get().ingest(body.events)
    return EventsAccepted(accepted=len(body.events), detail=dataclasses.asdict(result))
