"""POST /v1/events (write scope): store shop events; the user's profile is updated before the answer.

Each event needs an ``event_id`` or a ``ts`` (:class:`ranker.feedback.events.LiveEventIn`), so a retried request
stores nothing twice."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from core.errors import InputError
from ranker.feedback import LiveEventIn
from ranker.service.auth import require
from ranker.service.routes.common import deps_of
from ranker.service.schemas import EventsAccepted

router = APIRouter(tags=["events"])


class EventsRequest(BaseModel):
    """A batch of events."""

    model_config = ConfigDict(extra="forbid")

    events: list[LiveEventIn] = Field(description="The events (at most RECSEARCH_SERVICE_MAX_EVENTS).")


@router.post("/v1/events", response_model=EventsAccepted, dependencies=[Depends(require("write"))])
def post_events(body: EventsRequest, request: Request) -> EventsAccepted:
    """Store the events (idempotent by event id) and update the profiles of their users."""
    deps = deps_of(request)
    limit = deps.settings.service.max_events
    if len(body.events) > limit:
        raise InputError(f"at most {limit} events per request (RECSEARCH_SERVICE_MAX_EVENTS)", field="events")
    if not body.events:
        return EventsAccepted(accepted=0)
    result = deps.profiles.get().ingest(body.events)
    return EventsAccepted(accepted=len(body.events), detail=dataclasses.asdict(result))
