"""Backends under the conformance suite: add one ``pytest.param`` to ``BACKENDS`` to run them all.

A backend is a function ``open(state_dir) -> Retriever``. Calling it again with the same
directory must reach the same stored state (a "restart"); backends that keep state elsewhere
(a server) may use the directory's name as their index name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.retrieval.base import Chunk, Hit, IndexInfo, Retriever, SearchRequest
from gateway.retrieval.embed import HashingEmbedder
from gateway.retrieval.embedded import EmbeddedRetriever
from gateway.settings import OpenSearchSettings

DIMENSION = 64
EMBEDDER = HashingEmbedder(DIMENSION)


@dataclass(frozen=True)
class Backend:
    name: str
    open: Callable[[Path], Retriever]
    persistent: bool = True
    """Does the state survive ``close()`` and a new ``open`` of the same directory?"""


def _open_opensearch(directory: Path) -> Retriever:
    """A live OpenSearch index per test directory (``GATEWAY_OPENSEARCH_*`` settings)."""
    from gateway.retrieval.opensearch import OpenSearchRetriever
    from gateway.settings import OpenSearchSettings, SearchSettings

    alias = "gw-conformance-" + hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    settings = OpenSearchSettings().model_copy(update={"index_alias": alias})
    return OpenSearchRetriever(settings, SearchSettings())


class TwoWorkers:
    """Two shared embedded engines on one directory, as two ``gateway serve`` workers hold it:
    every write goes through one, every search through the other, so each search must first
    catch up with what the other engine committed (``EmbeddedRetriever(shared=True)``)."""

    def __init__(self, directory: Path) -> None:
        self.writer = EmbeddedRetriever(directory, shared=True)
        self.reader = EmbeddedRetriever(directory, shared=True)

    def ensure_index(self, embedding_model: str, dimension: int) -> IndexInfo:
        self.writer.ensure_index(embedding_model, dimension)
        return self.reader.ensure_index(embedding_model, dimension)

    def replace_document(self, tenant: str, document_id: str, chunks: Sequence[Chunk]) -> None:
        self.writer.replace_document(tenant, document_id, chunks)

    def replace_documents(self, items: Sequence[tuple[str, str, Sequence[Chunk]]]) -> None:
        self.writer.replace_documents(items)

    def delete_document(self, tenant: str, document_id: str) -> None:
        self.writer.delete_document(tenant, document_id)

    def search(self, request: SearchRequest) -> list[Hit]:
        return self.reader.search(request)

    def lexical_search(self, request: SearchRequest) -> list[Hit]:
        return self.reader.lexical_search(request)

    def vector_search(self, request: SearchRequest) -> list[Hit]:
        return self.reader.vector_search(request)

    def ping(self) -> None:
        self.reader.ping()

    def document_texts(self, tenant: str, document_id: str) -> list[str]:
        return self.reader.document_texts(tenant, document_id)

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


_OPENSEARCH_SKIP = (
    "!!! OpenSearch conformance NOT RUN: set GATEWAY_OPENSEARCH_URL (and _USERNAME/_PASSWORD/_CA_CERTS) "
    "to a live cluster, e.g. deploy/docker-compose.yml; see docs/opensearch.md !!!"
)

BACKENDS = [
    pytest.param(Backend("embedded", EmbeddedRetriever), id="embedded"),
    pytest.param(Backend("embedded-two-workers", TwoWorkers), id="embedded-two-workers"),
    pytest.param(
        Backend("opensearch", _open_opensearch),
        id="opensearch",
        marks=[
            pytest.mark.opensearch_live,
            pytest.mark.skipif(not OpenSearchSettings().url, reason=_OPENSEARCH_SKIP),
        ],
    ),
]

RetrieverFactory = Callable[..., Retriever]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    result: Backend = request.param
    return result


@pytest.fixture
def retriever_factory(backend: Backend, tmp_path: Path) -> Iterator[RetrieverFactory]:
    """Opens (or re-opens) the backend's index for this test, ``ensure_index``-ed; closes all after."""
    opened: list[Retriever] = []

    def open_index(name: str = "index") -> Retriever:
        retriever = backend.open(tmp_path / name)
        opened.append(retriever)
        retriever.ensure_index(EMBEDDER.model_id, EMBEDDER.dimension)
        return retriever

    yield open_index
    for retriever in opened:
        retriever.close()


@pytest.fixture
def retriever(retriever_factory: RetrieverFactory) -> Retriever:
    return retriever_factory()


def make_chunks(
    document_id: str,
    texts: Sequence[str],
    *,
    tenant: str = "t1",
    collection: str = "public",
    version: int = 1,
    acl_allow: tuple[str, ...] = (),
    acl_deny: tuple[str, ...] = (),
    title: str = "",
) -> list[Chunk]:
    """One document's chunks, embedded with the hashing embedder."""
    vectors = EMBEDDER.embed([f"{title} {t}" for t in texts])
    return [
        Chunk(
            chunk_id=f"{tenant}/{document_id}/v{version}/{i}",
            document_id=document_id,
            tenant=tenant,
            collection=collection,
            version=version,
            ordinal=i,
            title=title or document_id,
            text=text,
            acl_allow=acl_allow,
            acl_deny=acl_deny,
            vector=vectors[i],
        )
        for i, text in enumerate(texts)
    ]


def put(retriever: Retriever, chunks: Sequence[Chunk]) -> None:
    retriever.replace_document(chunks[0].tenant, chunks[0].document_id, chunks)
