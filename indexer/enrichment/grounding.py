"""Grounding: every field of an LLM answer is checked against the item's own text; a field that fails is dropped.

The source is what the shop wrote: title, description, category and any other details of the item. Checks, field
by field (each drop is recorded as ``"field 'value': why"`` in :attr:`Grounded.dropped`):

- **category**: a term of the taxonomy (:mod:`.taxonomy`), and supported: the item's own category when the shop
  has categories, else one of the term's cue words named in the source;
- **colour, material, size, pattern, occasion**: each value must name a term of that attribute's vocabulary
  (:mod:`.vocabulary`: plural, grey/gray and other synonyms normalised), and the source (or the accepted category)
  must name the same term; values are stored as canonical terms (``"Gray"`` -> ``grey``);
- **keywords**: every word but stop words must be in the source, the accepted category or an accepted attribute
  (``lane`` for a ``LANTERN`` is dropped; ``cake stand`` for ``CAKESTAND`` is kept);
- **description**: not a copy of the title or a loop; names no colour, material or product type the source does
  not name, and no other word that neither the source nor an accepted field says (a short list of filler words
  such as "perfect" or "decorative" aside: ``removable LED light`` for an alarm clock fails); names the product
  type the source names (``A white metal lane.`` for a lantern fails); and its
  embedding at least ``threshold`` cosine-similar to the source's (no drift).

An answer becomes an enrichment when at least one field survives; one that is not JSON, or whose every field
fails, is a :class:`GroundingFailure` naming why. The original text is always indexed beside what survives.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from core.embedding import Embedder
from core.errors import GroundingFailure
from indexer.catalog import Item
from indexer.enrichment.schema import MAX_KEYWORDS
from indexer.enrichment.taxonomy import Taxonomy, load_taxonomy
from indexer.enrichment.vocabulary import (
    ATTRIBUTES,
    COLOURS,
    FILLER,
    MATERIALS,
    STOPWORDS,
    tokens,
    word_supported,
)

ATTRIBUTE_KEYS = ("category", *ATTRIBUTES)
ALIASES = {"color": "colour", "style": "pattern", "colours": "colour", "materials": "material", "patterns": "pattern"}
_PAIR = re.compile(r'"(\w+)"\s*:\s*"((?:[^"\\]|\\.)*)"')
_LISTS = re.compile(r'"(\w+)"\s*:\s*\[([^\]]*)')


@dataclass(frozen=True)
class Grounded:
    """The fields of an answer that the source supports, and the ones dropped (``"field 'value': why"``)."""

    description: str
    attributes: dict[str, Any] = field(default_factory=dict)
    similarity: float = 0.0
    dropped: tuple[str, ...] = ()


def source_text(item: Item) -> str:
    """Everything the shop wrote about ``item``: its text plus the values of its other details."""
    details = " ".join(str(v) for v in item.attributes.values() if isinstance(v, (str, int, float)))
    return f"{item.text()} {details}".strip()


def parse_answer(answer: str) -> dict[str, Any]:
    """The first JSON object in ``answer`` (code fences, prose around it and trailing commas tolerated)."""
    start = answer.find("{")
    if start < 0:
        raise GroundingFailure("no JSON object in the answer")
    text = answer[start:]
    decoder = json.JSONDecoder()
    for candidate in (text, re.sub(r",\s*([}\]])", r"\1", text)):
        try:
            value, _ = decoder.raw_decode(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    # An answer cut off by the token limit still holds its first complete "key": "value" pairs; keep those.
    pairs: dict[str, Any] = {k: v for k, v in _PAIR.findall(text)}
    for key, body in _LISTS.findall(text):
        pairs[key] = re.findall(r'"([^"]+)"', body)
    if pairs:
        return pairs
    raise GroundingFailure("the answer is not valid JSON")


def _values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for v in items:
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            text = " ".join(str(v).split()).strip(" .")
            if text and text.lower() not in ("null", "none", "n/a", "unknown", "not specified"):
                out.append(text[:80])
    return out


@lru_cache(maxsize=1)
def product_words() -> frozenset[str]:
    """Words that name a product type: the built-in taxonomy's one-word cues and the head noun of the others, less
    its ``context`` words (uses and themes such as kitchen or party)."""
    builtin = load_taxonomy()
    heads = {phrase[-1] for phrases in builtin.vocabulary.phrases.values() for phrase in phrases if phrase}
    return frozenset(heads - builtin.context)


def check_description(description: str, source: str, title: str) -> None:
    """Raise :class:`GroundingFailure` when the description is degenerate or asserts what the source does not."""
    if not description:
        raise GroundingFailure("no description")
    said, src = tokens(description), tokens(source)
    if said == tokens(title):
        raise GroundingFailure("it only repeats the title")
    trigrams = [tuple(said[i : i + 3]) for i in range(len(said) - 2)]
    if trigrams and max(trigrams.count(t) for t in set(trigrams)) > 2:
        raise GroundingFailure("it repeats itself")
    unsupported = [t for v in (COLOURS, MATERIALS) for t in v.named_in(said) if t not in v.named_in(src)]
    unsupported += [w for w in dict.fromkeys(said) if w in product_words() and not word_supported(w, src)]
    if unsupported:
        raise GroundingFailure(f"it says {', '.join(unsupported)}, which the source does not")
    unsupported = [w for w in dict.fromkeys(said) if w not in FILLER and not word_supported(w, src) and not w.isdigit()]
    if unsupported:  # "removable LED light" for an alarm clock: a claim nobody can check
        raise GroundingFailure(f"it says {', '.join(unsupported)}, which the source does not")
    named = [w for w in dict.fromkeys(src) if w in product_words()]
    if named and not any(word_supported(w, said) or w in said for w in named):
        raise GroundingFailure(f"it does not name the product ({', '.join(named)})")


def verify_fields(raw: dict[str, Any], item: Item, taxonomy: Taxonomy) -> tuple[str, dict[str, Any], list[str]]:
    """The description (unchecked for drift), the supported attributes and the dropped fields of one answer."""
    nested = raw.get("attributes") if isinstance(raw.get("attributes"), dict) else {}
    merged: dict[str, Any] = {}
    for key, value in {**raw, **nested}.items():
        merged.setdefault(ALIASES.get(key, key), value)
    source = source_text(item)
    support = tokens(source)
    attrs: dict[str, Any] = {}
    dropped: list[str] = []

    for value in _values(merged.get("category"))[:1]:
        term = taxonomy.find(value)
        if term is None:
            dropped.append(f"category '{value}': not in the taxonomy")
        elif not taxonomy.supported(term, item):
            dropped.append(f"category '{term}': the source does not name it")
        else:
            attrs["category"] = term
            support = support + tokens(term)

    for name, vocabulary in ATTRIBUTES.items():
        named_in_source = vocabulary.named_in(support)
        kept: list[str] = []
        for value in _values(merged.get(name)):
            terms = vocabulary.named_in(tokens(value))
            if not terms:
                dropped.append(f"{name} '{value}': not a known {name}")
            for term in terms:
                if term not in named_in_source:
                    dropped.append(f"{name} '{term}': the source does not say it")
                elif term not in kept:
                    kept.append(term)
        if kept:
            attrs[name] = kept

    allowed = set(support) | {w for k in ATTRIBUTES for t in attrs.get(k, []) for w in tokens(t)}
    title = tokens(item.title)
    keywords: list[str] = []
    for value in _values(merged.get("keywords")):
        said = [w for w in tokens(value) if w not in STOPWORDS]
        missing = [w for w in said if not word_supported(w, allowed)]
        if missing:
            dropped.append(f"keywords '{value}': the source does not say {', '.join(missing)}")
        elif said and tokens(value) != title and value.lower() not in keywords:
            keywords.append(value.lower())
    if keywords:
        attrs["keywords"] = keywords[:MAX_KEYWORDS]

    description = " ".join(merged["description"].split()) if isinstance(merged.get("description"), str) else ""
    if description:
        try:
            accepted = " ".join(str(v) for vs in attrs.values() for v in (vs if isinstance(vs, list) else [vs]))
            check_description(description, f"{source} {accepted}", item.title)
        except GroundingFailure as failure:
            dropped.append(f"description: {failure.args[0]}")
            description = ""
    return description[:600], attrs, list(dict.fromkeys(dropped))


def ground_batch(
    answers: list[str], items: list[Item], taxonomy: Taxonomy, embedder: Embedder, threshold: float
) -> list[Grounded | GroundingFailure]:
    """Verify a batch of answers field by field; the drift check embeds all surviving descriptions at once."""
    results: list[Grounded | GroundingFailure] = []
    for answer, item in zip(answers, items, strict=True):
        try:
            description, attrs, dropped = verify_fields(parse_answer(answer), item, taxonomy)
            results.append(Grounded(description, attrs, 0.0, tuple(dropped)))
        except GroundingFailure as failure:
            results.append(failure)
    pending = [i for i, r in enumerate(results) if isinstance(r, Grounded) and r.description]
    if pending:
        texts = [t for i in pending for t in (source_text(items[i]), results[i].description)]  # type: ignore[union-attr]
        vectors = embedder.encode(texts)
        for n, i in enumerate(pending):
            g = results[i]
            assert isinstance(g, Grounded)
            similarity = float(np.dot(vectors[2 * n], vectors[2 * n + 1]))
            if similarity < threshold:
                note = f"description: it drifted from the source (similarity {similarity:.2f} < {threshold})"
                results[i] = Grounded("", g.attributes, similarity, (*g.dropped, note))
            else:
                results[i] = Grounded(g.description, g.attributes, similarity, g.dropped)
    for i, r in enumerate(results):
        if isinstance(r, Grounded) and not r.description and not r.attributes:
            results[i] = GroundingFailure("; ".join(r.dropped) or "the answer has no usable field")
    return results
