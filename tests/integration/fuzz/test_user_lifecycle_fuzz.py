"""Stateful fuzzing: a user's life through the API in the order a shop drives it (events, then recommendations,
then deletion), with the events generated from the schema of ``POST /v1/events`` (most invalid, some not) beside
one valid purchase. Whatever is generated: no 5xx, answers within the schema, the valid purchase is in the user's
export, and after ``DELETE`` the export holds nothing."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given

from tests.integration.fuzz.conftest import WRITE_KEY, call_checked, fuzzed

pytestmark = pytest.mark.integration

KEY = {"X-API-Key": WRITE_KEY}


def _call(case, name: str):
    return call_checked(case, KEY, f"{name} [stateful, write key]")


def test_events_then_recommend_then_delete(api_schema, fuzz_stack):
    events_op = api_schema["/v1/events"]["POST"]
    recommend_op = api_schema["/v1/recommend/{user_id}"]["GET"]
    delete_op = api_schema["/v1/users/{user_id}"]["DELETE"]
    export_op = api_schema["/v1/users/{user_id}/export"]["GET"]
    item = fuzz_stack.heart_items[0]

    @given(events=events_op.as_strategy(), recommend=recommend_op.as_strategy())
    @fuzzed
    def life(events, recommend):
        user = f"fz-{uuid.uuid4().hex[:12]}"
        if isinstance(events.body, dict) and isinstance(events.body.get("events"), list):
            for event in events.body["events"]:
                if isinstance(event, dict):
                    event["user_id"] = user  # the generated events are this user's
        _call(events, "POST /v1/events")
        valid = {"events": [{"user_id": user, "item_id": item, "type": "purchase", "event_id": uuid.uuid4().hex}]}
        stored = _call(events_op.Case(body=valid, media_type="application/json"), "POST /v1/events")
        assert stored.status_code == 200, stored.text
        recommend.path_parameters = {"user_id": user}
        _call(recommend, "GET /v1/recommend/{user_id}")
        exported = _call(export_op.Case(path_parameters={"user_id": user}), "GET /v1/users/{user_id}/export")
        assert item in {e["item_id"] for e in exported.json()["events"]}
        gone = _call(delete_op.Case(path_parameters={"user_id": user}), "DELETE /v1/users/{user_id}")
        assert gone.status_code == 200 and gone.json()["removed"]["events"] >= 1
        after = _call(export_op.Case(path_parameters={"user_id": user}), "GET /v1/users/{user_id}/export")
        assert after.status_code == 200 and after.json()["events"] == []

    life()
