"""`recadmin feedback ...` and `recadmin users ...` end to end: the real node is the catalog, SQLite the store."""

from __future__ import annotations

import json

import pytest

from cli.main import run
from core.settings import get_settings
from indexer import api

pytestmark = pytest.mark.integration

EVENTS = """user_id,item_id,type,ts,quantity
u1,1,view,2011-01-01T10:00:00,
u1,2,add_to_cart,2011-01-01T10:05:00,1
u1,3,purchase,2011-01-01T10:10:00,2
u1,99,click,2011-01-01T10:11:00,
u2,1,purchase,2011-01-02T09:00:00,1
u2,,view,2011-01-02T09:01:00,
"""


@pytest.fixture
def cli_env(settings, monkeypatch, fake_embedder, tmp_path):
    """The CLI's settings pointed at this test's alias, store and state folder; a 3-item catalog is live."""
    catalog = tmp_path / "items.jsonl"
    catalog.write_text(
        '{"id": "1", "title": "red mug"}\n{"id": "2", "title": "blue plate"}\n{"id": "3", "title": "bowl"}\n'
    )
    api.build_from_catalog(settings, catalog, embedder=fake_embedder)
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_URL", settings.opensearch.url)
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_INDEX_ALIAS", settings.opensearch.index_alias)
    monkeypatch.setenv("RECSEARCH_STORE_URL", settings.store.url)
    monkeypatch.setenv("RECSEARCH_STATE_DIR", str(settings.state_dir))
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def test_import_show_export_delete(cli_env, capsys, tmp_path, fake_embedder):
    events = tmp_path / "events.csv"
    events.write_text(EVENTS)
    assert run(["feedback", "import", str(events)]) == 0
    out, err = capsys.readouterr()
    assert "6 rows read" in out and "5 events added" in out and "1 rejected" in out
    assert "1 events name items not in the catalog" in out
    assert "events.csv:7: field 'item_id': missing item id" in err
    assert (cli_env.state_dir / "rejects" / "events.events-rejects.jsonl").exists()

    assert run(["feedback", "import", str(events)]) == 0
    assert "0 events added, 5 already stored or repeated" in capsys.readouterr().out

    assert run(["users", "show", "u1"]) == 0
    out = capsys.readouterr().out
    assert "user u1: 4 events stored" in out
    assert out.index("purchase") < out.index("add_to_cart") < out.index("view") and "│ 99 " not in out

    target = tmp_path / "u1.json"
    assert run(["users", "export", "u1", "-o", str(target)]) == 0
    exported = json.loads(target.read_text())
    assert [e["item_id"] for e in exported["events"]] == ["1", "2", "3", "99"]
    assert [e["in_catalog"] for e in exported["events"]] == [True, True, True, False]
    assert [p["item_id"] for p in exported["profile"]] == ["3", "2", "1"]

    # Item 2 leaves the catalog: it drops out of the profile after a sync.
    catalog = tmp_path / "items2.jsonl"
    catalog.write_text('{"id": "1", "title": "red mug"}\n{"id": "3", "title": "bowl"}\n')
    api.build_from_catalog(cli_env, catalog, embedder=fake_embedder)
    assert run(["feedback", "import", str(events)]) == 0  # the import's own sync sees the new version
    assert "catalog sync: 1 items left the catalog, 0 came back; 1 profiles rebuilt" in capsys.readouterr().out
    assert run(["feedback", "import", str(events)]) == 0  # the catalog unchanged since: no sync, nothing said
    assert "catalog sync" not in capsys.readouterr().out
    assert run(["feedback", "sync-catalog"]) == 0  # always runs; nothing more to flag
    assert "0 items left the catalog" in capsys.readouterr().out
    assert run(["users", "show", "u1"]) == 0
    assert "add_to_cart" not in capsys.readouterr().out

    assert run(["users", "delete", "u1", "--yes"]) == 0
    assert "4 events, 2 profile rows" in capsys.readouterr().out
    assert run(["users", "show", "u1"]) == 1
    assert capsys.readouterr().err.strip() == "error: field 'user_id': no events stored for user 'u1'"
    assert run(["users", "show", "u2"]) == 0  # the other user stays


def test_import_errors_are_one_line(cli_env, capsys, tmp_path):
    assert run(["feedback", "import", str(tmp_path / "missing.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "missing.csv: event file does not exist" in err and len(err.splitlines()) == 1
    bad = tmp_path / "e.csv"
    bad.write_text("customer,sku\n1,A\n")
    assert run(["feedback", "import", str(bad), "--no-catalog-check"]) == 1
    assert "column 'user_id' for user_id not found" in capsys.readouterr().err
    assert run(["feedback", "import", str(bad), "--mapping", "colour=red"]) == 1
    assert "bad event mapping 'colour=red'" in capsys.readouterr().err


def test_live_catalog_ids_are_looked_up_by_id_and_remembered(cli_env, monkeypatch):
    from core.errors import IndexMissing
    from core.opensearch.client import make_client
    from core.opensearch.documents import existing_ids
    from ranker.feedback.catalog_sync import LiveCatalogIds

    catalog = LiveCatalogIds(cli_env)
    assert catalog.index != cli_env.opensearch.index_alias  # the concrete version, resolved once
    assert catalog.known(["1", "2", "99", "2"]) == {"1", "2"}
    # Asked in chunks: every chunk's answer counts, a miss is not an error.
    client = make_client(cli_env.opensearch)
    assert existing_ids(client, catalog.index, ["3", "1", "nope", "2"], chunk=1) == {"1", "2", "3"}

    def no_more_requests(*args, **kwargs):
        raise AssertionError("an id already asked about was asked again")

    catalog._client.mget = no_more_requests
    assert catalog.known(["1", "99"]) == {"1"}  # both answers remembered, the miss included

    # Past its memory it forgets, but never an answer of the call that made it forget.
    small = LiveCatalogIds(cli_env, remember=2)
    assert small.known(["1", "2"]) == {"1", "2"}
    assert small.known(["1", "3", "99"]) == {"1", "3"}  # "1" was remembered, "3" and "99" asked: past 2, cleared
    assert small.known(["2"]) == {"2"}  # asked again

    # The state: the same while nothing is written to the live version, another after any write to it.
    assert LiveCatalogIds(cli_env).state() == catalog.state()
    client.index(index=catalog.index, id="4", body={"item_id": "4", "title": "jug"}, refresh=True)
    assert LiveCatalogIds(cli_env).state() != catalog.state()

    # A user who may read the index but not its stats: the state is unknown, so every import syncs.
    import core.opensearch.documents as documents
    from core.errors import AuthenticationFailed

    def forbidden(*args, **kwargs):
        raise AuthenticationFailed("OpenSearch rejected the credentials (HTTP 403)")

    monkeypatch.setattr(documents, "version_state", forbidden)
    blind = LiveCatalogIds(cli_env)
    assert blind.state() is None and blind.known(["1", "99"]) == {"1"}

    with pytest.raises(IndexMissing, match="does not exist"):
        LiveCatalogIds(cli_env.model_copy(update={"opensearch": cli_env.opensearch.model_copy(
            update={"index_alias": "no-such-alias"})}))  # fmt: skip
