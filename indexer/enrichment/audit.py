"""The truth audit: an enrichment run scored against claims a careful reader accepts for each item.

A truth file is JSONL, one item per line: ``id``, ``title`` (the item text), and the labels: ``category`` (the
acceptable taxonomy terms), ``colour``, ``material``, ``size``, ``pattern``, ``occasion`` (the vocabulary terms
the title supports; empty when none) and ``keyword_words`` (words a keyword may use besides the title's).
``bench/data/enrichment_truth.jsonl`` is the project's (105 Online Retail items; its README says how it was made).

Every accepted claim is judged against the labels:

- the category is right when it is one of the acceptable terms; an attribute value when it is labelled;
- a keyword when each of its words is the title's, a ``keyword_words`` word, or a word of a label;
- the description (one claim) when its colours and materials are labelled and every other word is allowed (the
  title's, a keyword word, a label's) or filler (``perfect``, ``decorative``: no checkable fact).

Scores: **precision** (right accepted claims / accepted claims; the goal is >= 0.95), **recall** of the labelled
category and attribute values (found among the accepted ones), **usable** (share of items with at least one right
accepted claim), and the same per field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.progress import ProgressFn
from indexer.catalog import Item
from indexer.enrichment.enricher import Enricher, Enrichment
from indexer.enrichment.vocabulary import ATTRIBUTES, COLOURS, FILLER, MATERIALS, STOPWORDS, tokens, word_supported

LABELS = ("category", *ATTRIBUTES)
FIELDS = ("description", *LABELS, "keywords")
GOAL_PRECISION = 0.95


@dataclass(frozen=True)
class TruthItem:
    """One labelled item."""

    id: str
    title: str
    labels: dict[str, frozenset[str]]
    keyword_words: frozenset[str]

    def allowed_words(self) -> set[str]:
        """Words any claim may use: the title's, the extra keyword words, and the words of every label."""
        words = set(tokens(self.title)) | set(self.keyword_words)
        for values in self.labels.values():
            words |= {w for v in values for w in tokens(v)}
        return words


