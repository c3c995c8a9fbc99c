"""`python -m bench.sim_shopper`'s mistakes: each is one line on stderr and exit 2, before anything is read or
started."""

from __future__ import annotations

import pytest

from bench import sim_shopper


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--events", "E", "--cutoff", "2011-11-01"], "the following arguments are required: --url"),
        (["--url", "u", "--events", "missing.parquet", "--cutoff", "2011-11-01"], "no such file: missing.parquet"),
        (["--url", "u", "--events", "E", "--cutoff", "11/2011"], "--cutoff: not a date (YYYY-MM-DD): '11/2011'"),
        (["--url", "u", "--events", "E", "--cutoff", "2011-11-01", "--sessions", "0"], "--sessions: not a whole"),
        (["--url", "u", "--events", "E", "--cutoff", "2011-11-01", "--start", "x"], "--start needs --control"),
        (["--url", "u", "--events", "E", "--cutoff", "2011-11-01", "--control", "v1"], "go with --start NAME"),
        (["--url", "u", "--events", "E", "--cutoff", "2011-11-01", "--start", "x", "--control", "v1",
          "--treatment", "v2", "--mode", "split"], "--mode: invalid choice: 'split'"),
    ],
)  # fmt: skip
def test_a_usage_mistake_is_one_line(tmp_path, capsys, argv, says):
    events = tmp_path / "events.parquet"
    events.write_bytes(b"")
    argv = [str(events) if a == "E" else a for a in argv]
    with pytest.raises(SystemExit) as exit_:
        sim_shopper.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sim_shopper: error: ") and says in err[0], err


def test_an_unreachable_service_or_cluster_is_one_line(tmp_path, capsys, monkeypatch):
    import pandas as pd

    events = tmp_path / "events.csv"
    pd.DataFrame({"user_id": ["u1"], "item_id": ["a"], "type": ["purchase"], "ts": ["2011-01-01"]}).to_csv(events)
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_MAX_RETRIES", "0")
    with pytest.raises(SystemExit) as exit_:
        sim_shopper.main(["--url", "http://127.0.0.1:9", "--events", str(events), "--cutoff", "2011-11-01"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sim_shopper: error: "), err
