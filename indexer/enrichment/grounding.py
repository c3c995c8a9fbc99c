"""Grounding: an LLM answer becomes an enrichment only if it parses and stays true to the item's own text.

Checks, in order (the first failure names the reason, and the item keeps its original text):

1. the answer holds a JSON object with a non-empty ``description`` (attributes flat or under ``attributes``);
2. the description is not degenerate (a copy of the title, or the same words looping);
3. the description asserts no colour or material that the source text does not name;
4. the description's embedding is at least ``threshold`` cosine-similar to the source text's (no drift).

Attributes are cleaned rather than rejected: a colour or material the source does not name is dropped, and so is
any value that merely repeats the whole title.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.embedding import Embedder
from core.errors import GroundingFailure

ATTRIBUTE_KEYS = ("category", "material", "colour", "style", "occasion")
MAX_KEYWORDS = 8

COLOURS = frozenset(
    [
        "red",
        "blue",
        "green",
        "yellow",
        "pink",
        "purple",
        "orange",
        "black",
        "white",
        "grey",
        "gray",
        "brown",
        "cream",
        "ivory",
        "gold",
        "silver",
        "beige",
        "turquoise",
        "teal",
        "navy",
        "lilac",
        "violet",
        "magenta",
        "aqua",
        "mint",
        "copper",
        "bronze",
        "rose",
        "lavender",
        "khaki",
    ]
)
MATERIALS = frozenset(
    [
        "wood",
        "wooden",
        "metal",
        "glass",
        "ceramic",
        "porcelain",
        "china",
        "paper",
        "cardboard",
        "card",
        "plastic",
        "fabric",
        "cotton",
        "linen",
        "wool",
        "felt",
        "leather",
        "silk",
        "zinc",
        "tin",
        "steel",
        "iron",
        "enamel",
        "wicker",
        "bamboo",
        "stone",
        "resin",
        "acrylic",
        "velvet",
        "lace",
        "jute",
        "hessian",
        "rubber",
        "silicone",
        "copper",
        "bronze",
    ]
)
_WORD = re.compile(r"[a-z]+")
_PAIR = re.compile(r'"(\w+)"\s*:\s*"((?:[^"\\]|\\.)*)"')
_KEYWORDS = re.compile(r'"keywords"\s*:\s*\[([^\]]*)')


@dataclass(frozen=True)
class Grounded:
    """A checked enrichment: a description and the attributes the source supports."""

    description: str
    attributes: dict[str, Any] = field(default_factory=dict)
    similarity: float = 0.0


def words(text: str) -> set[str]:
    """Lower-case words of ``text``, with a plural 's' also counted bare (``hearts`` supports ``heart``)."""
    found = set(_WORD.findall(text.lower()))
    return found | {w[:-1] for w in found if len(w) > 3 and w.endswith("s")}


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
    pairs = {k: v for k, v in _PAIR.findall(text)}
    keywords = _KEYWORDS.search(text)
    if keywords:
        pairs["keywords"] = re.findall(r'"([^"]+)"', keywords.group(1))
    if pairs.get("description"):
        return pairs
    raise GroundingFailure("the answer is not valid JSON")


def _clean_value(value: Any) -> str | None:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value if v)
    if value is None or isinstance(value, (dict, bool)):
        return None
    text = " ".join(str(value).split()).strip(" .")
    return None if text.lower() in ("", "null", "none", "n/a", "unknown", "not specified") else text[:80]


def clean_attributes(raw: dict[str, Any], source: str, title: str) -> dict[str, Any]:
    """The supported attributes of a parsed answer (flat or nested under ``attributes``)."""
    nested = raw.get("attributes") if isinstance(raw.get("attributes"), dict) else {}
    merged = {**raw, **nested}
    if "color" in merged and "colour" not in merged:
        merged["colour"] = merged["color"]
    src = words(source)
    out: dict[str, Any] = {}
    for key in ATTRIBUTE_KEYS:
        value = _clean_value(merged.get(key))
        if not value or value.lower() == title.lower():
            continue
        vocab = COLOURS if key == "colour" else MATERIALS if key == "material" else None
        if vocab is not None:
            named = words(value) & vocab
            if not named or not named <= src:  # a colour/material the source does not name is made up
                continue
        out[key] = value
    keywords = merged.get("keywords") or []
    if isinstance(keywords, str):
        keywords = keywords.split(",")
    seen: list[str] = []
    for k in keywords if isinstance(keywords, list) else []:
        k = _clean_value(k)
        if k and len(k) <= 40 and k.lower() != title.lower() and k.lower() not in seen:
            seen.append(k.lower())
    if seen:
        out["keywords"] = seen[:MAX_KEYWORDS]
    return out


def check_description(description: str, source: str, title: str) -> None:
    """Raise :class:`GroundingFailure` when the description is degenerate or asserts unsupported facts."""
    if not description:
        raise GroundingFailure("no description")
    norm = " ".join(_WORD.findall(description.lower()))
    if norm == " ".join(_WORD.findall(title.lower())):
        raise GroundingFailure("the description only repeats the title")
    tokens = norm.split()
    trigrams = [tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)]
    if trigrams and max(trigrams.count(t) for t in set(trigrams)) > 2:
        raise GroundingFailure("the description repeats itself")
    unsupported = (words(description) & (COLOURS | MATERIALS)) - words(source)
    if unsupported:
        raise GroundingFailure(
            f"the description asserts {', '.join(sorted(unsupported))}, which the source does not say"
        )


def ground_batch(
    answers: list[str], sources: list[str], titles: list[str], embedder: Embedder, threshold: float
) -> list[Grounded | GroundingFailure]:
    """Ground a batch of answers; the similarity check embeds all survivors in one ``encode`` call."""
    results: list[Grounded | GroundingFailure] = []
    pending: list[int] = []
    for i, (answer, source, title) in enumerate(zip(answers, sources, titles, strict=True)):
        try:
            raw = parse_answer(answer)
            value = raw.get("description")
            description = " ".join(value.split()) if isinstance(value, str) else ""
            check_description(description, source, title)
            results.append(Grounded(description[:600], clean_attributes(raw, source, title)))
            pending.append(i)
        except GroundingFailure as failure:
            results.append(failure)
    if pending:
        texts = [t for i in pending for t in (sources[i], results[i].description)]  # type: ignore[union-attr]
        vectors = embedder.encode(texts)
        for n, i in enumerate(pending):
            similarity = float(np.dot(vectors[2 * n], vectors[2 * n + 1]))
            if similarity < threshold:
                results[i] = GroundingFailure(
                    f"the description drifted from the source (similarity {similarity:.2f} < {threshold})"
                )
            else:
                g = results[i]
                results[i] = Grounded(g.description, g.attributes, similarity)  # type: ignore[union-attr]
    return results