def load_truth(path: Path) -> list[TruthItem]:
    """The labelled items of a truth file; a bad line is an :class:`InputError` naming file, line and field."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"cannot read truth file: {e.strerror}", path=str(path)) from None
    out: list[TruthItem] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"not JSON: {e.msg}", path=str(path), line=number) from None
        if not isinstance(row, dict):
            raise InputError("not a JSON object", path=str(path), line=number)
        for key in ("id", "title"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise InputError("missing or empty text", path=str(path), line=number, field=key)
        for key in (*LABELS, "keyword_words"):
            value = row.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InputError("must be a list of strings", path=str(path), line=number, field=key)
        labels = {k: frozenset(v.lower() for v in row.get(k, [])) for k in LABELS}
        kw = frozenset(w for v in row.get("keyword_words", []) for w in tokens(v))
        out.append(TruthItem(row["id"], row["title"], labels, kw))
    if not out:
        raise InputError("no labelled items", path=str(path))
    return out


@dataclass
class FieldScore:
    """Counts for one field: accepted claims, the right ones, labelled values and the ones found."""

    accepted: int = 0
    correct: int = 0
    labelled: int = 0
    found: int = 0

    @property
    def precision(self) -> float | None:
        return self.correct / self.accepted if self.accepted else None

    @property
    def recall(self) -> float | None:
        return self.found / self.labelled if self.labelled else None


@dataclass
class AuditReport:
    """The scores of one run, per field, and each item's judged claims."""

    model: str
    prompt_version: str
    items: int
    fields: dict[str, FieldScore] = field(default_factory=lambda: {f: FieldScore() for f in FIELDS})
    usable_items: int = 0
    details: list[dict[str, Any]] = field(default_factory=list)

    def _total(self, attr: str, fields: Sequence[str] = FIELDS) -> int:
        return sum(getattr(self.fields[f], attr) for f in fields)

    @property
    def precision(self) -> float | None:
        accepted = self._total("accepted")
        return self._total("correct") / accepted if accepted else None

    @property
    def recall(self) -> float | None:
        labelled = self._total("labelled", LABELS)
        return self._total("found", LABELS) / labelled if labelled else None

    @property
    def usable(self) -> float:
        return self.usable_items / self.items if self.items else 0.0

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON (scores rounded to 4 places)."""

        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {
            "model": self.model,
            "prompt_version": self.prompt_version,
            "items": self.items,
            "precision": r(self.precision),
            "recall": r(self.recall),
            "usable": r(self.usable),
            "goal_precision": GOAL_PRECISION,
            "fields": {
                f: {**asdict(s), "precision": r(s.precision), "recall": r(s.recall)} for f, s in self.fields.items()
            },
            "details": self.details,
        }


def _description_right(description: str, truth: TruthItem, allowed: set[str]) -> bool:
    said = tokens(description)
    for vocabulary, labels in ((COLOURS, truth.labels["colour"]), (MATERIALS, truth.labels["material"])):
        if any(t not in labels for t in vocabulary.named_in(said)):
            return False
    return all(word_supported(w, allowed) for w in said if w not in FILLER and not w.isdigit())


def judge(truth: TruthItem, enrichment: Enrichment | None) -> list[tuple[str, str, bool]]:
    """Each accepted claim of ``enrichment`` as (field, value, right)."""
    if enrichment is None or not enrichment.ok:
        return []
    allowed = truth.allowed_words()
    claims: list[tuple[str, str, bool]] = []
    if enrichment.description:
        claims.append(
            ("description", enrichment.description, _description_right(enrichment.description, truth, allowed))
        )
    attrs = enrichment.attributes
    if attrs.get("category"):
        claims.append(("category", attrs["category"], attrs["category"].lower() in truth.labels["category"]))
    for name in ATTRIBUTES:
        values = attrs.get(name) or []
        for v in [values] if isinstance(values, str) else values:
            claims.append((name, v, v.lower() in truth.labels[name]))
    for k in attrs.get("keywords") or []:
        words = [w for w in tokens(k) if w not in STOPWORDS]
        claims.append(("keywords", k, bool(words) and all(word_supported(w, allowed) for w in words)))
    return claims


def score(truth: Sequence[TruthItem], enrichments: dict[str, Enrichment], model: str = "", version: str = ""):
    """The :class:`AuditReport` of ``enrichments`` (by item id) against ``truth``."""
    report = AuditReport(model, version, len(truth))
    for t in truth:
        e = enrichments.get(t.id)
        claims = judge(t, e)
        for name, _, right in claims:
            report.fields[name].accepted += 1
            report.fields[name].correct += right
        right_values = {(name, value.lower()) for name, value, right in claims if right}
        for name in LABELS:
            labels = t.labels[name]
            if name == "category":
                report.fields[name].labelled += bool(labels)
                report.fields[name].found += any((name, v) in right_values for v in labels)
            else:
                report.fields[name].labelled += len(labels)
                report.fields[name].found += sum((name, v) in right_values for v in labels)
        report.usable_items += any(right for _, _, right in claims)
        report.details.append(
            {
                "id": t.id,
                "title": t.title,
                "status": "none" if e is None else "enriched" if e.ok else "rejected",
                "claims": [{"field": n, "value": v, "right": r} for n, v, r in claims],
                "dropped": e.dropped_fields if e else [],
                "reason": "" if e is None or e.ok else e.reason,
            }
        )
    return report


def run_audit(enricher: Enricher, truth: Sequence[TruthItem], progress: ProgressFn | None = None) -> AuditReport:
    """Enrich the labelled items (through the enricher's grounding and cache) and score the outcome."""
    items = [Item(t.id, t.title) for t in truth]
    enrichments = enricher.enrich(items, progress)
    return score(truth, enrichments, enricher.llm.name, enricher.prompt.version)
