"""The indexer: catalog in, enriched and embedded items out, kept in sync with OpenSearch. Also the shared base (settings, errors, store, embedding) that the ranker builds on."""
