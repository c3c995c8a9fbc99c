"""The first end-to-end slice against the real node: catalog -> embeddings -> versioned index -> k-NN search."""

from __future__ import annotations

import pandas as pd
import pytest

from core.errors import IndexMissing, InputError
from indexer import api
from indexer.catalog import read_catalog
from tests.paths import DATA

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def retail_sample(tmp_path_factory):
    """Online Retail transactions of ~400 stock codes, heart t-light holders among them."""
    frame = pd.read_parquet(DATA)
    codes = frame["StockCode"].drop_duplicates()
    hearts = frame.loc[frame["Description"].fillna("").str.contains("HEART T-LIGHT"), "StockCode"].unique()
    keep = set(codes.iloc[:400]) | set(hearts)
    path = tmp_path_factory.mktemp("retail") / "sample.parquet"
    frame[frame["StockCode"].isin(keep)].to_parquet(path)
    return path


def test_online_retail_build_and_knn_search(settings, minilm, retail_sample):
    done = api.build_from_catalog(settings, retail_sample, embedder=minilm)
    expected = len(read_catalog(retail_sample).items)
    assert done.result.indexed == expected > 300
    hits = api.search(settings, "heart t-light holder", k=5, embedder=minilm)
    assert len(hits) == 5
    assert all("HEART" in h.title and "T-LIGHT" in h.title for h in hits[:3]), hits
    assert hits[0].score >= hits[-1].score
    versions = api.index_versions(settings)
    assert [v.docs for v in versions] == [expected]
    assert versions[0].live and versions[0].meta["embedding_model"] == minilm.name


def test_rebuild_swaps_alias_and_prunes_old_versions(settings, fake_embedder, tmp_path):
    catalog = tmp_path / "items.jsonl"
    catalog.write_text('{"id": "1", "title": "red mug"}\n{"id": "2", "title": "blue plate"}\n')
    first = api.build_from_catalog(settings, catalog, embedder=fake_embedder).result
    assert first.previous is None
    catalog.write_text('{"id": "1", "title": "red mug"}\n{"id": "3", "title": "green bowl"}\n')
    second = api.build_from_catalog(settings, catalog, embedder=fake_embedder).result
    third = api.build_from_catalog(settings, catalog, embedder=fake_embedder, force=True).result  # unchanged: forced
    assert second.previous == first.index and third.previous == second.index
    versions = api.index_versions(settings)
    assert [v.name for v in versions] == [second.index, third.index]  # keeps 2, the oldest is deleted
    assert [v.live for v in versions] == [False, True]
    ids = {h.id for h in api.search(settings, "green bowl", k=10, embedder=fake_embedder)}
    assert ids == {"1", "3"}


def test_failed_build_keeps_the_live_version_and_leaves_no_partial_index(settings, fake_embedder, tmp_path):
    catalog = tmp_path / "items.jsonl"
    catalog.write_text("".join(f'{{"id": "{i}", "title": "item {i}"}}\n' for i in range(600)))
    good = api.build_from_catalog(settings, catalog, embedder=fake_embedder).result

    class Failing:
        name, dimension, calls = "failing", fake_embedder.dimension, 0

        def encode(self, texts, batch_size=None):
            Failing.calls += 1
            if Failing.calls > 1:
                raise RuntimeError("embedding backend died")
            return fake_embedder.encode(texts)

    with pytest.raises(RuntimeError, match="died"):
        api.build_from_catalog(settings, catalog, embedder=Failing())
    versions = api.index_versions(settings)
    assert [v.name for v in versions] == [good.index]
    assert versions[0].live and versions[0].docs == 600


def test_search_without_index_is_a_clear_error(settings, fake_embedder):
    with pytest.raises(IndexMissing, match=f"index '{settings.opensearch.index_alias}' does not exist"):
        api.search(settings, "anything", embedder=fake_embedder)


def test_empty_query_is_refused(settings, fake_embedder):
    with pytest.raises(InputError, match="query"):
        api.search(settings, "   ", embedder=fake_embedder)


def test_cli_build_reports_skipped_rows_and_search_prints_hits(settings, tmp_path, monkeypatch, capsys):
    from cli.main import run
    from core.settings import get_settings

    catalog = tmp_path / "shop.csv"
    catalog.write_text(
        "sku,name,cost\nA,Red enamel mug,3.5\n,Lost item,1\nB,Blue glass vase,x\nC,Heart candle holder,2\n"
    )
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_URL", settings.opensearch.url)
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_INDEX_ALIAS", settings.opensearch.index_alias)
    monkeypatch.setenv("RECSEARCH_STATE_DIR", str(settings.state_dir))
    get_settings.cache_clear()
    try:
        assert run(["index", "build", "--catalog", str(catalog), "--mapping", "id=sku,title=name,price=cost"]) == 0
        captured = capsys.readouterr()
        assert "indexed 2 items" in captured.out
        assert "shop.csv:3: field 'sku': missing item id" in captured.err
        assert "shop.csv:4: field 'cost': not a number" in captured.err
        rejects = settings.state_dir / "rejects" / "shop.catalog-rejects.jsonl"
        assert len(rejects.read_text().splitlines()) == 2
        assert run(["search", "candle holder", "-k", "2"]) == 0
        out = capsys.readouterr().out
        assert "Heart candle holder" in out
        assert run(["index", "status"]) == 0
        assert settings.opensearch.index_alias in capsys.readouterr().out
    finally:
        get_settings.cache_clear()
