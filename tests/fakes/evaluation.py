"""Small in-memory stand-ins for the evaluation's outside dependencies (the OpenSearch index)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranker.evaluation.catalog import IndexSnapshot


def make_catalog(texts: dict[str, str], embedder) -> IndexSnapshot:
    ids = list(texts)
    return IndexSnapshot(ids, [texts[i] for i in ids], embedder.encode([texts[i] for i in ids]))


class FakeSearch:
    """Brute-force k-NN and a word-overlap 'BM25' over a :class:`IndexSnapshot`; like the real searches, neither
    returns an item marked not recommendable."""

    def __init__(self, catalog: IndexSnapshot):
        self.catalog = catalog

    def _top(self, scores, k, skip):
        order = np.argsort(-scores, kind="stable")
        ok, ids, skip = self.catalog.recommendable, self.catalog.ids, set(skip)
        return [(ids[i], float(scores[i])) for i in order if ok[i] and ids[i] not in skip][:k]

    def knn_ids(self, vector, k, exclude):
        return [item for item, _ in self.knn([np.asarray(vector)], k, [exclude])[0]]

    def knn(self, vectors, k, exclude):
        return [self._top(self.catalog.vectors @ v, k, skip) for v, skip in zip(vectors, exclude, strict=True)]

    def _overlap(self, text):
        words = set(text.lower().split())
        return np.array([len(words & set(t.lower().split())) for t in self.catalog.texts], dtype=float)

    def bm25(self, texts, k, exclude):
        out = []
        for text, skip in zip(texts, exclude, strict=True):
            scores = self._overlap(text)
            out.append([(i, s) for i, s in self._top(scores, k, skip) if s > 0])
        return out

    def bm25_scores(self, text, ids):
        scores = dict(zip(self.catalog.ids, self._overlap(text), strict=True))
        return {i: scores[i] for i in ids if scores[i] > 0}


def events(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """(user, item, ISO time) rows as an events frame."""
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    frame["ts"] = pd.to_datetime(frame["ts"])
    frame["type"] = "purchase"
    return frame.sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)
