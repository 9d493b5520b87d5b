"""Several processes on one embedded index (``gateway serve --workers N``): ``shared=True`` engines.

Two engines in one process behave as two workers do (each has its own snapshot, locks are
per open file); the concurrency test uses real processes. The whole conformance suite also runs
with writes through one engine and searches through another (``tests/contracts``,
``embedded-two-workers``), which covers the ACL filter property across processes.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def shared(directory: Path, **kwargs: float) -> EmbeddedRetriever:
    retriever = EmbeddedRetriever(directory, shared=True, **kwargs)  # type: ignore[arg-type]
    retriever.ensure_index(EMBEDDER.model_id, EMBEDDER.dimension)
    return retriever


def request(text: str, acl: AclFilter = ACL) -> SearchRequest:
    return SearchRequest(text, EMBEDDER.embed([text])[0], acl, k=50, one_per_document=False)


def documents(retriever: EmbeddedRetriever, text: str) -> set[str]:
    return {h.document_id for h in retriever.lexical_search(request(text))}


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[EmbeddedRetriever, EmbeddedRetriever]]:
    a, b = shared(tmp_path), shared(tmp_path)
    yield a, b
    a.close()
    b.close()


def test_a_write_in_one_worker_is_searchable_in_the_other_at_its_next_search(
    workers: tuple[EmbeddedRetriever, EmbeddedRetriever],
) -> None:
    a, b = workers
    put(a, make_chunks("d1", ["travel policy zebra"]))
    assert documents(b, "zebra") == {"d1"}
    assert b.count() == 1
    put(b, make_chunks("d2", ["badge rules zebra"]))  # and back: the row ids do not collide
    assert documents(a, "zebra") == {"d1", "d2"}
    assert {h.chunk_id for h in a.search(request("zebra"))} == {h.chunk_id for h in b.search(request("zebra"))}


def test_with_a_poll_interval_a_write_appears_within_it(tmp_path: Path) -> None:
    a, b = shared(tmp_path), shared(tmp_path, poll_seconds=0.3)
    assert documents(b, "zebra") == set()  # starts b's poll interval
    put(a, make_chunks("d1", ["travel policy zebra"]))
    time.sleep(0.35)
    assert documents(b, "zebra") == {"d1"}
    a.close()
    b.close()


def test_a_delete_disappears_from_the_other_worker(workers: tuple[EmbeddedRetriever, EmbeddedRetriever]) -> None:
    a, b = workers
    put(a, make_chunks("d1", ["travel policy zebra"]))
    put(a, make_chunks("d2", ["badge rules zebra"]))
    assert documents(b, "zebra") == {"d1", "d2"}
    a.delete_document("t1", "d1")
    assert documents(b, "zebra") == {"d2"}
    assert {h.document_id for h in b.vector_search(request("travel policy zebra"))} == {"d2"}
    assert b.stats()["live"] == 1


def test_a_new_version_replaces_the_old_one_in_the_other_worker(
    workers: tuple[EmbeddedRetriever, EmbeddedRetriever],
) -> None:
    a, b = workers
    put(a, make_chunks("d1", ["zebra one", "zebra two"], version=1))
    assert {h.version for h in b.search(request("zebra"))} == {1}
    put(a, make_chunks("d1", ["zebra three"], version=2))
    hits = b.search(request("zebra"))
    assert {h.version for h in hits} == {2}
    assert [h.text for h in hits] == ["zebra three"]


def test_compaction_in_one_worker_leaves_the_other_serving_the_same_results(tmp_path: Path) -> None:
    a = shared(tmp_path, compact_dead_ratio=1.0)
    b = shared(tmp_path, compact_dead_ratio=1.0)
    for i in range(12):
        put(a, make_chunks(f"d{i}", [f"policy travel {i}", f"badge rules {i} travel"]))
    assert len(b.search(request("travel"))) == 24  # b holds every row before the deletes
    for i in range(0, 12, 2):
        a.delete_document("t1", f"d{i}")
    put(a, make_chunks("d1", ["policy travel replaced"], version=2))
    a.compact()
    assert a.stats()["dead"] == 0
    after = b.search(request("travel"))
    assert b.stats() == a.stats()
    assert after == a.search(request("travel"))
    assert {h.document_id for h in after} == {f"d{i}" for i in range(1, 12, 2)}
    put(b, make_chunks("d99", ["travel late"]))  # b writes after the compaction: a catches up too
    assert "d99" in documents(a, "travel")
    b_after_write = b.search(request("travel"))
    assert a.search(request("travel")) == b_after_write
    a.close()
    b.close()
    fresh = EmbeddedRetriever(tmp_path)  # a single process re-reading everything agrees
    assert fresh.search(request("travel")) == b_after_write
    fresh.close()


def test_a_search_racing_another_threads_catch_up_never_reads_the_snapshot_before_it(
    workers: tuple[EmbeddedRetriever, EmbeddedRetriever],
) -> None:
    """Before: the catch-up recorded the store's state as seen *before* publishing the new snapshot,
    so a search on another thread found the store "seen", skipped the catch-up and read the old
    snapshot, after the write had been acknowledged (3 of 16 asks in a CI run of
    tests/e2e/test_serve_workers.py answered "no answer"). The catch-up is paused inside its publish
    here, and a second search runs meanwhile."""
    a, b = workers
    assert documents(b, "zebra") == set()
    put(a, make_chunks("d1", ["travel policy zebra"]))  # acknowledged in worker a
    in_publish, release = threading.Event(), threading.Event()
    publish = b._publish

    def slow_publish(touched: Any = None) -> None:
        if threading.current_thread().name == "catching-up":
            in_publish.set()
            release.wait(timeout=30)
        publish(touched)

    b._publish = slow_publish  # type: ignore[method-assign]
    first = threading.Thread(target=lambda: documents(b, "zebra"), name="catching-up")
    first.start()
    assert in_publish.wait(timeout=30)
    threading.Timer(0.5, release.set).start()  # the racing search must wait for the publish, not skip it
    assert documents(b, "zebra") == {"d1"}
    first.join(timeout=30)


def test_a_tenant_index_a_dead_writer_left_dirty_is_rebuilt_by_the_next_writer(
    tmp_path: Path, workers: tuple[EmbeddedRetriever, EmbeddedRetriever]
) -> None:
    a, b = workers
    put(a, make_chunks("d1", ["travel policy zebra"]))
    marker = tenant_dir(tmp_path / "bm25", "t1")
    marker.with_name(marker.name + ".generation").write_text("dirty")  # as a writer killed mid-write leaves it
    put(b, make_chunks("d2", ["badge rules zebra"]))
    assert documents(a, "zebra") == documents(b, "zebra") == {"d1", "d2"}
    assert marker.with_name(marker.name + ".generation").read_text() != "dirty"


def test_a_single_process_engine_and_shared_ones_refuse_each_other(tmp_path: Path) -> None:
    lone = EmbeddedRetriever(tmp_path)
    with pytest.raises(SearchUnavailable, match="single-process gateway"):
        EmbeddedRetriever(tmp_path, shared=True)
    lone.close()
    worker = EmbeddedRetriever(tmp_path, shared=True)
    with pytest.raises(SearchUnavailable, match="in use by another gateway process"):
        EmbeddedRetriever(tmp_path)
    worker.close()


def _write_many(directory: str, worker: int, count: int, start: Any) -> None:
    """One process's share of the concurrent writes (module level: spawned processes import it)."""
    retriever = shared(Path(directory), compact_dead_ratio=0.2)
    start.wait(timeout=180)  # both open first: a slow spawn under load must not serialise the writes
    started = time.time()
    for i in range(count):
        put(retriever, make_chunks(f"w{worker}-{i}", [f"zebra worker{worker} item{i}", "travel"]))
        # Both processes also replace (and so kill rows of) one shared document: compactions
        # run in both, interleaved with the other's appends.
        put(retriever, make_chunks("common", [f"zebra common by worker{worker} {i}"], version=worker * 1000 + i))
        if i % 5 == 4:
            retriever.delete_document("t1", f"w{worker}-{i - 1}")
    (Path(directory) / f"span-{worker}").write_text(f"{started} {time.time()}")
    retriever.close()


