"""The JSON schema of one enrichment answer, sent to backends that constrain decoding to it.

The category is an enum of the taxonomy and each attribute a list of its vocabulary's terms, so a constrained
model can only name values the field checks know how to verify (it can still name ones the item does not support:
grounding drops those). The description and keywords are free text with length limits, sized so that a whole
answer fits in the default token budget (``RECSEARCH_ENRICH_MAX_NEW_TOKENS``, 160).
"""

from __future__ import annotations

from typing import Any

from indexer.enrichment.taxonomy import Taxonomy
from indexer.enrichment.vocabulary import ATTRIBUTES

FIELDS = ("description", "category", "colour", "material", "size", "pattern", "occasion", "keywords")
MAX_KEYWORDS = 4


def answer_schema(taxonomy: Taxonomy) -> dict[str, Any]:
    """The schema of ``{"description", "category", <attributes as lists>, "keywords"}``, every key required."""
    properties: dict[str, Any] = {
        "description": {"type": "string", "maxLength": 200},
        "category": {"enum": [*taxonomy.terms, None]},
    }
    for name, vocabulary in ATTRIBUTES.items():
        properties[name] = {"type": "array", "items": {"enum": vocabulary.terms()}, "maxItems": 2}
    properties["keywords"] = {
        "type": "array",
        "items": {"type": "string", "maxLength": 24},
        "maxItems": MAX_KEYWORDS,
    }
    return {
        "type": "object",
        "properties": {k: properties[k] for k in FIELDS},
        "required": list(FIELDS),
        "additionalProperties": False,
    }
