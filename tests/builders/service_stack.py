"""The real stack for the service's integration tests, built once per session: a small Online Retail catalog
indexed with the real MiniLM on the real node, real events in a real SQLite store, a registered ranker version,
and the service on a real uvicorn server in a thread."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from core.settings import OpenSearchSettings, ServiceSettings, Settings, StoreSettings
from tests.paths import DATA

#: The shopper who bought heart-shaped decorations; another who bought mugs.
HEART_USER, MUG_USER = "u-heart", "u-mug"


@dataclass
class Stack:
    settings: Settings
    url: str
    heart_items: list[str]
    mug_items: list[str]
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """A uvicorn server for ``app`` in a daemon thread (the pattern httpx's own tests use)."""

    def __init__(self, app, port: int):
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> tuple:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        return self.server, self.thread


def sample_catalog(path) -> tuple[list[str], list[str]]:
    """~300 Online Retail stock codes with the heart decorations and mugs among them, written to ``path``."""
    frame = pd.read_parquet(DATA)
    desc = frame["Description"].fillna("")
    hearts = frame.loc[desc.str.contains("HEART T-LIGHT|HEART DECORATION"), "StockCode"].unique().tolist()
    mugs = frame.loc[desc.str.contains(" MUG"), "StockCode"].unique().tolist()
    keep = set(frame["StockCode"].drop_duplicates().iloc[:250]) | set(hearts) | set(mugs[:40])
    frame[frame["StockCode"].isin(keep)].to_parquet(path)
    return [str(h).upper() for h in hearts], [str(m).upper() for m in mugs[:40]]


def register_model(settings: Settings, vectors, seed: int = 0, activate: bool = True) -> str:
    """A ranker version in the registry: a seeded, untrained network (training has its own tests) whose
    checkpoint goes through the real save, register, activate and load path; another ``seed``, another ranker (an
    experiment's second version). Returns the version."""
    import numpy as np
    import torch

    from core.store import open_store
    from ranker.model import registry
    from ranker.model.checkpoint import Checkpoint, save_checkpoint
    from ranker.model.features import FEATURE_NAMES
    from ranker.model.item_stats import ItemStats
    from ranker.model.network import AttentionRanker, RankerConfig

    torch.manual_seed(seed)
    config = RankerConfig(item_dim=vectors.dim, num_features=len(FEATURE_NAMES), feature_names=FEATURE_NAMES)
    model = AttentionRanker(config).eval()
    stats = ItemStats.fit({i: 1.0 for i in vectors.ids[:50]}, np.asarray(vectors.prices))
    engine = open_store(settings.store)
    version = registry.next_version(engine)
    path = save_checkpoint(Checkpoint(model, version, stats), settings.state_dir / "models" / f"{version}.pt")
    registry.register(engine, version, path, {"ndcg@10": 0.0}, activate=activate)
    return version


def build_stack(tmp_dir, node_url: str, embedder, **opensearch) -> Stack:
    """``opensearch``: further OpenSearch settings (a cluster's shards and replicas)."""
    from core.store import open_store
    from indexer import api
    from ranker.feedback.events import EventIn
    from ranker.feedback.profiles import ProfileStore
    from ranker.model.item_vectors import ItemVectors
    from ranker.service import create_app

    alias = f"test-service-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        opensearch=OpenSearchSettings(url=node_url, index_alias=alias, bulk_chunk_size=200, **opensearch),
        store=StoreSettings(url=f"sqlite:///{tmp_dir / 'store.db'}"),
        # A generous profile deadline: a loaded test machine must not turn a slow read into a fallback.
        service=ServiceSettings(profile_deadline_ms=5000),
        state_dir=tmp_dir / "state",
    )
    catalog = tmp_dir / "catalog.parquet"
    hearts, mugs = sample_catalog(catalog)
    api.build_from_catalog(settings, catalog, embedder=embedder)
    vectors = ItemVectors.from_index(settings)
    hearts = [h for h in hearts if h in vectors][:6]
    mugs = [m for m in mugs if m in vectors][:6]
    store = ProfileStore(open_store(settings.store), settings)
    start = datetime(2011, 11, 1)
    events = [
        EventIn(user_id=HEART_USER, item_id=h, type="purchase", ts=start + timedelta(days=n))
        for n, h in enumerate(hearts)
    ]
    events += [EventIn(user_id=MUG_USER, item_id=m, type="purchase", ts=start + timedelta(days=n))
               for n, m in enumerate(mugs)]  # fmt: skip
    store.ingest(events)
    register_model(settings, vectors)
    server, thread = ServerThread(create_app(settings, warm=True), free_port()).start()
    url = f"http://127.0.0.1:{server.config.port}"
    return Stack(settings, url, hearts, mugs, server, thread)


def drop_index(settings: Settings) -> None:
    from core.opensearch.client import make_client

    make_client(settings.opensearch).indices.delete(
        index=f"{settings.opensearch.index_alias}-v*", ignore_unavailable=True, allow_no_indices=True
    )
