"""Online experiments end to end on the real parts, proved by simulated shoppers (bench/sim_shopper.py): a ranker
trained on real Online Retail history (before a cutoff) against an untrained network of the same shape, served by
the real service (uvicorn, real node, real SQLite store) to held-out customers who click and buy the items they
really bought after the cutoff. Interleaving must name the trained version with significance within the stated
sessions; two copies of the trained version must show no difference, and A-vs-A's false-positive rate over repeated
runs must stay near alpha."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from datetime import datetime

import httpx
import pandas as pd
import pytest

from bench import sim_shopper
from bench.sim_shopper import catalog_items, false_positive_rate, run_sessions, split_users
from core.errors import ConfigError
from core.settings import (
    ExperimentSettings,
    OpenSearchSettings,
    RankerSettings,
    ServiceSettings,
    Settings,
    StoreSettings,
    UbiSettings,
)
from core.store import open_store
from ranker.experiments import experiment_report, running, start_experiment, stop_experiment
from ranker.feedback import OpenSearchImpressions, events_frame_from_file, import_file
from ranker.feedback.impression_sinks import UBI_QUERIES_MAPPING
from ranker.model import registry
from tests.builders.service_stack import ServerThread, drop_index, free_port
from tests.fakes.embedder import HashEmbedder
from tests.paths import DATA

pytestmark = pytest.mark.integration

CUTOFF = datetime(2011, 11, 1)
#: Stated in docs/experiments.md: interleaving names the better ranker within this many shopper sessions.
SESSIONS = 300
SMALL = dict(attention_dim=16, hidden_dim=16, batch_size=64, negatives=8, in_batch_negatives=16,
             validation_examples=300, epochs=2, device="cpu")  # fmt: skip


def _untrained(settings: Settings, vectors) -> str:
    """A seeded, untrained network registered (not activated) through the real save and register path."""
    import numpy as np
    import torch

    from ranker.model.checkpoint import Checkpoint, save_checkpoint
    from ranker.model.features import FEATURE_NAMES
    from ranker.model.item_stats import ItemStats
    from ranker.model.network import AttentionRanker, RankerConfig

    torch.manual_seed(0)
    config = RankerConfig(item_dim=vectors.dim, num_features=len(FEATURE_NAMES), feature_names=FEATURE_NAMES)
    stats = ItemStats.fit({i: 1.0 for i in vectors.ids[:50]}, np.asarray(vectors.prices))
    engine = open_store(settings.store)
    version = registry.next_version(engine)
    path = save_checkpoint(Checkpoint(AttentionRanker(config).eval(), version, stats),
                           settings.state_dir / "models" / f"untrained-{version}.pt")  # fmt: skip
    registry.register(engine, version, path, {})
    return version


@pytest.fixture(scope="module")
def shop(tmp_path_factory, opensearch_node):
    """The real node and store with a trained (active) and an untrained version, a copy of the trained one, and
    the service on a real server; the held-out shoppers."""
    from indexer import api
    from ranker.model import ItemVectors
    from ranker.service import create_app
    from ranker.service.deps import ServiceDeps
    from ranker.training.api import train_and_register
    from ranker.training.options import TrainOptions

    tmp = tmp_path_factory.mktemp("experiment")
    settings = Settings(
        opensearch=OpenSearchSettings(url=opensearch_node.url, index_alias=f"test-exp-{uuid.uuid4().hex[:8]}"),
        store=StoreSettings(url=f"sqlite:///{tmp / 'store.db'}"),
        service=ServiceSettings(profile_deadline_ms=5000),
        experiments=ExperimentSettings(check_s=0.2, bootstrap_samples=500),
        state_dir=tmp / "state",
    )
    frame = pd.read_parquet(DATA)
    top = frame["StockCode"].value_counts().index[:150]
    frame = frame[frame["StockCode"].isin(top) & (frame["InvoiceDate"] >= "2011-06-01")]
    whole, before = tmp / "slice.parquet", tmp / "before.parquet"
    frame.to_parquet(whole)
    frame[frame["InvoiceDate"] < CUTOFF].to_parquet(before)
    embedder = HashEmbedder()
    api.build_from_catalog(settings, whole, embedder=embedder)
    vectors = ItemVectors.from_index(settings)
    import_file(settings, before, check_catalog=False)  # the shoppers' histories, as a shop imports them
    options = TrainOptions.from_settings(RankerSettings(), seed=3, **SMALL)
    trained = train_and_register(settings, events_file=before, options=options, activate=True).registered
    untrained = _untrained(settings, vectors)
    copy_path = trained.path.with_name("copy.pt")
    shutil.copyfile(trained.path, copy_path)
    copy = registry.next_version(open_store(settings.store))
    registry.register(open_store(settings.store), copy, copy_path, {})
    _, shoppers = split_users(events_frame_from_file(whole), CUTOFF, catalog=set(vectors.ids))
    deps = ServiceDeps(settings, embedder=embedder)
    server, thread = ServerThread(create_app(settings, deps=deps), free_port()).start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}", timeout=60)
    yield settings, client, shoppers, trained.version, untrained, copy, whole
    client.close()
    server.should_exit = True
    thread.join(timeout=10)
    drop_index(settings)


def _experiment(settings, client, shoppers, name, control, treatment, mode="interleave", seed=1):
    start_experiment(settings, name, control, treatment, mode=mode)
    time.sleep(1.0)  # the service reads the running experiment every 0.2 s
    client.get(f"/v1/recommend/{shoppers[0].user_id}")  # starts the next read
    time.sleep(0.5)
    done = run_sessions(client, shoppers, SESSIONS, seed=seed, prices=catalog_items(settings))
    stop_experiment(settings, name)
    time.sleep(2.0)  # the impressions writer flushes every second
    return done, experiment_report(settings, name)


def test_interleaving_names_the_trained_ranker_and_finds_no_difference_between_copies(shop):
    settings, client, shoppers, trained, untrained, copy, _ = shop
    assert len(shoppers) >= 50
    done, report = _experiment(settings, client, shoppers, "trained-vs-untrained", untrained, trained)
    assert done["click"] > 0
    assert report.impressions >= SESSIONS * 0.9  # nearly every session was served under the experiment
    clicks = report.win_rates[0]
    assert report.winner_version == trained, (clicks, report.sessions_to_significance)
    assert clicks.p_value < 0.05 and clicks.low > 0.5 and report.sessions_to_significance <= SESSIONS

    _, same = _experiment(settings, client, shoppers, "copies", trained, copy, seed=2)
    assert same.impressions >= SESSIONS * 0.9
    assert same.winner is None and same.win_rates[0].p_value >= 0.05, same.win_rates[0]

    _, ab = _experiment(settings, client, shoppers, "ab-trained-vs-untrained", untrained, trained, mode="ab")
    assert set(ab.arms) == {"control", "treatment"} and min(ab.arms.values()) > SESSIONS // 4
    metrics = {m.metric: m for m in ab.ab}
    assert set(metrics) == {"click", "purchase", "revenue"}
    # revenue is the catalog's prices of what was bought (not a count of purchases)
    assert metrics["revenue"].treatment > 0 and metrics["revenue"].treatment != metrics["purchase"].treatment
    # The figures of docs/experiments.md (pytest -s prints them): the same shoppers, sessions and preference model.
    print(f"\ninterleaving: {clicks}, significant from {report.sessions_to_significance}\nA/A: {same.win_rates[0]}"
          f"\nA/B: {ab.arms} {ab.ab}, significant from {ab.sessions_to_significance}")  # fmt: skip


def test_a_vs_a_false_positive_rate_stays_near_alpha(shop):
    settings, client, shoppers, *_ = shop
    lists = {}
    for shopper in shoppers[:150]:  # what the active (trained) version serves each, recorded once
        body = client.get(f"/v1/recommend/{shopper.user_id}", params={"k": 10}).json()
        lists[shopper.user_id] = [r["id"] for r in body["results"]]
    rate = false_positive_rate(lists, shoppers, runs=100, sessions=SESSIONS)
    assert rate <= 0.12, rate  # alpha 0.05; 100 runs: above 0.12 has a chance under 0.5% when it is 0.05


def test_the_command_line_starts_runs_stops_and_reports_an_experiment(shop, monkeypatch, capsys, tmp_path):
    settings, client, shoppers, trained, untrained, _, whole = shop
    for name, value in {"STORE_URL": settings.store.url, "OPENSEARCH_URL": settings.opensearch.url,
                        "OPENSEARCH_INDEX_ALIAS": settings.opensearch.index_alias,
                        "STATE_DIR": str(settings.state_dir), "EXPERIMENTS_CHECK_S": "0.2"}.items():  # fmt: skip
        monkeypatch.setenv(f"RECSEARCH_{name}", value)
    out = tmp_path / "report.json"
    argv = ["--url", str(client.base_url), "--events", str(whole), "--cutoff", f"{CUTOFF:%Y-%m-%d}",
            "--sessions", "120", "--start", "cli-run", "--control", untrained, "--treatment", trained,
            "--json", str(out)]  # fmt: skip
    done = sim_shopper.main(argv)
    printed = capsys.readouterr().out
    report = done["report"]
    assert report.name == "cli-run" and report.state == "stopped" and report.impressions >= 120
    assert report.winner_version == trained and f"experiment cli-run: {trained} (treatment) is better" in printed
    assert json.loads(out.read_text())["impressions"] == report.impressions

    with pytest.raises(SystemExit) as exit_:  # a name used before: one line, nothing started
        sim_shopper.main(argv)
    assert exit_.value.code == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("sim_shopper: error: ") and "'cli-run' exists already" in line


def _stop_running(settings: Settings) -> None:
    found = running(open_store(settings.store))
    if found is not None:
        stop_experiment(settings, found.name)


#: The opensearch sink's mapping before online experiments (query_attributes without ``experiment``).
OLD_MAPPING = json.loads(json.dumps(UBI_QUERIES_MAPPING))
del OLD_MAPPING["properties"]["query_attributes"]["properties"]["experiment"]


def test_the_opensearch_sink_records_experiment_answers_in_an_index_made_before_experiments(shop):
    from fastapi.testclient import TestClient

    from ranker.service import create_app
    from ranker.service.deps import ServiceDeps

    settings, _, shoppers, trained, untrained, *_ = shop
    index = f"test-ubi-old-{uuid.uuid4().hex[:8]}"
    ubi = UbiSettings(sink="opensearch", index=index, flush_interval_s=0.05)
    service = settings.service.model_copy(update={"allowed_hosts": "testserver"})
    here = settings.model_copy(update={"ubi": ubi, "service": service})
    sink = OpenSearchImpressions(settings.opensearch, index)
    sink.client.indices.create(index=index, body={"mappings": OLD_MAPPING})
    try:
        start_experiment(here, "os-sink", untrained, trained)
        with TestClient(create_app(here, deps=ServiceDeps(here, embedder=HashEmbedder()))) as http:
            bodies = [http.get(f"/v1/recommend/{s.user_id}", params={"k": 10}).json() for s in shoppers[:8]]
            assert http.app.state.deps.impressions.flush(30)
        _stop_running(settings)
        mapping = sink.client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
        assert mapping["query_attributes"]["properties"]["experiment"] == {"type": "keyword"}  # added
        sink.refresh()
        docs = {d["_source"]["query_id"]: d["_source"] for d in
                sink.client.search(index=index, body={"size": 50})["hits"]["hits"]}  # fmt: skip
        for body in bodies:
            attributes = docs[body["query_id"]]["query_attributes"]
            assert attributes["experiment"] == "os-sink"
            assert len(attributes["placed_by"]) == len(body["results"])
            assert set(attributes["placed_by"]) == {trained, untrained}  # both teams placed items
        answers = sink.experiment_answers("os-sink")  # found by the term query on the added field
        assert set(answers) == {b["query_id"] for b in bodies}
        assert experiment_report(here, "os-sink").impressions == len(bodies)
    finally:
        _stop_running(settings)
        sink.client.indices.delete(index=index, ignore_unavailable=True)


def test_an_opensearch_sink_index_with_experiment_mapped_otherwise_is_one_clear_error(shop):
    settings, _, _, trained, untrained, *_ = shop
    index = f"test-ubi-text-{uuid.uuid4().hex[:8]}"
    mapping = json.loads(json.dumps(OLD_MAPPING))
    mapping["properties"]["query_attributes"]["properties"]["experiment"] = {"type": "text"}
    sink = OpenSearchImpressions(settings.opensearch, index)
    sink.client.indices.create(index=index, body={"mappings": mapping})
    try:
        with pytest.raises(ConfigError, match=f"index '{index}' .*maps query_attributes.experiment as text"):
            sink.ensure_index()
        here = settings.model_copy(update={"ubi": UbiSettings(sink="opensearch", index=index)})
        start_experiment(here, "os-text", untrained, trained)
        _stop_running(settings)
        with pytest.raises(ConfigError, match="set RECSEARCH_UBI_INDEX to a new index"):
            experiment_report(here, "os-text")
    finally:
        _stop_running(settings)
        sink.client.indices.delete(index=index, ignore_unavailable=True)
