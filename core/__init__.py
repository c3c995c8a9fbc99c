"""The base every part builds on, with no domain logic: imports nothing of cli, indexer or ranker.

settings.py       the one settings object (RECSEARCH_*), a group per sub-system
errors.py         the one error tree (the CLI prints it as one line; the service maps it to HTTP)
store.py          the SQL store's engine; its schema made and migrated in one place (migrations/)
paths.py          the state folder's layout
embedding.py      the embedder interface and model resolution;  device.py  the torch device choice
progress.py       the progress callback type and the read-ahead thread
lru.py            the thread-safe LRU cache (values built outside its lock)
rows.py           the reject record, JSON-lines reading, FIELD=COLUMN mappings, reject files
online_retail.py  the one reader of Online Retail transactions (columns, stock codes, purchase lines)
opensearch/       the client and its errors, the reader of an index's documents, the local node
"""

__all__ = [
    "device",
    "embedding",
    "errors",
    "lru",
    "online_retail",
    "opensearch",
    "paths",
    "progress",
    "rows",
    "settings",
    "store",
]
