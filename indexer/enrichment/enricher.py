"""The enricher: items in, field-checked LLM descriptions and attributes out, cached in the SQL store.

For each batch of items not in the cache the LLM answers once (constrained to the answer's JSON schema where the
backend can, :mod:`.schema`); grounding (:mod:`.grounding`) keeps the fields the item's own text supports and
drops the rest. An answer with no usable field at all is asked again (with the reason added to the conversation,
since greedy decoding would repeat the same answer) up to ``attempts`` times, then dropped. Every outcome,
accepted or dropped, is cached per batch, so a killed build loses at most one batch of LLM work and an unchanged
catalog calls no LLM at all. The dropped fields of an accepted item are cached in its ``reason``, one per line.
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
from indexer.enrichment.schema import answer_schema
from indexer.enrichment.taxonomy import Taxonomy, taxonomy_for

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

    @property
    def dropped_fields(self) -> list[str]:
        """The fields of an accepted enrichment that grounding dropped, each ``"field 'value': why"``."""
        return [r for r in self.reason.split("\n") if r] if self.ok else []


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
    extra = []
    for key in ("category", "colour", "material", "size", "pattern", "occasion", "keywords"):
        value = attrs.get(key)
        extra.append(", ".join(value) if isinstance(value, list) else str(value or ""))
    parts = [base, enrichment.description, *extra]
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
        taxonomy: Taxonomy | None = None,
        taxonomy_file=None,
        constrained: bool = True,
    ):
        """``taxonomy`` None: the shop's own categories of the items enriched, else ``taxonomy_file`` (built-in
        product types by default). ``constrained``: pass the answer's JSON schema to the backend."""
        self.llm, self.embedder, self.prompt, self.cache = llm, embedder, prompt, cache
        self.taxonomy, self.taxonomy_file, self.constrained = taxonomy, taxonomy_file, constrained
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        self.threshold = threshold
        self.attempts = max(1, attempts)
        self.stats = EnrichStats()

    def enrich(self, items: Sequence[Item], progress: ProgressFn | None = None) -> dict[str, Enrichment]:
        """The enrichment of every item, by item id (cache first, then the LLM in batches)."""
        taxonomy = self.taxonomy or taxonomy_for(items, self.taxonomy_file)
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
            outcomes = self._generate(batch, taxonomy)
            if self.cache:
                self.cache.put_many({hashes[it.id]: o for it, o in zip(batch, outcomes, strict=True)})
            for it, o in zip(batch, outcomes, strict=True):
                out[it.id] = self._enrichment(it.id, o, cached=False)
            if progress:
                progress(len(out), len(items))
        return out

    def _generate(self, batch: list[Item], taxonomy: Taxonomy) -> list[CachedEnrichment]:
        conversations: list[Messages] = [self.prompt.messages(it, taxonomy.terms) for it in batch]
        schema = answer_schema(taxonomy) if self.constrained else None
        results: list[Grounded | GroundingFailure] = [GroundingFailure("not generated")] * len(batch)
        pending = list(range(len(batch)))
        for attempt in range(self.attempts):
            answers = self.llm.generate([conversations[i] for i in pending], self.max_new_tokens, json_schema=schema)
            self.stats.llm_calls += 1
            grounded = ground_batch(answers, [batch[i] for i in pending], taxonomy, self.embedder, self.threshold)
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
                notes = "\n".join(r.dropped)
                outcomes.append(CachedEnrichment(True, r.description, r.attributes, notes, r.similarity))
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
