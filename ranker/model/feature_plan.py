"""A checkpoint's scalar features for one user at serving time, each computed where its inputs change.

Every value comes out of the same function of :data:`ranker.model.features.FEATURES` that training calls; only
when it is computed differs:

- item features (:data:`~ranker.model.features.ITEM_FEATURES`: popularity, price, trend, ...) read the candidate's
  own row of the item statistics and nothing else: computed for every row of the item table when the scorer loads,
  a request gathers its candidates' rows (one numpy call instead of a dozen);
- user features (:data:`~ranker.model.features.USER_FEATURES`) have one value per history: computed with the user's
  state (:mod:`ranker.model.user_state`) and reused until the history changes;
- the rest (retrieval, repeat, co-occurrence, sequence scores) per request, from the user's grouped history and
  the history's co-occurrence sums with every item (:meth:`FeaturePlan.cooc_table`), where a request gathered its
  candidates' (history x candidates) cells from the 30 MB count table (cache misses: ~30-100 us a request).

At these sizes (100 candidates, 14 features) numpy's per-call overhead, not arithmetic, is the cost.
"""

from __future__ import annotations

import numpy as np

from core.ranges import range_positions
from ranker.model.features import (
    COOC_HALF_LIFE_DAYS,
    FEATURES,
    ITEM_FEATURES,
    USER_FEATURES,
    FeatureInputs,
    HistoryGroups,
    decay,
)
from ranker.model.item_stats import AlignedStats


class FeaturePlan:
    """The features ``names`` (a checkpoint's, in its input order) over the item statistics ``stats``."""

    def __init__(self, names: tuple[str, ...], stats: AlignedStats):
        self.names, self.stats = names, stats
        self._item_cols = [j for j, n in enumerate(names) if n in ITEM_FEATURES]
        self._user_cols = [j for j, n in enumerate(names) if n in USER_FEATURES]
        self._request = [(j, FEATURES[n]) for j, n in enumerate(names) if n not in ITEM_FEATURES | USER_FEATURES]
        # Row r of the table is item row r; the last row is the unknown item (row -1), as in the statistics.
        rows = np.arange(len(stats.popularity))[None]
        everyone = FeatureInputs(np.zeros(rows.shape), rows, *_no_history(), stats)
        self._items = np.empty((rows.shape[1], len(self._item_cols)), dtype=np.float32)
        for k, j in enumerate(self._item_cols):
            self._items[:, k] = FEATURES[names[j]](everyone)[0]
        # The co-occurrence features' counts as the request path reads them: from the float16 dense table when the
        # statistics keep one (so the same rounding of counts above 2,048), else from the sparse matrix.
        self._cooc_sums = bool({"cooc", "cooc_recent"} & set(names)) and stats.cooc_dense is not None
        if self._cooc_sums:
            self._cooc_counts = stats.cooc.data.astype(np.float16).astype(np.float32)

    def user_values(self, hist_rows: np.ndarray) -> np.ndarray:
        """The user features of the history at item rows ``hist_rows`` (H,) (the feature window, all real)."""
        h = len(hist_rows)
        x = FeatureInputs(np.zeros((1, 1)), np.zeros((1, 1), dtype=np.int64), hist_rows[None],
                          np.ones((1, h), dtype=bool), np.zeros((1, h)), self.stats)  # fmt: skip
        values = [np.asarray(FEATURES[self.names[j]](x)).reshape(-1)[0] for j in self._user_cols]
        return np.asarray(values, dtype=np.float32)

    def cooc_table(self, hist_rows: np.ndarray, age_days: np.ndarray) -> np.ndarray | None:
        """(2, N + 1) float32: the history's co-occurrence counts with every item of the table summed over its
        events (item rows ``hist_rows`` (H,)), once as they are and once each weighted by ``decay(age_days)``, its
        ages (H,) at the history's newest event; a request scales the second by the decay of that event's age
        (0.5^((a + b) / h) = 0.5^(a / h) * 0.5^(b / h)). None when the model has no co-occurrence feature or the
        catalog is too large for a dense table (the request then sums its candidates' cells)."""
        if not self._cooc_sums:
            return None
        m = self.stats.cooc
        starts, lengths = m.indptr[hist_rows], m.indptr[hist_rows + 1] - m.indptr[hist_rows]
        at = range_positions(starts, lengths)
        cols, counts = m.indices[at], self._cooc_counts[at]  # every (history event, neighbour) entry
        out = np.empty((2, m.shape[1]), dtype=np.float32)
        out[0] = np.bincount(cols, weights=counts, minlength=m.shape[1])
        recent = np.repeat(decay(age_days, COOC_HALF_LIFE_DAYS), lengths)
        out[1] = np.bincount(cols, weights=counts * recent, minlength=m.shape[1])
        return out

    def features(
        self,
        retrieval: np.ndarray,
        cand_rows: np.ndarray,
        hist_rows: np.ndarray,
        age_days: np.ndarray,
        groups: HistoryGroups,
        user_values: np.ndarray,
        sequence_scores: np.ndarray | None,
        cooc_sums: np.ndarray | None = None,
    ) -> np.ndarray:
        """(C, F) float32 features of the candidates at item rows ``cand_rows`` (C,) (-1: unknown) with retrieval
        scores ``retrieval`` (C,), for the history at ``hist_rows`` (H,) with ``age_days`` (H,), its
        :func:`~ranker.model.features.group_history` and :meth:`user_values`; ``sequence_scores`` (C,) or None;
        ``cooc_sums`` (2, C) the co-occurrence sums from :meth:`cooc_table` (None: summed here)."""
        out = np.empty((len(cand_rows), len(self.names)), dtype=np.float32)
        if self._item_cols:
            out[:, self._item_cols] = self._items[cand_rows]
        if self._user_cols:
            out[:, self._user_cols] = user_values
        x = FeatureInputs(retrieval[None], cand_rows[None], hist_rows[None], np.ones((1, len(hist_rows)), dtype=bool),
                          age_days[None], self.stats, groups=groups,
                          cooc_sums=None if cooc_sums is None else cooc_sums[:, None],
                          sequence_scores=None if sequence_scores is None else sequence_scores[None])  # fmt: skip
        for j, feature in self._request:
            out[:, j] = feature(x)[0]
        return out


def _no_history() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros((1, 0), dtype=np.int64), np.zeros((1, 0), dtype=bool), np.zeros((1, 0))
