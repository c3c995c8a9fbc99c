"""The index lifecycle's safety rails against the real node: a much smaller catalog never replaces the live one
unasked, and pruning keeps what a rollback needs."""

from __future__ import annotations

import json

import pytest

from cli.main import run
from core.errors import InputError, OpenSearchError
from indexer import api

pytestmark = pytest.mark.integration


def write_catalog(path, n, word="item"):
    path.write_text("".join(json.dumps({"id": str(i), "title": f"{word} number {i}"}) + "\n" for i in range(n)))
    return path


def live_docs(settings) -> int:
    index = api.items_index(settings)
    return index.doc_count(index.require_live())


def test_a_far_smaller_catalog_is_refused_and_the_live_version_keeps_serving(settings, fake_embedder, tmp_path):
    good = api.build_from_catalog(settings, write_catalog(tmp_path / "shop.jsonl", 40), embedder=fake_embedder)
    wrong = write_catalog(tmp_path / "wrongcol.jsonl", 2)
    for attempt in (api.build_from_catalog, api.update_from_catalog):
        with pytest.raises(InputError, match=r"2 items, 95% fewer than the 40 documents.*--allow-shrink"):
            attempt(settings, wrong, embedder=fake_embedder)
        versions = api.index_versions(settings)  # nothing written, nothing half-built left, nothing deleted
        assert [(v.name, v.live, v.docs) for v in versions] == [(good.result.index, True, 40)]
    # a drop within the limit (40 -> 20 with the default 0.5) goes through, and so does a forced one
    api.build_from_catalog(settings, write_catalog(tmp_path / "half.jsonl", 20), embedder=fake_embedder)
    assert live_docs(settings) == 20
    done = api.build_from_catalog(settings, wrong, embedder=fake_embedder, allow_shrink=True)
    assert api.items_index(settings).live_version() == done.result.index and live_docs(settings) == 2


def test_cli_refusal_is_one_line_that_names_the_way_through(settings, cli_env, fake_embedder, tmp_path, capsys):
    api.build_from_catalog(settings, write_catalog(tmp_path / "shop.jsonl", 30), embedder=fake_embedder)
    live = api.items_index(settings).live_version()
    wrong = write_catalog(tmp_path / "wrongcol.jsonl", 3)
    assert run(["index", "build", "--catalog", str(wrong)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("read 3 items")  # the loaded count, then the one error line
    assert err[1].startswith("error:") and "--allow-shrink" in err[1] and live in err[1]
    assert api.items_index(settings).live_version() == live
    assert run(["index", "update", "--catalog", str(wrong)]) == 1
    assert "--allow-shrink" in capsys.readouterr().err and live_docs(settings) == 30


def test_pruning_after_a_rollback_keeps_the_known_good_version(settings, fake_embedder, tmp_path):
    catalog = tmp_path / "items.jsonl"
    a = api.build_from_catalog(settings, write_catalog(catalog, 5, "apple"), embedder=fake_embedder).result
    b = api.build_from_catalog(settings, write_catalog(catalog, 5, "broken"), embedder=fake_embedder).result
    assert api.rollback(settings) == (b.index, a.index)  # b was bad: back to a
    c = api.build_from_catalog(settings, write_catalog(catalog, 5, "cherry"), embedder=fake_embedder).result
    assert c.previous == a.index and c.pruned == [b.index]
    assert [v.name for v in api.index_versions(settings)] == [a.index, c.index]
    assert api.rollback(settings) == (c.index, a.index)  # the known-good one, not the one rolled away from


def test_a_half_built_version_never_counts_as_a_version_to_keep(settings, fake_embedder, tmp_path):
    catalog = write_catalog(tmp_path / "items.jsonl", 30)
    good = api.build_from_catalog(settings, catalog, embedder=fake_embedder).result

    class DiesHalfWay:  # another embedding model, killed (Ctrl-C) during its build: its version stays "building"
        name, dimension = "another-model", fake_embedder.dimension

        def encode(self, texts, batch_size=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.build_from_catalog(settings, catalog, embedder=DiesHalfWay())
    half = [v.name for v in api.index_versions(settings) if v.meta.get("build_state") == "building"]
    assert len(half) == 1
    new = api.build_from_catalog(settings, catalog, embedder=fake_embedder, force=True).result
    assert new.pruned == half  # older than the live version: no build resumes it
    assert [v.name for v in api.index_versions(settings)] == [good.index, new.index]
    assert api.rollback(settings) == (new.index, good.index)
    with pytest.raises(OpenSearchError, match="no earlier version"):
        api.rollback(settings)
