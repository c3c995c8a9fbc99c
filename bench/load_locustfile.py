"""The locust users of ``bench/load_service.py`` (run by it as ``locust -f bench/load_locustfile.py --headless ...``).

Each user calls every route once, then sends, without waiting between requests (closed loop: the concurrency is
the number of users), a mix of a shop's calls: ``POST /v1/search`` (a shopper's query, the service embeds it),
``POST /v1/rerank`` (the plugin's call: 100 hits), ``GET /v1/recommend/{user}``, ``POST /v1/events`` (1-3 events,
each with its own ``event_id``) and ``GET /healthz`` (the baseline: the HTTP + framework floor under the same load).

What it needs comes from a JSON plan whose path is in ``RECSEARCH_LOAD_PLAN`` (written by load_service.py: items,
users, queries, API keys, output folder, level). What it leaves in the output folder, one file per process
(locust ``--processes`` gives several):

    timings-L<level>-<pid>.json   per route: every response time in ms, the status codes, first and last finish time
    events-L<level>-<pid>.jsonl   one line per event sent: {"id", "status", "outcome"}; outcome is ``acked`` (2xx),
                                  ``refused`` (an HTTP answer that is not 2xx) or ``unanswered`` (no answer)

This file imports nothing from the project: locust (gevent) patches the process it runs in.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections import defaultdict
from pathlib import Path

from locust import FastHttpUser, constant, events, task

PLAN = json.loads(Path(os.environ["RECSEARCH_LOAD_PLAN"]).read_text())
OUT = Path(PLAN["out_dir"])
TAG = f"L{PLAN['level']}-{os.getpid()}"
EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")

_times: dict[str, list[float]] = defaultdict(list)
_codes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
_span: dict[str, list[float]] = {}
_event_log = None


def _log_events(ids: list[str], status: int) -> None:
    global _event_log
    if _event_log is None:
        OUT.mkdir(parents=True, exist_ok=True)
        _event_log = open(OUT / f"events-{TAG}.jsonl", "a", buffering=1)  # noqa: SIM115  (open for the whole run)
    outcome = "acked" if 200 <= status < 300 else ("unanswered" if status == 0 else "refused")
    for i in ids:
        _event_log.write(json.dumps({"id": i, "status": status, "outcome": outcome}) + "\n")


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None, **kwargs):
    _times[name].append(float(response_time))
    status = getattr(response, "status_code", 0) or 0
    _codes[name][str(status)] += 1
    now = time.time()
    first, _ = _span.get(name, (now, now))
    _span[name] = [first, now]


@events.quitting.add_listener
def _dump(environment, **kwargs):
    OUT.mkdir(parents=True, exist_ok=True)
    body = {name: {"ms": ms, "codes": dict(_codes[name]), "span": _span.get(name)} for name, ms in _times.items()}
    (OUT / f"timings-{TAG}.json").write_text(json.dumps(body))
    if _event_log is not None:
        _event_log.close()


class Shop(FastHttpUser):
    """One client of the service: a storefront backend and the plugin's rerank calls, one request at a time."""

    wait_time = constant(0)
    connection_timeout = 30.0
    network_timeout = 60.0

    def on_start(self) -> None:
        self.rng = random.Random()
        self.read = {"Authorization": f"Bearer {PLAN['read_key']}"}
        self.write = {"Authorization": f"Bearer {PLAN['write_key']}"}
        # Every route once first, so that even a run of a few seconds measures each of them (then the weighted mix).
        for call in (self.healthz, self.search, self.rerank, self.recommend, self.post_events):
            call()

    def _user(self) -> str:
        # Most calls are for shoppers with a history; some for shoppers the store has never seen.
        pool = PLAN["users"] if self.rng.random() < 0.8 else PLAN["cold_users"]
        return self.rng.choice(pool)

    def _checked(self, method: str, path: str, name: str, headers: dict, body: dict | None = None) -> None:
        with self.client.request(method, path, name=name, headers=headers, json=body, catch_response=True) as r:
            if 200 <= (r.status_code or 0) < 300:
                r.success()
            else:
                r.failure(f"HTTP {r.status_code}")

    @task(4)
    def search(self) -> None:
        body = {"query": self.rng.choice(PLAN["queries"]), "k": 10, "user_id": self._user()}
        self._checked("POST", "/v1/search", "/v1/search", self.read, body)

    @task(4)
    def rerank(self) -> None:
        ids = self.rng.sample(PLAN["items"], min(100, len(PLAN["items"])))
        hits = [{"id": i, "score": round(1.0 - r / 100, 4)} for r, i in enumerate(ids)]
        self._checked("POST", "/v1/rerank", "/v1/rerank", self.read, {"user_id": self._user(), "hits": hits})

    @task(2)
    def recommend(self) -> None:
        path = f"/v1/recommend/{self._user()}?k=10"
        self._checked("GET", path, "/v1/recommend/{user}", self.read)

    @task(3)
    def post_events(self) -> None:
        batch = [
            {"event_id": f"{PLAN['run_id']}-{uuid.uuid4().hex}", "user_id": self._user(),
             "item_id": self.rng.choice(PLAN["items"]), "type": self.rng.choice(EVENT_TYPES)}
            for _ in range(self.rng.randint(1, 3))
        ]  # fmt: skip
        with self.client.post(
            "/v1/events", name="/v1/events", headers=self.write, json={"events": batch}, catch_response=True
        ) as r:
            status = r.status_code or 0
            _log_events([e["event_id"] for e in batch], status)
            if 200 <= status < 300:
                r.success()
            else:
                r.failure(f"HTTP {status}")

    @task(1)
    def healthz(self) -> None:
        self._checked("GET", "/healthz", "/healthz", {})
