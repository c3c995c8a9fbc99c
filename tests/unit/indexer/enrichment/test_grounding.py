"""Field-level grounding: each field of an answer kept only when the item's own text supports it."""

from __future__ import annotations

import json

import pytest

from core.errors import GroundingFailure, InputError
from indexer.catalog import Item
from indexer.enrichment.grounding import ground_batch, verify_fields
from indexer.enrichment.schema import answer_schema
from indexer.enrichment.taxonomy import load_taxonomy, shop_taxonomy, taxonomy_for
from indexer.enrichment.vocabulary import COLOURS, tokens, word_supported
from tests.fakes.embedder import HashEmbedder

LANTERN = Item("71053", "WHITE METAL LANTERN")
MUG = Item("21067", "VINTAGE RED TEATIME MUG")
TAXONOMY = load_taxonomy()


def verify(raw: dict, item: Item = LANTERN, taxonomy=TAXONOMY):
    return verify_fields(raw, item, taxonomy)


def test_a_category_outside_the_taxonomy_or_unsupported_by_the_source_is_dropped():
    _, attrs, dropped = verify({"category": "car"})
    assert "category" not in attrs and dropped == ["category 'car': not in the taxonomy"]
    _, attrs, dropped = verify({"category": "mug and cup"})  # a taxonomy term, but nothing in the title names it
    assert "category" not in attrs and dropped == ["category 'mug and cup': the source does not name it"]
    _, attrs, dropped = verify({"category": "Lighting"})
    assert attrs == {"category": "lighting"} and dropped == []


def test_a_keyword_the_source_does_not_support_is_dropped_lane_for_a_lantern():
    _, attrs, dropped = verify({"keywords": ["lane", "white lantern", "polka dot", "metal lanterns"]})
    assert attrs == {"keywords": ["white lantern", "metal lanterns"]}
    assert dropped == [
        "keywords 'lane': the source does not say lane",
        "keywords 'polka dot': the source does not say polka, dot",
    ]


def test_a_colour_in_style_or_keywords_that_the_source_does_not_name_is_dropped():
    _, attrs, dropped = verify({"style": "pink", "keywords": ["pink lantern"], "colour": ["white", "pink"]})
    assert attrs == {"colour": ["white"]}
    assert "pattern 'pink': not a known pattern" in dropped  # v1's "style" is read as the pattern
    assert "keywords 'pink lantern': the source does not say pink" in dropped
    assert "colour 'pink': the source does not say it" in dropped


def test_attribute_values_are_normalised_to_vocabulary_terms():
    item = Item("1", "GRAY POLKADOT WOODEN BOXES LARGE", description="For Xmas")
    _, attrs, dropped = verify(
        {"colour": "Grey", "pattern": ["polka dots"], "material": "Wood", "size": "large", "occasion": "christmas"},
        item,
    )
    assert attrs == {"colour": ["grey"], "material": ["wood"], "size": ["large"], "pattern": ["polka dot"],
                     "occasion": ["christmas"]}  # fmt: skip
    assert dropped == []
    assert tokens("T-LIGHT HOLDERS, Boxes & Doilies") == ["t", "light", "holder", "box", "doily"]
    assert word_supported("cake", ["cakestand"]) and not word_supported("lane", ["lantern"])
    assert COLOURS.named_in(tokens("a gray mug")) == ["grey"]


def test_a_description_with_an_unsupported_colour_material_or_product_type_is_dropped_not_the_item():
    description, attrs, dropped = verify(
        {"description": "A red tee-shirt with a vintage stripe.", "colour": "red"}, MUG
    )
    assert description == "" and attrs == {"colour": ["red"]}
    assert dropped == ["description: it says shirt, which the source does not"]
    description, _, dropped = verify({"description": "A white metal lane."})
    assert description == "" and dropped == ["description: it says lane, which the source does not"]
    description, _, dropped = verify({"description": "A white metal design."})
    assert description == "" and dropped == ["description: it does not name the product (lantern)"]
    clock = Item("22726", "ALARM CLOCK BAKELIKE GREEN")
    description, _, dropped = verify({"description": "A green alarm clock with a removable LED light."}, clock)
    assert description == "" and dropped == ["description: it says removable, led, light, which the source does not"]
    description, _, dropped = verify({"description": "A blue metal lantern."})
    assert description == "" and dropped == ["description: it says blue, which the source does not"]
    description, _, dropped = verify({"description": "A white lantern, made of metal."})
    assert description == "A white lantern, made of metal." and dropped == []


def test_a_failing_field_drops_that_field_and_the_item_stays_unless_nothing_survives():
    answers = [
        json.dumps({"description": "A white metal lane.", "category": "car", "colour": ["white"]}),
        json.dumps({"description": "POPCORN, A COOKIES, AROUND THE WORLD", "style": "pink"}),
    ]
    items = [LANTERN, Item("22197", "POPCORN HOLDER")]
    kept, failed = ground_batch(answers, items, TAXONOMY, HashEmbedder(64), 0.0)
    assert kept.attributes == {"colour": ["white"]} and kept.description == ""
    assert len(kept.dropped) == 2
    assert isinstance(failed, GroundingFailure)
    assert "description: it says cooky" in failed.args[0] and "pattern 'pink'" in failed.args[0]


def test_the_shops_own_categories_are_the_taxonomy_and_an_item_may_only_get_its_own():
    items = [Item("1", "RED MUG", category="Kitchen"), Item("2", "OAK SHELF", category="Furniture"), Item("3", "LAMP")]
    taxonomy = taxonomy_for(items)
    assert taxonomy.own and taxonomy.terms == ["Kitchen", "Furniture"]
    assert verify({"category": "kitchen"}, items[0], taxonomy)[1] == {"category": "Kitchen"}
    assert verify({"category": "Furniture"}, items[0], taxonomy)[2] == [
        "category 'Furniture': the source does not name it"
    ]
    assert shop_taxonomy([Item("1", "LAMP")]) is None and not taxonomy_for([Item("1", "LAMP")]).own
    assert answer_schema(taxonomy)["properties"]["category"]["enum"] == ["Kitchen", "Furniture", None]


def test_a_taxonomy_file_replaces_the_builtin_and_a_bad_one_names_the_field(tmp_path):
    path = tmp_path / "types.toml"
    path.write_text('[types]\n"lamp" = ["lamp", "lantern"]\n')
    taxonomy = load_taxonomy(path)
    assert taxonomy.terms == ["lamp"] and verify({"category": "lamp"}, LANTERN, taxonomy)[1] == {"category": "lamp"}
    path.write_text('[types]\n"lamp" = "lantern"\n')
    with pytest.raises(InputError, match=r"types.toml: field 'types.lamp': cues must be a list"):
        load_taxonomy(path)
    with pytest.raises(InputError, match="cannot read taxonomy file"):
        load_taxonomy(tmp_path / "missing.toml")


def test_the_schema_makes_the_category_an_enum_and_every_field_required():
    schema = answer_schema(TAXONOMY)
    assert schema["required"] == ["description", "category", "colour", "material", "size", "pattern", "occasion",
                                  "keywords"]  # fmt: skip
    assert schema["properties"]["category"]["enum"] == [*TAXONOMY.terms, None]
    assert "grey" in schema["properties"]["colour"]["items"]["enum"] and schema["additionalProperties"] is False
