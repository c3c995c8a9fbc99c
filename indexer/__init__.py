"""The indexer: a catalog file in, an enriched, embedded, versioned OpenSearch index out, and searches over it.

api.py              one function per user action (build, update, rollback, search, preview), what the CLI calls
catalog.py          items files (CSV, JSONL, Parquet) with a field mapping; transactions.py: a catalog from sales
index.py            the mapping, versions behind the alias, the atomic alias swap
build.py, update.py a new version (resumable, vectors reused) and in-place updates of the live one
search.py           k-NN, BM25 and hybrid (RRF) queries
search_pipeline.py  the `personalized` search pipeline of the project's OpenSearch plugin
enrichment/         LLM-written, grounded descriptions and attributes, cached
"""
