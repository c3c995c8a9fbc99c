"""Feedback events: the model one event follows and its id (the frame that training and evaluation read is
:mod:`ranker.feedback.frames`).

An event says that a user did something (``type``) with an item at a time. The built-in types are
``view``, ``click``, ``add_to_cart``, ``purchase`` and ``search``; any other lower-case word is a custom type
(its weight is ``RECSEARCH_EVENTS_DEFAULT_WEIGHT`` unless ``RECSEARCH_EVENTS_TYPE_WEIGHTS`` names it).
``search`` events may carry a query and no item; every other type needs an item.

Idempotency: every event has an ``event_id``. A source that has one (a UBI document id, a shop's event id) keeps
it; otherwise the id is a hash of the event's content (user, item, type, time, quantity, value, query, session),
so importing the same file again, or sending the same event twice, stores it once. Two rows that agree on all of
those fields are the same event.

Times are stored as naive UTC; a time with an offset is converted, a time without one is taken as UTC. A time must
lie between :data:`EARLIEST_TS` (1970-01-01) and :data:`MAX_AHEAD` (one day) after now: an older or later one is a
mistake (a unit error, a default date) that would sort as a user's newest event forever, or fall outside what the
training frame (pandas) can hold. Ids and texts may not hold NUL characters (PostgreSQL refuses them).
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_ID_LENGTH = 128
MAX_QUERY_LENGTH = 1024
#: The longest UBI query_id (the ``ubi_queries`` mapping keeps keywords up to 100 characters).
MAX_QUERY_ID_LENGTH = 100
#: The earliest event time accepted (naive UTC), on the live API and in files.
EARLIEST_TS = datetime(1970, 1, 1)
#: How far after the receiving clock's now an event time may lie (clock skew between the shop and this service).
MAX_AHEAD = timedelta(days=1)
NUL = "\x00"


def ts_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The accepted event times as naive UTC: ``[EARLIEST_TS, now + MAX_AHEAD]``."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    return EARLIEST_TS, now + MAX_AHEAD


def event_id_for(
    user_id: str,
    item_id: str,
    type_: str,
    ts_text: str,
    quantity: float | None,
    value: float | None,
    query: str | None,
    session_id: str | None,
) -> str:
    """The content id of an event without one of its own: 24 hex digits of BLAKE2b over its fields.

    ``ts_text`` is the stored time as ``YYYY-MM-DD HH:MM:SS.ffffff``; numbers enter as ``repr`` of the float so
    the same value always gives the same id."""
    parts = (user_id, item_id, type_, ts_text, _num(quantity), _num(value), query or "", session_id or "")
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


def _num(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))


def ts_text(ts: datetime) -> str:
    """The stored text form of a naive UTC time (what SQLAlchemy writes for SQLite, and what the id hashes):
    ``YYYY-MM-DD HH:MM:SS.ffffff``, the year zero-padded (``strftime("%Y")`` is not, on glibc)."""
    return ts.isoformat(sep=" ", timespec="microseconds")


def to_naive_utc(ts: datetime) -> datetime:
    """A time with an offset converted to UTC and made naive; a naive time is taken as UTC already."""
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo is not None else ts


class EventIn(BaseModel):
    """One event as the service's ``POST /v1/events`` and :meth:`ProfileStore.ingest` accept it.

    Validation errors name the field (``user_id``, ``item_id``, ``type``, ...), so FastAPI answers 422 with it."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True)

    event_id: str | None = Field(None, min_length=1, max_length=MAX_ID_LENGTH, description="Idempotency key.")
    user_id: str = Field(..., min_length=1, max_length=MAX_ID_LENGTH, description="The shop's user id.")
    item_id: str | None = Field(
        None, max_length=MAX_ID_LENGTH, description="The item (catalog id); optional only for `search` events."
    )
    type: str = Field(..., description="view, click, add_to_cart, purchase, search, or a custom lower-case word.")
    ts: datetime | None = Field(None, description="When it happened (ISO 8601); default: when it is received.")
    quantity: float | None = Field(None, description="How many (purchases, add to cart).")
    value: float | None = Field(None, description="Money value of the event.")
    query: str | None = Field(None, max_length=MAX_QUERY_LENGTH, description="The search text, if any.")
    session_id: str | None = Field(None, max_length=MAX_ID_LENGTH, description="The shop's session or basket id.")
    query_id: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_QUERY_ID_LENGTH,
        description="The query_id of the answer the event followed (a click on a search result): attributes the "
        "event to what was shown (docs/ubi.md). Not part of the content id.",
    )

    @field_validator("type")
    @classmethod
    def _known_shape(cls, value: str) -> str:
        value = value.strip().lower()
        if not TYPE_PATTERN.match(value):
            raise ValueError("must be a lower-case word of letters, digits and _ (at most 32), e.g. 'purchase'")
        return value

    @field_validator("ts")
    @classmethod
    def _in_window(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:  # converted here, so an offset that overflows (0001-01-01T00:00+01:00) is this field's error
            value = to_naive_utc(value)
        except OverflowError:
            raise ValueError("is out of range once converted to UTC") from None
        earliest, latest = ts_window()
        if not earliest <= value <= latest:
            raise ValueError(
                f"must lie between {earliest:%Y-%m-%d} and one day from now (UTC), got {value.isoformat()}"
            )
        return value

    @field_validator("event_id", "user_id", "item_id", "query", "session_id", "query_id")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and NUL in value:
            raise ValueError("must not contain NUL characters (\\u0000)")
        return value

    @field_validator("quantity", "value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("item_id")
    @classmethod
    def _normalize_item(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _item_needed(self) -> EventIn:
        if self.item_id is None and self.type != "search":
            from pydantic_core import PydanticCustomError

            raise PydanticCustomError("missing_item", f"item_id is required for '{self.type}' events")
        return self

    def stored_ts(self, now: datetime | None = None) -> datetime:
        """The event time as stored (naive UTC); the receive time when the event has none."""
        return to_naive_utc(self.ts) if self.ts is not None else (now or datetime.now(UTC)).replace(tzinfo=None)

    def resolved_id(self, ts: datetime) -> str:
        """The event's own id, or its content id."""
        if self.event_id:
            return self.event_id
        return event_id_for(
            self.user_id, self.item_id or "", self.type, ts_text(ts), self.quantity, self.value, self.query,
            self.session_id,
        )  # fmt: skip


class LiveEventIn(EventIn):
    """An event as ``POST /v1/events`` takes it: with an ``event_id`` or a ``ts``, so that a client retrying a
    request stores nothing twice (without either, the content id would hash the receive time of each attempt)."""

    ts: datetime | None = Field(
        None, validate_default=True, description="When it happened (ISO 8601); required unless event_id is given."
    )

    @field_validator("ts")
    @classmethod
    def _ts_or_id(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None and not info.data.get("event_id"):
            raise ValueError(
                "give ts (when it happened) or event_id: without either a retried request would be stored twice"
            )
        return value
