"""OpenSearch backend: versioned index behind an alias, hybrid search with the ACL filter inside.

Request bodies are built by pure functions (``queries``, ``mappings``, ``pipelines``) so they can
be validated offline against the OpenSearch request schemas.
"""

from gateway.retrieval.opensearch.retriever import OpenSearchRetriever
from gateway.retrieval.opensearch.writes import BulkWriteError

__all__ = ["BulkWriteError", "OpenSearchRetriever"]
