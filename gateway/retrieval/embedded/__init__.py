"""The embedded retrieval engine: tantivy BM25 + exact numpy vectors over a SQLite chunk store."""

from gateway.retrieval.embedded.retriever import EmbeddedRetriever

__all__ = ["EmbeddedRetriever"]
