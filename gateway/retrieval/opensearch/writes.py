"""Chunk writes: bulk indexing with per-item retries, and delete-by-query.

OpenSearch has no multi-document transaction. ``replace_document`` therefore writes the new
version first (same ``_id`` for unchanged chunks, so those are overwritten in place), waits for a
refresh, then deletes whatever of the document is not the new version. Searches in between may see
chunks of both versions (never none); the retriever keeps only the newest version per document in
each result list to narrow that window further (see docs/opensearch.md).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from opensearchpy import OpenSearch, OpenSearchException, helpers

from gateway.errors import SearchUnavailable
from gateway.retrieval.base import Chunk
from gateway.retrieval.opensearch.client import RETRYABLE_STATUS, is_retryable, with_backoff
from gateway.retrieval.opensearch.mappings import bulk_actions
from gateway.retrieval.opensearch.queries import document_query

log = logging.getLogger(__name__)
Sleep = Callable[[float], None]


class BulkWriteError(SearchUnavailable):
    """Some chunks could not be indexed after retries; the caller marks the document failed."""

    code = "search_write_failed"
    title = "Search index write failed"

    def __init__(self, detail: str, failed_chunk_ids: Sequence[str]) -> None:
        super().__init__(detail)
        self.failed_chunk_ids = tuple(failed_chunk_ids)


def _item_failures(errors: list[dict[str, Any]]) -> tuple[set[str], list[str]]:
    """Split ``helpers.bulk`` error items into retryable ids and permanently failed ids."""
    retry: set[str] = set()
    permanent: list[str] = []
    for item in errors:
        result: dict[str, Any] = next(iter(item.values()), {})
        chunk_id = str(result.get("_id"))
        if result.get("status") in RETRYABLE_STATUS:
            retry.add(chunk_id)
        else:
            log.warning("bulk item %s failed permanently: %r", chunk_id, result.get("error"))
            permanent.append(chunk_id)
    return retry, permanent


def index_chunks(
    client: OpenSearch,
    alias: str,
    chunks: Sequence[Chunk],
    *,
    attempts: int,
    base_delay: float = 0.5,
    sleep: Sleep = time.sleep,
) -> None:
    """Bulk-index ``chunks`` (``_id = chunk_id``, ``refresh=wait_for``), retrying 429/5xx items.

    Raises ``BulkWriteError`` naming the chunks that never made it.
    """
    pending = bulk_actions(alias, list(chunks))
    tries = max(attempts, 1)
    for attempt in range(tries):
        try:
            _, errors = helpers.bulk(
                client, pending, raise_on_error=False, refresh="wait_for", max_chunk_bytes=10 * 2**20
            )
        except OpenSearchException as exc:
            if not is_retryable(exc):
                log.warning("bulk request failed: %r", exc)
                raise BulkWriteError("search index rejected the write", [a["_id"] for a in pending]) from exc
            retry_ids = {str(a["_id"]) for a in pending}
        else:
            retry_ids, permanent = _item_failures(list(errors))
            if permanent:
                raise BulkWriteError(f"{len(permanent)} chunk(s) were rejected by the search index", permanent)
        pending = [a for a in pending if a["_id"] in retry_ids]
        if not pending:
            return
        if attempt < tries - 1:
            sleep(base_delay * 2**attempt * (1 + random.random() / 2))  # noqa: S311 (jitter)
    raise BulkWriteError(
        f"{len(pending)} chunk(s) could not be indexed after {tries} attempts", [a["_id"] for a in pending]
    )


def delete_document_chunks(
    client: OpenSearch,
    alias: str,
    tenant: str,
    document_id: str,
    *,
    except_version: int | None = None,
    attempts: int,
    sleep: Sleep = time.sleep,
) -> int:
    """Delete a document's chunks (all, or all but one version) and refresh; returns the count.

    Version conflicts (a concurrent write touched a chunk) re-run the delete, so no stale chunk
    survives a conflict.
    """
    body = {"query": document_query(tenant, document_id, except_version=except_version)}
    deleted = 0
    for _ in range(max(attempts, 1)):
        response = with_backoff(
            "delete",
            lambda: client.delete_by_query(index=alias, body=body, refresh=True, conflicts="proceed"),
            attempts=attempts,
            sleep=sleep,
        )
        if response.get("failures"):
            log.warning("delete_by_query failures: %r", response["failures"])
            raise SearchUnavailable("search backend failed to delete every chunk")
        deleted += int(response.get("deleted", 0))
        if not response.get("version_conflicts"):
            return deleted
    raise SearchUnavailable("search backend kept reporting write conflicts while deleting chunks")
