"""A synthetic shop where the right answer is known: users buy only from their own cluster of similar items."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranker.model.item_vectors import ItemVectors


def clustered_shop(
    users: int = 160, clusters: int = 8, per_cluster: int = 15, baskets: int = 8, dim: int = 16, seed: int = 0
) -> tuple[pd.DataFrame, ItemVectors]:
    """Events (events frame columns) and item vectors. Item popularity is uniform, so only the user's
    history can tell which items come next."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim))
    vectors = np.repeat(centers, per_cluster, axis=0) + 0.3 * rng.normal(size=(clusters * per_cluster, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"c{c}-{i}" for c in range(clusters) for i in range(per_cluster)]
    items = ItemVectors.from_arrays(ids, vectors.astype(np.float32), ids, [1.0 + i % 5 for i in range(len(ids))])
    rows = []
    start = pd.Timestamp("2024-01-01")
    for u in range(users):
        cluster = u % clusters
        offset = rng.uniform(0, 20)
        for b in range(baskets):
            ts = (start + pd.Timedelta(days=offset + b * 10 + rng.uniform(0, 5))).floor("s")
            for i in rng.choice(per_cluster, size=2, replace=False):
                rows.append((str(u), ids[cluster * per_cluster + i], "purchase", ts, 1.0, 1.0, True))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "type", "ts", "quantity", "value", "in_catalog"])
    frame["ts"] = frame["ts"].astype("datetime64[ns]")
    return frame.sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True), items
