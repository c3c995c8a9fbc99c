"""The events frame as the readers built it before the compact columns: the oracle the compact read is held to."""

from __future__ import annotations

import pandas as pd

from ranker.feedback.frames import FRAME_COLUMNS
from ranker.feedback.mapping import EventMapping, check_rows
from ranker.feedback.sources import event_file_format, read_chunks
from ranker.feedback.writer import STAGE_COLUMNS


def string_frame_read(path, chunk_rows: int = 500) -> pd.DataFrame:
    """The events frame as it was read before the compact columns: every checked row staged as strings, one row per
    event id kept, then typed and sorted (the oracle the compact read must equal)."""
    parts = []
    for chunk in read_chunks(path, event_file_format(path, None), EventMapping(), chunk_rows):
        rows, _ = check_rows(chunk.frame, str(path))
        if rows:
            parts.append(pd.DataFrame.from_records(rows, columns=STAGE_COLUMNS))
    staged = pd.concat(parts, ignore_index=True)
    staged["seq"] = range(len(staged))
    unique = staged.drop_duplicates("event_id", keep="first")
    unique = unique[unique["item_id"] != ""]
    frame = unique[["event_id", "seq", *FRAME_COLUMNS]].copy()
    frame["ts"] = pd.to_datetime(frame["ts"], format="%Y-%m-%d %H:%M:%S.%f")
    frame = frame.sort_values(["user_id", "ts", "seq", "event_id"], kind="stable")
    types = {"user_id": str, "item_id": str, "type": str, "ts": "datetime64[ns]", "quantity": float, "value": float,
             "in_catalog": bool}  # fmt: skip
    return frame[FRAME_COLUMNS].astype(types).reset_index(drop=True)
