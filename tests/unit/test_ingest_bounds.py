"""What one document may cost is bounded (issue 7, item 17): chunks, parse time, concurrency, shutdown."""

from __future__ import annotations

import threading
import time

import pytest

from gateway.errors import GatewayError, ServiceUnavailable
from gateway.ingest.documents import Submission
from gateway.ingest.prepare import DocumentTooLarge, IngestLimits, prepare
from gateway.ingest.workers import IngestBusy, IngestWorkers

LIMITS = IngestLimits(max_bytes=20 * 2**20, max_chunks=50, chunk_tokens=200, overlap_tokens=30)


def _html(megabytes: float) -> bytes:
    cell = b"<div><p>lorem <b>ipsum</b> dolor sit amet</p></div>"
    return b"<html><body>" + cell * int(megabytes * 2**20 / len(cell)) + b"</body></html>"


def test_a_document_over_the_chunk_limit_is_refused_before_chunking() -> None:
    words = " ".join(["word"] * 200_000)  # ~1,100 chunks at 200 tokens
    start = time.perf_counter()
    with pytest.raises(DocumentTooLarge) as refused:
        prepare(Submission("d", "c", text=words), LIMITS)
    assert refused.value.status_code == 413 and time.perf_counter() - start < 2.0


def test_a_document_over_the_byte_limit_is_refused() -> None:
    small = IngestLimits(max_bytes=1000, max_chunks=50, chunk_tokens=200, overlap_tokens=30)
    with pytest.raises(DocumentTooLarge):
        prepare(Submission("d", "c", content=b"x" * 1001, mime_type="text/plain"), small)


def test_small_plain_text_is_prepared_in_process() -> None:
    workers = IngestWorkers(workers=1, parse_timeout=5, inline_bytes=1024, queue_timeout=1)
    prepared = workers.prepare(Submission("d", "c", text="# T\n\nhello there"), LIMITS)
    assert prepared.spans and workers._pool is None


def test_a_parse_that_overruns_its_time_is_killed_and_refused() -> None:
    workers = IngestWorkers(workers=1, parse_timeout=0.3, inline_bytes=0, queue_timeout=1)
    try:
        start = time.perf_counter()
        with pytest.raises(DocumentTooLarge, match="longer than"):
            workers.prepare(Submission("d", "c", content=_html(4), mime_type="text/html"), LIMITS)
        assert time.perf_counter() - start < 20
        ok = workers.prepare(Submission("d", "c", content=b"<p>fine</p>", mime_type="text/html"), LIMITS)
        assert ok.spans  # a fresh worker took over
    finally:
        workers.shutdown()


def test_shutdown_ends_a_parse_in_flight_at_once() -> None:
    workers = IngestWorkers(workers=1, parse_timeout=120, inline_bytes=0, queue_timeout=1)
    errors: list[GatewayError] = []

    def ingest() -> None:
        try:
            workers.prepare(Submission("d", "c", content=_html(6), mime_type="text/html"), LIMITS)
        except GatewayError as exc:
            errors.append(exc)

    thread = threading.Thread(target=ingest)
    thread.start()
    time.sleep(1.0)
    start = time.perf_counter()
    workers.shutdown()
    thread.join(timeout=15)
    assert not thread.is_alive() and time.perf_counter() - start < 15
    assert len(errors) == 1 and isinstance(errors[0], ServiceUnavailable)
    with pytest.raises(ServiceUnavailable):
        workers.prepare(Submission("d", "c", content=b"<p>x</p>", mime_type="text/html"), LIMITS)


def test_indexing_slots_are_bounded_and_a_waiter_gets_503() -> None:
    workers = IngestWorkers(workers=1, parse_timeout=5, inline_bytes=0, queue_timeout=0.2)
    with workers.slot(), pytest.raises(IngestBusy), workers.slot():
        pass


def test_document_locks_do_not_grow_with_the_number_of_documents() -> None:
    from sqlalchemy import create_engine

    from gateway.ingest.locks import STRIPES, DocumentLocks

    locks = DocumentLocks(create_engine("sqlite://"))
    for i in range(5000):
        with locks.hold("acme", [f"doc-{i}", f"doc-{i + 1}"]):
            pass
    assert len(locks._stripes) == STRIPES  # the old per-document dict held 5,000 locks here
