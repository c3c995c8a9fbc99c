"""User errors: one line on stderr, a non-zero exit, no traceback."""

import http.server
import threading

import pytest

from cli.main import run
from core.settings import get_settings


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("RECSEARCH_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error:")
    return err


def test_unreachable_cluster(monkeypatch, capsys):
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_MAX_RETRIES", "0")
    assert run(["search", "red mug"]) == 1
    assert "cannot reach OpenSearch at http://127.0.0.1:1" in one_error_line(capsys)


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"error":{"type":"security_exception","reason":"missing authentication credentials"},"status":401}'
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


def test_wrong_credentials(monkeypatch, capsys):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("RECSEARCH_OPENSEARCH_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("RECSEARCH_OPENSEARCH_USER", "admin")
        monkeypatch.setenv("RECSEARCH_OPENSEARCH_PASSWORD", "wrong")
        assert run(["search", "red mug"]) == 1
        line = one_error_line(capsys)
        assert "rejected the credentials (HTTP 401)" in line
        assert "wrong" not in line  # never echo the password
    finally:
        server.shutdown()


def test_missing_catalog(capsys, tmp_path):
    assert run(["index", "build", "--catalog", str(tmp_path / "missing.csv")]) == 1
    assert "missing.csv: catalog file does not exist" in one_error_line(capsys)


def test_unreadable_catalog(capsys, tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"garbage")
    assert run(["index", "build", "--catalog", str(path)]) == 1
    assert "bad.parquet: cannot parse catalog as parquet" in one_error_line(capsys)


def test_catalog_errors_come_before_an_unreachable_cluster(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_MAX_RETRIES", "0")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"garbage")
    assert run(["index", "build", "--catalog", str(bad)]) == 1
    assert "bad.parquet: cannot parse catalog as parquet" in one_error_line(capsys)
    good = tmp_path / "items.csv"
    good.write_text("id,title\n1,Red mug\n")
    assert run(["index", "build", "--catalog", str(good)]) == 1  # a good file: read, then the cluster's error
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: cannot reach OpenSearch at http://127.0.0.1:1")


def test_catalog_with_only_bad_rows(capsys, tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("id,title\n,no id\n2,\n")
    assert run(["index", "build", "--catalog", str(path)]) == 1
    assert "no usable items in the catalog" in capsys.readouterr().err


def test_strict_stops_on_first_bad_row(capsys, tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("id,title\n1,ok\n,no id\n")
    assert run(["index", "build", "--catalog", str(path), "--strict"]) == 1
    assert "items.csv:3: field 'id': missing item id" in one_error_line(capsys)


def test_usage_error_exits_2_without_traceback(capsys):
    assert run(["search"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from cli.main import app; assert 'torch' not in sys.modules, 'torch loaded for --help'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_catalog_with_wrong_columns_names_them(capsys, tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("sku,name\nA1,Red mug\n")
    assert run(["index", "build", "--catalog", str(path)]) == 1
    line = one_error_line(capsys)
    assert "column 'id' for id not found (columns: name, sku); map it with --mapping id=COLUMN" in line


def test_markup_in_file_values_and_error_messages_is_printed_as_is(monkeypatch, capsys, tmp_path):
    """L7: a value such as ``[/]`` or ``[link=...]`` is text, not Rich markup (it crashed the CLI after the import
    committed, or injected terminal links)."""
    monkeypatch.setenv("RECSEARCH_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    path = tmp_path / "bad.csv"
    path.write_text("user_id,item_id,type,ts\nu,i,view,[/]\nu,i,view,[link=http://x.test]y[/link]\n")
    assert run(["feedback", "import", str(path), "--no-catalog-check"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "unreadable time: '[/]'" in captured.err and "'[link=http://x.test]y[/link]'" in captured.err
    assert "2 rows read" in captured.out
    assert run(["users", "show", "[bold]x[/]"]) == 1
    assert "no events stored for user '[bold]x[/]'" in one_error_line(capsys)


def test_feedback_import_with_the_cluster_down_says_so_and_stores_nothing(monkeypatch, capsys, tmp_path):
    store = tmp_path / "store.db"
    monkeypatch.setenv("RECSEARCH_STORE_URL", f"sqlite:///{store}")
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_MAX_RETRIES", "0")
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,type,ts\nu1,A,view,2011-01-01T10:00:00\n")
    assert run(["feedback", "import", str(events)]) == 1  # the catalog check needs the live index
    assert "cannot reach OpenSearch at http://127.0.0.1:1" in one_error_line(capsys)
    assert run(["feedback", "import", str(events), "--no-catalog-check"]) == 0  # nothing was half-written before
    assert "1 events added" in capsys.readouterr().out
