"""The category taxonomy enrichment chooses from: the shop's own categories, or a built-in product-type list.

When the catalog has categories (the catalog reader maps a ``category`` column), those are the taxonomy, and an
item that has one may only be given that one. Otherwise the taxonomy is ``data/product_types.toml`` (or the file
``RECSEARCH_ENRICH_TAXONOMY_FILE`` names): generic product types, each with the cue words that name it in a title.
Either way the category is an enum in the JSON schema, so a constrained model can only pick a listed term, and a
term is accepted only when the item's own text names one of its cues.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from indexer.catalog import Item
from indexer.enrichment.vocabulary import Vocabulary, tokens

BUILTIN = Path(__file__).parent / "data" / "product_types.toml"


@dataclass(frozen=True)
class Taxonomy:
    """Category terms with their cue phrases; ``own`` when they are the catalog's own categories."""

    vocabulary: Vocabulary
    own: bool = False
    source: str = ""
    #: cue words that name a use or theme, not a product type (the description check lets them pass)
    context: frozenset[str] = frozenset()

    @property
    def terms(self) -> list[str]:
        """The category terms, in file (or first-seen) order."""
        return self.vocabulary.terms()

    def find(self, value: str) -> str | None:
        """The term ``value`` names exactly (case and plural aside), or None."""
        norm = tokens(value)
        for term in self.terms:
            if tokens(term) == norm:
                return term
        return None

    def supported(self, term: str, item: Item) -> bool:
        """True when ``item``'s own text supports ``term``: its own category when it has one (shop taxonomy),
        else a cue of the term named in its text."""
        if self.own and item.category:
            return tokens(item.category) == tokens(term)
        return term in self.vocabulary.named_in(tokens(item.text()))


def shop_taxonomy(items: Iterable[Item]) -> Taxonomy | None:
    """The catalog's own categories as a taxonomy, or None when no item has a category."""
    seen: dict[str, list[str]] = {}
    for it in items:
        if it.category and it.category not in seen:
            seen[it.category] = []
    return Taxonomy(Vocabulary("category", seen), own=True, source="catalog") if seen else None


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """The product-type taxonomy in ``path`` (TOML ``[types]`` term = [cues], optional ``context`` words), or
    the built-in one."""
    source = Path(path or BUILTIN)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read taxonomy file: {e.strerror}", path=str(source), field="taxonomy_file") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"taxonomy file is not valid TOML: {e}", path=str(source)) from None
    types = data.get("types")
    if not isinstance(types, dict) or not types:
        raise InputError("needs a [types] table of category = [cue words]", path=str(source), field="types")
    for term, cues in types.items():
        if not isinstance(cues, list) or not all(isinstance(c, str) for c in cues):
            raise InputError("cues must be a list of strings", path=str(source), field=f"types.{term}")
    context = data.get("context", [])
    if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
        raise InputError("must be a list of words", path=str(source), field="context")
    context_words = frozenset(w for c in context for w in tokens(c))
    return Taxonomy(Vocabulary("category", types), own=False, source=str(source), context=context_words)


def taxonomy_for(items: Sequence[Item], path: Path | None = None) -> Taxonomy:
    """The shop's own categories when the items have any, else the product-type file (built-in by default)."""
    return shop_taxonomy(items) or load_taxonomy(path)
