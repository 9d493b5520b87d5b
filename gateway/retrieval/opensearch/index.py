"""Index lifecycle: versioned index behind an alias, ``_meta`` checks, pipelines, reindex.

All functions take a client and translate failures into ``SearchUnavailable``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from opensearchpy import NotFoundError, OpenSearch, RequestError

from gateway.errors import SearchUnavailable
from gateway.retrieval.base import FusionConfig
from gateway.retrieval.opensearch.client import unavailable_on_error
from gateway.retrieval.opensearch.mappings import (
    LEGACY_SPACE_TYPE,
    SPACE_TYPE,
    index_body,
    index_name,
    index_version,
    reindex_body,
    swap_alias_actions,
    write_block_body,
)
from gateway.retrieval.opensearch.pipelines import ClusterFeatures, pipeline_body, pipeline_name
from gateway.retrieval.opensearch.queries import DEFAULT_MAX_TERMS_COUNT

log = logging.getLogger(__name__)


def current_index(client: OpenSearch, alias: str) -> str | None:
    """The concrete index behind ``alias``; ``None`` when neither alias nor index exists."""
    with unavailable_on_error("index lookup"):
        try:
            found: dict[str, Any] = client.indices.get_alias(name=alias)
        except NotFoundError:
            if client.indices.exists(index=alias):
                raise SearchUnavailable(f"{alias} is a plain index, not an alias; migrate it with reindex") from None
            return None
    if len(found) != 1:
        writers = [name for name, spec in found.items() if spec["aliases"][alias].get("is_write_index")]
        if len(writers) != 1:
            raise SearchUnavailable(f"alias {alias} points at {len(found)} indices")
        return writers[0]
    return next(iter(found))


def alias_exists(client: OpenSearch, alias: str) -> bool:
    """Whether ``alias`` exists (a tenant that has never written has no index)."""
    with unavailable_on_error("alias lookup"):
        return bool(client.indices.exists_alias(name=alias))


def tenant_aliases(client: OpenSearch, alias: str) -> list[str]:
    """Every tenant alias under the root ``alias`` (``<alias>-t-*``), sorted."""
    with unavailable_on_error("alias listing"):
        try:
            found: dict[str, Any] = client.indices.get_alias(name=f"{alias}-t-*")
        except NotFoundError:
            return []
    return sorted({name for spec in found.values() for name in spec.get("aliases", {}) if name.startswith(alias)})


def index_meta(client: OpenSearch, index: str) -> dict[str, Any]:
    """The mapping ``_meta`` of ``index`` (embedding model, dimension, schema version)."""
    with unavailable_on_error("mapping lookup"):
        mapping = client.indices.get_mapping(index=index)
        meta: dict[str, Any] = mapping[index]["mappings"].get("_meta", {})
    return meta


def max_terms_count(client: OpenSearch, index: str) -> int:
    """``index.max_terms_count`` of ``index`` (the largest ``terms`` list a query may carry)."""
    with unavailable_on_error("settings lookup"):
        settings = client.indices.get_settings(index=index)
        value = settings[index]["settings"]["index"].get("max_terms_count", DEFAULT_MAX_TERMS_COUNT)
    return int(value)


def check_meta(meta: dict[str, Any], embedding_model: str, dimension: int) -> None:
    """Refuse an index built with another embedder: its vectors would be meaningless."""
    if meta.get("embedding_model") != embedding_model or meta.get("dimension") != dimension:
        raise SearchUnavailable(
            f"the search index was built with {meta.get('embedding_model')!r} "
            f"(dimension {meta.get('dimension')}), not {embedding_model!r} (dimension {dimension}); "
            "re-ingest into a new index"
        )


def ensure_index(client: OpenSearch, alias: str, embedding_model: str, dimension: int) -> str:
    """Create ``<alias>-v1`` with the alias if missing; refuse a model/dimension mismatch."""
    index = current_index(client, alias)
    if index is None:
        index = index_name(alias, 1)
        with unavailable_on_error("index creation"):
            try:
                body = index_body(embedding_model, dimension, alias=alias, space_type=space_type(client))
                client.indices.create(index=index, body=body)
                log.info("created search index %s behind alias %s", index, alias)
            except RequestError as exc:
                if exc.error != "resource_already_exists_exception":
                    raise
                index = current_index(client, alias) or index  # another process won the race
    check_meta(index_meta(client, index), embedding_model, dimension)
    return index


def put_pipelines(client: OpenSearch, alias: str, fusions: Iterable[FusionConfig], *, explain: bool) -> set[str]:
    """Create (or overwrite) the search pipelines for ``fusions``; returns those that exist now.

    A 400 means the cluster lacks the processor (no neural-search plugin) or the pipeline API:
    that pipeline is skipped and searches use client-side fusion. Anything else is an outage.
    """
    names: set[str] = set()
    for fusion in fusions:
        name = pipeline_name(alias, fusion, explain=explain)
        with unavailable_on_error("search pipeline creation"):
            try:
                client.search_pipeline.put(id=name, body=pipeline_body(fusion, explain=explain))
            except RequestError as exc:
                log.warning("search pipeline %s refused (%s); using client-side fusion", name, exc.error)
                continue
        names.add(name)
    return names


def pipeline_exists(client: OpenSearch, name: str) -> bool:
    """Whether the search pipeline ``name`` exists; missing (404) or no pipeline API (400): no."""
    with unavailable_on_error("search pipeline lookup"):
        try:
            client.search_pipeline.get(id=name)
        except (NotFoundError, RequestError):
            return False
    return True


def space_type(client: OpenSearch) -> str:
    """The k-NN space for a new index on this cluster (inner product where Lucene has it)."""
    return SPACE_TYPE if cluster_features(client).inner_product else LEGACY_SPACE_TYPE


def cluster_features(client: OpenSearch) -> ClusterFeatures:
    """Version-dependent features of the cluster, from ``GET /``."""
    with unavailable_on_error("cluster info"):
        return ClusterFeatures.from_info(client.info())


def next_index_name(client: OpenSearch, alias: str) -> str:
    """``<alias>-v<n+1>`` where ``n`` is the highest build present (a failed reindex leaves one)."""
    with unavailable_on_error("index listing"):
        existing = client.indices.get(index=f"{alias}-v*", allow_no_indices=True, expand_wildcards="all")
    return index_name(alias, max((index_version(alias, name) for name in existing), default=0) + 1)


def reindex(client: OpenSearch, alias: str) -> str:
    """Copy the index into ``<alias>-v<n+1>`` with the current mapping, then swap the alias.

    Writes to the old index are blocked during the copy, so a concurrent ingest fails loudly
    (and is retried by its caller) instead of landing in an index about to be retired. Searches
    keep using the old index until the atomic swap: no downtime.
    """
    old = current_index(client, alias)
    if old is None:
        raise SearchUnavailable(f"no index behind alias {alias}; run init first")
    meta = index_meta(client, old)
    new = next_index_name(client, alias)
    with unavailable_on_error("reindex"):
        body = index_body(str(meta["embedding_model"]), int(meta["dimension"]), space_type=space_type(client))
        client.indices.create(index=new, body=body)
        client.indices.put_settings(index=old, body=write_block_body(True))
        try:
            result = client.reindex(body=reindex_body(old, new), refresh=True, wait_for_completion=True)
            if result.get("failures"):
                raise SearchUnavailable(f"reindex into {new} reported failures")
            client.indices.update_aliases(body=swap_alias_actions(alias, old, new))
        except BaseException:
            client.indices.put_settings(index=old, body=write_block_body(False))
            raise
    log.info("reindexed %s -> %s; alias %s swapped (old index kept, write-blocked)", old, new, alias)
    return new
