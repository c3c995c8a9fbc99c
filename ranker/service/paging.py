"""Pages of a personalized search: every page a slice of one ordering.

The ordering of a search is the user's order of a FIXED window, the first ``RECSEARCH_SERVICE_CANDIDATES`` hits
retrieval gives (the same for every page), then retrieval's own order of the hits past it. Page ``offset``, ``k`` is
``ordering[offset : offset + k]``, so page 2 never repeats nor skips an item of page 1 (the plugin does the same
inside OpenSearch: docs/plugin.md). Past the window the hits come from a deeper retrieval, with the window's items
left out, so nothing of the window comes back there either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import InputError
from indexer.search import Hit
from ranker.service.ranking import RankedItem

#: OpenSearch's default ``index.max_result_window`` (and the k-NN query's largest ``k``): the deepest a page reaches.
MAX_DEPTH = 10_000


@dataclass(frozen=True)
class Page:
    """Where a page lies in the ordering: results [offset, offset + k) of a window of ``window`` hits."""

    offset: int
    k: int
    window: int

    @property
    def end(self) -> int:
        return self.offset + self.k

    @property
    def beyond_window(self) -> bool:
        """Whether the page reaches past the window (a deeper retrieval gives its tail)."""
        return self.end > self.window

    @property
    def ranked(self) -> int:
        """How many of the window's results the page needs in the user's order (the rest are only counted)."""
        return max(0, min(self.end, self.window))


def page_of(offset: int, k: int, window: int) -> Page:
    """The page, refused (naming ``offset``) when it reaches past :data:`MAX_DEPTH`."""
    if offset + k > MAX_DEPTH:
        raise InputError(
            f"offset + k must be at most {MAX_DEPTH} (OpenSearch's result window), got {offset + k}", field="offset"
        )
    return Page(offset, k, window)


def past_window(window_hits: Sequence[Hit], deeper_hits: Sequence[Hit]) -> list[Hit]:
    """The hits of the deeper retrieval that are not in the window, in retrieval order."""
    seen = {h.id for h in window_hits}
    return [h for h in deeper_hits if h.id not in seen]


def slice_ordering(ranked: Sequence[RankedItem], tail: Sequence[Hit], page: Page) -> list[RankedItem]:
    """Results [offset, offset + k) of the ordering: ``ranked`` (the window in the user's order, at least its first
    ``page.ranked``), then ``tail`` in retrieval order (``score = retrieval_score``, nothing personal moved them)."""
    head = list(ranked[: page.window])
    if page.end <= len(head):
        return head[page.offset : page.end]
    rest = [RankedItem(h.id, h.score, h.score) for h in tail[: page.end - len(head)]]
    return (head + rest)[page.offset : page.end]
