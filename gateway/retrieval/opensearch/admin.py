"""Administrative entry points for the ``gateway`` CLI (``gateway opensearch init|reindex``)."""

from __future__ import annotations

from gateway.retrieval.opensearch.retriever import OpenSearchRetriever
from gateway.settings import Settings


def opensearch_init(settings: Settings, embedding_model: str, dimension: int) -> str:
    """Create the versioned index, its alias and the search pipelines; returns the index name.

    Idempotent: on an existing index it checks the embedder in ``_meta`` and re-puts the pipelines.
    """
    retriever = OpenSearchRetriever(settings.opensearch, settings.search)
    try:
        return retriever.init(embedding_model, dimension)
    finally:
        retriever.close()


def opensearch_reindex(settings: Settings) -> str:
    """Copy the index into a new version with the current mapping and swap the alias; returns its name."""
    retriever = OpenSearchRetriever(settings.opensearch, settings.search)
    try:
        return retriever.reindex()
    finally:
        retriever.close()
