"""The build digest: one hash of everything that decides a version's documents, kept in its ``_meta``.

A rebuild whose digest equals the live version's (and whose live version still holds the documents it was built
with) is skipped before the catalog is read: no parsing, no document hashing, no paging of ``doc_hash`` out of the
index. What enters it:

- the catalog file's bytes (SHA-256 of the whole file: a changed row, a changed vector, a renamed column all change
  it; an identical copy elsewhere does not);
- the field mapping, the vector column, the embedding model or vector model as named (``--model``,
  ``RECSEARCH_MODELS_EMBEDDING``, ``--vector-model``), ``--strict``;
- the document schema (:data:`~indexer.index.SCHEMA_VERSION`) and :data:`DIGEST_VERSION` (bumped when the way
  items are read or documents are made changes in a way no setting shows).

Not covered, so a build with enrichment on gets no digest and always takes the per-document path: an enrichment
comes from the cache or the LLM, which no digest of the settings pins down. A model folder rewritten in place under
the same name is not seen either (the per-document ``doc_hash`` does not see it: ``--force`` rebuilds).

``index update`` changes the live version in place, so it clears the digest before it writes anything.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from core.errors import CatalogError
from indexer.index import SCHEMA_VERSION

#: Bump when reading a catalog or making a document changes in a way that no digested setting records.
DIGEST_VERSION = 1
#: ``_meta`` keys: the digest of a version's build, and how many documents it wrote.
META_DIGEST, META_DOCUMENTS = "build_digest", "build_documents"


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks (hashlib's C loop: ~1 GB/s, no copy of the file in memory)."""
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as e:
        raise CatalogError(f"cannot read catalog: {e.strerror}", path=str(path)) from None


def build_digest(catalog: Path, decides: dict[str, Any]) -> str:
    """The digest of a build of ``catalog`` with the settings ``decides`` (JSON-able: mapping, model, ...)."""
    payload = {"file": file_sha256(catalog), "schema": SCHEMA_VERSION, "digest": DIGEST_VERSION, **decides}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]
