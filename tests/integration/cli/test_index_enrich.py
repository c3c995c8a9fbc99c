"""The CLI end to end with an OpenAI-compatible LLM endpoint (a small real HTTP server in a thread)."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from cli.main import run
from core.settings import get_settings

pytestmark = pytest.mark.integration

DESCRIPTIONS = {
    "RED ENAMEL MUG": {
        "description": "A red mug made of enamel.",
        "colour": "red",
        "category": "mug and cup",
        "keywords": ["enamel mug"],
    },
    "BLUE GLASS VASE": {"description": "A blue vase made of glass.", "category": "home decor", "occasion": "wedding"},
    "WHITE PAPER NAPKINS": {"description": "A pink silk scarf."},  # nothing the source says: dropped by grounding
}


class ChatHandler(http.server.BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        ChatHandler.requests.append({"path": self.path, "auth": self.headers.get("authorization"), **body})
        title = body["messages"][-1]["content"].split('"')[1]
        answer = json.dumps(DESCRIPTIONS.get(title, {"description": ""}))
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def llm_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ChatHandler.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_cli_enrich_build_preview_update_rollback_and_search_modes(settings, llm_server, tmp_path, monkeypatch, capsys):
    catalog = tmp_path / "shop.csv"
    catalog.write_text("sku,name\nA,RED ENAMEL MUG\nB,BLUE GLASS VASE\nC,WHITE PAPER NAPKINS\n")
    env = {
        "RECSEARCH_OPENSEARCH_URL": settings.opensearch.url,
        "RECSEARCH_OPENSEARCH_INDEX_ALIAS": settings.opensearch.index_alias,
        "RECSEARCH_STATE_DIR": str(settings.state_dir),
        "RECSEARCH_STORE_URL": settings.store.url,
        "RECSEARCH_ENRICH_BACKEND": "openai",
        "RECSEARCH_ENRICH_OPENAI_URL": llm_server,
        "RECSEARCH_ENRICH_OPENAI_MODEL": "tiny-chat",
        "RECSEARCH_ENRICH_API_KEY": "sk-test",
        "RECSEARCH_ENRICH_ATTEMPTS": "1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    mapping = ["--mapping", "id=sku,title=name"]
    try:
        assert run(["index", "build", "--catalog", str(catalog), *mapping, "--enrich"]) == 0
        out = capsys.readouterr().out
        assert "2 enriched, 1 dropped by grounding" in out and "indexed 3 items" in out
        assert len(ChatHandler.requests) == 3
        first = ChatHandler.requests[0]
        assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-test"
        assert first["model"] == "tiny-chat" and first["response_format"]["type"] == "json_schema"

        assert run(["enrich", "preview", "A", "C", "--catalog", str(catalog), *mapping, "--json"]) == 0
        a, c = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert a["source"] == "RED ENAMEL MUG" and a["description"] == "A red mug made of enamel." and a["cached"]
        assert a["attributes"] == {"category": "mug and cup", "colour": ["red"], "keywords": ["enamel mug"]}
        assert a["prompt_version"] == "enrich-v2"
        assert a["model"] == f"openai:tiny-chat@{llm_server}"
        assert not c["ok"] and "pink" in c["reason"] and c["source"] == "WHITE PAPER NAPKINS"
        assert len(ChatHandler.requests) == 3  # served from the cache
        assert run(["enrich", "preview", "A", "--catalog", str(catalog), *mapping]) == 0
        assert "enrichment preview" in capsys.readouterr().out

        assert run(["search", "cup", "--mode", "bm25", "-k", "1"]) == 0  # the accepted category
        assert "RED ENAMEL MUG" in capsys.readouterr().out
        assert run(["search", "home decor", "--mode", "hybrid", "-k", "1"]) == 0
        assert "BLUE GLASS VASE" in capsys.readouterr().out

        catalog.write_text("sku,name\nA,RED ENAMEL MUG\nB,BLUE GLASS VASE\n")
        assert run(["index", "build", "--catalog", str(catalog), *mapping, "--enrich"]) == 0
        assert "0 embedded, 2 vectors reused" in capsys.readouterr().out
        assert len(ChatHandler.requests) == 3  # nothing changed: no LLM call

        catalog.write_text("sku,name\nA,RED ENAMEL MUG\nD,GREEN TEA TOWEL\n")
        assert run(["index", "update", "--catalog", str(catalog), *mapping, "--enrich"]) == 0
        assert "wrote 1 items" in capsys.readouterr().out and len(ChatHandler.requests) == 4
        assert run(["index", "rollback"]) == 0
        assert "back to" in capsys.readouterr().out
        assert run(["search", "blue glass vase", "--mode", "knn", "-k", "1"]) == 0  # the first version is back
        assert "BLUE GLASS VASE" in capsys.readouterr().out
        assert run(["index", "status"]) == 0
        assert "complete" in capsys.readouterr().out

        assert run(["enrich", "preview", "ZZZ", "--catalog", str(catalog), *mapping]) == 1
        assert "field 'id': no item 'ZZZ' in the catalog" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
