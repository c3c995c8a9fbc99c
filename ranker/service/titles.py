"""Item titles for explanations, kept in memory so a warm /v1/rerank makes no extra OpenSearch call."""

from __future__ import annotations

from collections.abc import Sequence

from ranker.service.ports import SearchIndex


class TitleCache:
    """Item titles for explanations, kept in memory so a warm /v1/rerank makes no extra OpenSearch call."""

    def __init__(self, index: SearchIndex, max_size: int = 200_000):
        self.index = index
        self.max_size = max_size
        self._titles: dict[str, str] = {}

    def titles(self, ids: Sequence[str]) -> dict[str, str]:
        """Titles of ``ids`` (unknown ids map to an empty string)."""
        missing = [i for i in dict.fromkeys(ids) if i not in self._titles]
        if missing:
            found = self.index.items(missing)
            if len(self._titles) + len(missing) > self.max_size:
                self._titles.clear()
            for i in missing:
                self._titles[i] = found[i].title if i in found else ""
        return {i: self._titles.get(i, "") for i in ids}
