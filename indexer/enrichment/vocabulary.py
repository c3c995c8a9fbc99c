"""Words, their normalisation, and the attribute vocabularies the field checks verify against.

Every check works on normalised words: lower case, split at anything that is not a letter or digit (``T-LIGHT`` is
``t light``), a plural reduced to its singular (``hearts`` -> ``heart``, ``boxes`` -> ``box``, ``doilies`` ->
``doily``). A vocabulary maps a canonical term to the phrases that name it (``grey``: grey, gray); a text names
a term when one of its phrases occurs in the text's words in order. The vocabularies are generic retail words,
not one shop's: an attribute value the vocabulary does not know cannot be verified and is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_TOKEN = re.compile(r"[a-z0-9]+")
_ES_AFTER = ("ss", "sh", "ch", "x", "z")
# Words that carry no claim, left out when a keyword is checked word by word.
_STOP = "a an and the for of with in on to by at from or set sets pack piece pieces your you it its is this that"
STOPWORDS = frozenset(_STOP.split())


def singular(word: str) -> str:
    """``hearts`` -> ``heart``, ``boxes`` -> ``box``, ``doilies`` -> ``doily``; short words and ``-ss`` stay.
    Not a stemmer: just enough that a plural and its singular are the same word."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("ie"):  # so that cookie and cookies meet at "cooky", as doily and doilies
        return word[:-2] + "y"
    if len(word) > 4 and word.endswith("es") and word[:-2].endswith(_ES_AFTER):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


# Words a description may use without the source saying them: they carry no checkable fact about the product.
_FILLER = (
    "be are has have can will made make perfect ideal great lovely beautiful nice pretty charming cute classic"
    " decorative design designed style stylish product item use used using add adding any every our one two three"
    " which who as features featuring shape shaped"
)
FILLER = frozenset(singular(w) for w in _FILLER.split()) | STOPWORDS


def tokens(text: str) -> list[str]:
    """The normalised words of ``text``, in order."""
    return [singular(t) for t in _TOKEN.findall(text.lower())]


def word_supported(word: str, source_words: Iterable[str]) -> bool:
    """True when ``word`` is one of ``source_words``, or the start or end of a compound among them
    (``cake`` and ``stand`` in ``cakestand``; the rest of the compound must be 3+ letters, so ``ring`` is not
    found in ``string`` but is in ``earring``: rare enough in product titles to accept)."""
    for s in source_words:
        if s == word or (len(word) >= 3 and len(s) >= len(word) + 3 and (s.startswith(word) or s.endswith(word))):
            return True
    return False


class Vocabulary:
    """Canonical terms of one attribute and the phrases that name each."""

    def __init__(self, field: str, terms: Mapping[str, Iterable[str]]):
        self.field = field
        self.phrases: dict[str, list[tuple[str, ...]]] = {
            term: [tuple(tokens(p)) for p in [term, *phrases]] for term, phrases in terms.items()
        }

    def __contains__(self, term: str) -> bool:
        return term in self.phrases

    def terms(self) -> list[str]:
        """The canonical terms, in declaration order."""
        return list(self.phrases)

    def named_in(self, words: list[str]) -> list[str]:
        """The canonical terms ``words`` (normalised, in order) name, in vocabulary order."""
        found = []
        for term, phrases in self.phrases.items():
            for p in phrases:
                if p and any(tuple(words[i : i + len(p)]) == p for i in range(len(words) - len(p) + 1)):
                    found.append(term)
                    break
        return found


def _vocab(field: str, spec: str) -> Vocabulary:
    """``"red; grey = gray; polka dot = polkadot, spot"``: terms separated by ';', synonyms after '='."""
    terms: dict[str, list[str]] = {}
    for entry in spec.split(";"):
        term, _, synonyms = entry.partition("=")
        terms[term.strip()] = [s.strip() for s in synonyms.split(",") if s.strip()]
    return Vocabulary(field, terms)


COLOURS = _vocab(
    "colour",
    "red; blue; green; yellow; pink; purple; orange; black; white; grey = gray; brown; cream; ivory; gold = golden;"
    "silver; beige; turquoise; teal; navy; lilac; violet; magenta; aqua; copper; bronze; lavender; khaki",
)
MATERIALS = _vocab(
    "material",
    "wood = wooden; metal; glass; ceramic; porcelain; stoneware; paper; cardboard; plastic; fabric; cotton; linen;"
    "wool = woollen, woolen; felt; leather; silk; zinc; steel; iron; enamel = enamelled; wicker; bamboo; stone;"
    "resin; acrylic; velvet; lace; jute; hessian; rubber; silicone; copper; bronze; aluminium = aluminum;"
    "canvas; denim; polyester; crystal; marble; rattan; cork; pewter; brass; slate",
)
SIZES = _vocab("size", "mini; small; medium; large; jumbo; giant; big; tiny; extra large = xl")
PATTERNS = _vocab(
    "pattern",
    "polka dot = polkadot, dot, dotty, dotted, spot, spotty, spotted; stripe = striped, stripy, stripey;"
    "check = checked, checkered, chequered; gingham; tartan; plaid; floral; paisley; leopard; zebra;"
    "camouflage = camo; chevron; herringbone; damask; toile",
)
OCCASIONS = _vocab(
    "occasion",
    "christmas = xmas; easter; halloween; valentine = valentines; wedding; birthday; party; anniversary;"
    "baby shower; new year; mother's day = mothers day; father's day = fathers day; picnic; graduation;"
    "christening; thanksgiving",
)
ATTRIBUTES: dict[str, Vocabulary] = {v.field: v for v in (COLOURS, MATERIALS, SIZES, PATTERNS, OCCASIONS)}
