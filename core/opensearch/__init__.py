"""OpenSearch: the client built from settings with its errors translated (client.py), the reader of an index's
documents (documents.py: the one reader of the live catalog), and the local node the project runs (node.py)."""

__all__ = ["client", "documents", "node"]
