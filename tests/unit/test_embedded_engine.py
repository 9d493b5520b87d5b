"""Embedded engine specifics: rebuild from the chunk store, compaction, search paths, failures."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.authz.filter import AclFilter
from gateway.errors import SearchUnavailable
from gateway.retrieval.base import SearchRequest
from gateway.retrieval.embed import HashingEmbedder
from gateway.retrieval.embedded import EmbeddedRetriever
from gateway.retrieval.embedded.tenants import tenant_dir
from tests.contracts.conftest import make_chunks, put

EMBEDDER = HashingEmbedder(64)
ACL = AclFilter("t1", frozenset({"user:a"}), None)


def open_retriever(directory: Path, **kwargs: float) -> EmbeddedRetriever:
    retriever = EmbeddedRetriever(directory, **kwargs)  # type: ignore[arg-type]
    retriever.ensure_index(EMBEDDER.model_id, EMBEDDER.dimension)
    return retriever


def request(text: str = "policy travel", acl: AclFilter = ACL) -> SearchRequest:
    return SearchRequest(text, EMBEDDER.embed([text])[0], acl, k=10, one_per_document=False)


def fill(retriever: EmbeddedRetriever, n: int = 6) -> None:
    for i in range(n):
        put(retriever, make_chunks(f"d{i}", [f"policy travel {i}", f"badge rules {i} travel"]))


@pytest.mark.parametrize("damage", ["delete_index", "dirty_marker", "garbage_index"])
def test_lexical_index_is_rebuilt_from_the_chunk_store(tmp_path: Path, damage: str) -> None:
    retriever = open_retriever(tmp_path)
    fill(retriever)
    before = retriever.search(request())
    retriever.close()
    index = tenant_dir(tmp_path / "bm25", "t1")
    if damage == "delete_index":
        shutil.rmtree(index)
    elif damage == "dirty_marker":
        index.with_name(index.name + ".generation").write_text("dirty")
    else:
        for f in index.iterdir():
            if f.is_file():
                f.write_bytes(b"garbage")
    again = open_retriever(tmp_path)
    assert again.search(request()) == before
    again.close()


def test_compaction_keeps_results_and_drops_dead_rows(tmp_path: Path) -> None:
    retriever = open_retriever(tmp_path, compact_dead_ratio=1.0)
    fill(retriever)
    for i in range(3):
        put(retriever, make_chunks(f"d{i}", [f"policy travel {i} v2"], version=2))
    before = retriever.search(request())
    assert retriever.stats()["dead"] == 6
    retriever.compact()
    assert retriever.stats() == {"live": 9, "dead": 0, "rows": 9}
    assert retriever.search(request()) == before
    put(retriever, make_chunks("d9", ["policy travel new"]))
    assert "d9" in {h.document_id for h in retriever.search(request())}
    retriever.close()


def test_compaction_runs_by_itself_past_the_dead_ratio(tmp_path: Path) -> None:
    retriever = open_retriever(tmp_path, compact_dead_ratio=0.3)
    fill(retriever, 4)
    retriever.delete_document("t1", "d0")
    assert retriever.stats()["dead"] == 2
    retriever.delete_document("t1", "d1")
    assert retriever.stats() == {"live": 4, "dead": 0, "rows": 4}
    retriever.close()


def test_gathering_and_scoring_everything_agree(tmp_path: Path) -> None:
    gather = open_retriever(tmp_path / "g", gather_fraction=1.0)
    score_all = open_retriever(tmp_path / "s", gather_fraction=0.0)
    for retriever in (gather, score_all):
        fill(retriever, 10)
    assert gather.vector_search(request()) == score_all.vector_search(request())


def test_a_search_racing_a_compaction_retries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    retriever = open_retriever(tmp_path)
    fill(retriever)
    real = retriever._store.fetch_hits
    calls: list[int] = []

    def vanishing_once(rows: list[int]) -> object:
        calls.append(1)
        return {} if len(calls) == 1 else real(rows)

    monkeypatch.setattr(retriever._store, "fetch_hits", vanishing_once)
    assert len(retriever.vector_search(request())) == 12
    assert len(calls) == 2


def test_internal_failure_is_search_unavailable_not_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    retriever = open_retriever(tmp_path)
    fill(retriever)

    def broken(rows: list[int]) -> object:
        raise OSError("disk gone")

    monkeypatch.setattr(retriever._store, "fetch_hits", broken)
    with pytest.raises(SearchUnavailable):
        retriever.search(request())


def test_closed_index_is_unavailable(tmp_path: Path) -> None:
    retriever = open_retriever(tmp_path)
    retriever.close()
    with pytest.raises(SearchUnavailable):
        retriever.ping()
    with pytest.raises(SearchUnavailable):
        retriever.search(request())


def test_writes_need_ensure_index_first(tmp_path: Path) -> None:
    retriever = EmbeddedRetriever(tmp_path)
    with pytest.raises(SearchUnavailable):
        put(retriever, make_chunks("d", ["text"]))
    assert retriever.search(request()) == []
    retriever.close()


def test_chunks_of_another_document_are_refused(tmp_path: Path) -> None:
    retriever = open_retriever(tmp_path)
    with pytest.raises(ValueError, match="belong"):
        retriever.replace_document("t1", "other", make_chunks("d", ["text"]))
    retriever.close()


def test_wrong_query_dimension_is_refused(tmp_path: Path) -> None:
    retriever = open_retriever(tmp_path)
    fill(retriever, 1)
    bad = SearchRequest("policy", HashingEmbedder(8).embed(["policy"])[0], ACL)
    with pytest.raises(SearchUnavailable):
        retriever.vector_search(bad)
    retriever.close()


def test_bulk_replace_is_one_write(tmp_path: Path) -> None:
    retriever = open_retriever(tmp_path)
    retriever.replace_documents([("t1", f"d{i}", make_chunks(f"d{i}", ["policy travel"])) for i in range(5)])
    assert retriever.count() == 5
    retriever.close()


def test_a_second_writer_is_refused_with_a_clear_reason(tmp_path: Path) -> None:
    retriever = open_retriever(tmp_path)
    fill(retriever, 2)
    with pytest.raises(SearchUnavailable, match="in use by another gateway process"):
        EmbeddedRetriever(tmp_path)
    retriever.close()


def test_read_only_open_searches_beside_the_writer_and_refuses_writes(tmp_path: Path) -> None:
    writer = open_retriever(tmp_path)
    fill(writer, 3)
    reader = EmbeddedRetriever(tmp_path, read_only=True)
    assert reader.search(request()) == writer.search(request())
    with pytest.raises(SearchUnavailable, match="read-only"):
        put(reader, make_chunks("d9", ["policy travel 9"]))
    reader.close()
    writer.close()


@pytest.mark.parametrize(
    ("query", "phrases"),
    [
        ("--preserve-root", [["preserv", "root"]]),
        ("EPOLL_CTL_ADD and O_CLOEXEC", [["epol", "ctl", "add"], ["o", "cloexec"]]),
        ("plain words only", []),
        ("ENG-3 ENG-3", [["eng", "3"]]),
        ("mount a read-only file system", []),  # a hyphenated word of prose is no identifier
        ("read-only", [["read", "onli"]]),  # ... unless it is the whole query
    ],
)
def test_compound_identifiers_become_phrases(query: str, phrases: list[list[str]]) -> None:
    from gateway.retrieval.embedded.lexical import analyzer, compound_phrases

    assert compound_phrases(query, analyzer().analyze) == phrases


def test_the_exact_identifier_outranks_its_parts_scattered(tmp_path: Path) -> None:
    retriever = open_retriever(tmp_path)
    put(retriever, make_chunks("scattered", ["root of the tree; preserve the order of the root nodes"]))
    put(retriever, make_chunks("exact", ["use --preserve-root to refuse recursive removal of / itself"]))
    hits = retriever.lexical_search(request("--preserve-root"))
    assert hits[0].document_id == "exact"
    retriever.close()


def test_a_write_refused_before_anything_committed_leaves_the_engine_serving(tmp_path: Path) -> None:
    retriever = open_retriever(tmp_path)
    fill(retriever, 2)
    before = retriever.search(request())
    bad = make_chunks("bad", ["policy travel bad"], acl_allow=("group:a\x1fb",))  # refused by the store
    with pytest.raises(SearchUnavailable):
        put(retriever, bad)
    assert retriever.search(request()) == before
    put(retriever, make_chunks("d9", ["policy travel 9"]))  # still writable
    retriever.close()
    again = open_retriever(tmp_path)
    assert {h.document_id for h in again.search(request())} >= {"d0", "d1", "d9"}
    again.close()


def test_a_tenant_index_ahead_of_the_store_stops_serving_until_the_restart_rebuilds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    retriever = open_retriever(tmp_path)
    fill(retriever, 2)
    before = retriever.search(request())
    writer = retriever._store._writer

    @contextmanager
    def commit_fails() -> Iterator[sqlite3.Connection]:
        writer.execute("BEGIN IMMEDIATE")
        try:
            yield writer  # the tenant's BM25 index commits in here
        finally:
            writer.execute("ROLLBACK")
        raise sqlite3.OperationalError("disk I/O error")  # ... and the store's COMMIT fails

    monkeypatch.setattr(retriever._store, "transaction", commit_fails)
    with pytest.raises(SearchUnavailable):
        put(retriever, make_chunks("d7", ["policy travel 7"]))
    with pytest.raises(SearchUnavailable, match="restart"):
        retriever.search(request())
    monkeypatch.undo()
    retriever.close()
    again = open_retriever(tmp_path)  # the dirty tenant index is rebuilt from the store
    assert again.search(request()) == before
    again.close()
