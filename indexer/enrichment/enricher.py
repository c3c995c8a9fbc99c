"""The enricher: items in, grounded LLM descriptions and attributes out, cached in the SQL store.

For each batch of items not in the cache the LLM answers once; answers that fail grounding are asked again (with
the rejection reason added to the conversation, since greedy decoding would repeat the same answer) up to
``attempts`` times, then dropped. Every outcome, accepted or dropped, is cached per batch, so a killed build loses
at most one batch of LLM work and an unchanged catalog calls no LLM at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.embedding import Embedder
from core.errors import GroundingFailure
from core.progress import ProgressFn
from indexer.catalog import Item
from indexer.enrichment.cache import CachedEnrichment, EnrichmentCache
from indexer.enrichment.grounding import Grounded, ground_batch
from indexer.enrichment.llm import LLM, Messages
from indexer.enrichment.prompt import PromptTemplate

RETRY_NOTE = (
    "That answer was rejected: {reason}. Answer again with one JSON object, using only facts in the product text."
)


@dataclass(frozen=True)
class Enrichment:
    """What enrichment made of one item. ``ok`` False means the original text stands alone."""

    item_id: str
    ok: bool
    description: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    prompt_version: str = ""
    reason: str = ""
    similarity: float = 0.0
    cached: bool = False


@dataclass
class EnrichStats:
    """Counters of one enrichment run."""

    cached: int = 0
    generated: int = 0
    accepted: int = 0
    rejected: int = 0
    llm_calls: int = 0


def enriched_text(item: Item, enrichment: Enrichment | None) -> str:
    """The text embedded for ``item``: its original text, plus the accepted enrichment when there is one."""
    base = item.text()
    if enrichment is None or not enrichment.ok:
        return base
    attrs = enrichment.attributes
    extra = [attrs.get(k) for k in ("category", "colour", "material", "style", "occasion") if attrs.get(k)]
    keywords = ", ".join(attrs.get("keywords") or [])
    parts = [base, enrichment.description, ", ".join(extra), keywords]
    return ". ".join(p.strip(" .") for p in parts if p and p.strip(" ."))


class Enricher:
    """Enriches items with one LLM and prompt, checking each answer against the item's own text."""

    def __init__(
        self,
        llm: LLM,
        embedder: Embedder,
        prompt: PromptTemplate,
        cache: EnrichmentCache | None = None,
        *,
        batch_size: int = 8,
        max_new_tokens: int = 96,
        threshold: float = 0.45,
        attempts: int = 2,
        json_schema: dict[str, Any] | None = None,
    ):
        self.llm, self.embedder, self.prompt, self.cache = llm, embedder, prompt, cache
        #: The answer's JSON schema, given to the backend to constrain generation (llama.cpp grammar, an
        #: endpoint's structured outputs); None asks nothing beyond the prompt.
        self.json_schema = json_schema
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        self.threshold = threshold
        self.attempts = max(1, attempts)
        self.stats = EnrichStats()

    def enrich(self, items: Sequence[Item], progress: ProgressFn | None = None) -> dict[str, Enrichment]:
        """The enrichment of every item, by item id (cache first, then the LLM in batches)."""
        hashes = {it.id: it.content_hash() for it in items}
        hits = self.cache.get_many(hashes.values()) if self.cache else {}
        out: dict[str, Enrichment] = {}
        todo: list[Item] = []
        for it in items:
            hit = hits.get(hashes[it.id])
            if hit is None:
                todo.append(it)
            else:
                out[it.id] = self._enrichment(it.id, hit, cached=True)
        self.stats.cached += len(out)
        if progress and out:
            progress(len(out), len(items))
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            outcomes = self._generate(batch)
            if self.cache:
                self.cache.put_many({hashes[it.id]: o for it, o in zip(batch, outcomes, strict=True)})
            for it, o in zip(batch, outcomes, strict=True):
                out[it.id] = self._enrichment(it.id, o, cached=False)
            if progress:
                progress(len(out), len(items))
        return out

    def _generate(self, batch: list[Item]) -> list[CachedEnrichment]:
        conversations: list[Messages] = [self.prompt.messages(it) for it in batch]
        results: list[Grounded | GroundingFailure] = [GroundingFailure("not generated")] * len(batch)
        pending = list(range(len(batch)))
        for attempt in range(self.attempts):
            asked = [conversations[i] for i in pending]
            if self.json_schema:
                answers = self.llm.generate(asked, self.max_new_tokens, json_schema=self.json_schema)
            else:
                answers = self.llm.generate(asked, self.max_new_tokens)
            self.stats.llm_calls += 1
            grounded = ground_batch(
                answers,
                [batch[i].text() for i in pending],
                [batch[i].title for i in pending],
                self.embedder,
                self.threshold,
            )
            still: list[int] = []
            for i, answer, result in zip(pending, answers, grounded, strict=True):
                results[i] = result
                if isinstance(result, GroundingFailure) and attempt + 1 < self.attempts:
                    conversations[i] = conversations[i] + [
                        {"role": "assistant", "content": answer[:400]},
                        {"role": "user", "content": RETRY_NOTE.format(reason=result.args[0])},
                    ]
                    still.append(i)
            pending = still
            if not pending:
                break
        self.stats.generated += len(batch)
        outcomes = []
        for r in results:
            if isinstance(r, Grounded):
                self.stats.accepted += 1
                outcomes.append(CachedEnrichment(True, r.description, r.attributes, "", r.similarity))
            else:
                self.stats.rejected += 1
                outcomes.append(CachedEnrichment(False, "", {}, str(r.args[0]), 0.0))
        return outcomes

    def _enrichment(self, item_id: str, o: CachedEnrichment, cached: bool) -> Enrichment:
        return Enrichment(
            item_id,
            o.ok,
            o.description,
            o.attributes,
            self.llm.name,
            self.prompt.version,
            o.reason,
            o.similarity,
            cached,
        )