def test_concurrent_writes_from_two_processes_lose_nothing_and_keep_the_store_whole(tmp_path: Path) -> None:
    count = 15
    observer = shared(tmp_path)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    processes = [context.Process(target=_write_many, args=(str(tmp_path), w, count, start)) for w in (1, 2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
        assert process.exitcode == 0
    (a0, a1), (b0, b1) = ([float(t) for t in (tmp_path / f"span-{w}").read_text().split()] for w in (1, 2))
    assert a0 < b1 and b0 < a1  # the two processes' writes did overlap in time
    expected = {f"w{w}-{i}" for w in (1, 2) for i in range(count) if i % 5 != 3} | {"common"}
    assert documents(observer, "zebra") == expected
    common = [h for h in observer.search(request("common")) if h.document_id == "common"]
    assert len(common) == 1  # one version of the shared document, never two
    observer.close()
    with sqlite3.connect(tmp_path / "chunks.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        live = db.execute("SELECT document_id, COUNT(DISTINCT version) FROM chunks WHERE live = 1 GROUP BY 1")
        assert all(versions == 1 for _, versions in live)
    fresh = EmbeddedRetriever(tmp_path)  # the lexical index agrees with the store: no rebuild, same hits
    assert documents(fresh, "zebra") == expected
    assert fresh.count() == 2 * len(expected) - 1
    fresh.close()
