"""The micro-batcher (``gateway.batching``): every caller gets exactly its own results, in order,
whatever it was batched with; a failed call fails only its batch; the PII guard's spaCy pass,
batched across concurrent callers, finds exactly what the engine finds one text at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from gateway.batching import MicroBatcher
from gateway.errors import Busy, ServiceUnavailable
from guards.pii.engine import PiiEngine
from guards.pii.policy import PiiPolicy

POLICY = Path(__file__).resolve().parents[2] / "policies" / "pii.toml"


def together(fn: Callable[[int], object], callers: int) -> list[object]:
    """``fn(i)`` on ``callers`` threads released at once; results (or exceptions) by caller."""
    out: list[object] = [None] * callers
    barrier = threading.Barrier(callers)

    def work(i: int) -> None:
        barrier.wait()
        try:
            out[i] = fn(i)
        except BaseException as exc:  # collected and asserted on by the caller
            out[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return out


class Recorder:
    """``fn`` for the batcher: doubles each item and records the batch sizes."""

    def __init__(self, fail: bool = False, short: bool = False) -> None:
        self.calls: list[int] = []
        self.fail, self.short = fail, short

    def __call__(self, items: list[int]) -> Sequence[int]:
        self.calls.append(len(items))
        if self.fail:
            raise RuntimeError("backend down")
        out = [2 * x for x in items]
        return out[:-1] if self.short else out


def batcher(fn: Recorder, *, window: float = 0.05, max_batch: int = 64, max_queue: int = 64) -> MicroBatcher[int, int]:
    return MicroBatcher(
        fn, name="test", window_seconds=window, max_batch=max_batch, max_queue=max_queue, busy=Busy
    )  # fmt: skip


@pytest.mark.parametrize("window", [0.05, 0.0])
def test_each_caller_gets_its_own_results_in_order(window: float) -> None:
    fn = Recorder()
    b = batcher(fn, window=window)
    got = together(lambda i: list(b.run([10 * i, 10 * i + 1, 10 * i + 2])), 12)
    assert got == [[20 * i, 20 * i + 2, 20 * i + 4] for i in range(12)]
    assert sum(fn.calls) == 36
    if window:  # with a window the twelve callers share calls; without, they may or may not
        assert len(fn.calls) < 12
    b.close()


def test_no_batch_exceeds_max_batch_unless_one_caller_brings_more() -> None:
    fn = Recorder()
    b = batcher(fn, max_batch=4)
    got = together(lambda i: list(b.run([i] * (6 if i == 0 else 1))), 10)
    assert got[0] == [0] * 6 and got[1:] == [[2 * i] for i in range(1, 10)]
    assert all(n <= 4 for n in fn.calls if n != 6)
    b.close()


@pytest.mark.parametrize(
    ("fn", "error"),
    [(Recorder(fail=True), RuntimeError), (Recorder(short=True), RuntimeError)],
    ids=["fn raises", "fn returns too few results"],
)
def test_a_failed_call_fails_every_caller_of_its_batch_and_the_thread_lives_on(
    fn: Recorder, error: type[Exception]
) -> None:
    b = batcher(fn)
    got = together(lambda i: b.run([i]), 5)
    assert all(isinstance(e, error) for e in got)
    fn.fail = fn.short = False
    assert list(b.run([21])) == [42]
    b.close()


def test_empty_input_needs_no_thread_and_a_closed_batcher_answers_503() -> None:
    fn = Recorder()
    b = batcher(fn)
    assert list(b.run([])) == [] and fn.calls == []
    b.close()
    with pytest.raises(ServiceUnavailable):
        b.run([1])


def test_a_full_queue_is_busy_at_once() -> None:
    release, entered = threading.Event(), threading.Event()

    def slow(items: list[int]) -> list[int]:
        entered.set()
        release.wait(10)
        return items

    b: MicroBatcher[int, int] = MicroBatcher(
        slow, name="slow", window_seconds=0.0, max_batch=1, max_queue=1, busy=Busy
    )  # fmt: skip
    holder = threading.Thread(target=b.run, args=([1],))
    holder.start()
    assert entered.wait(5)
    queued = threading.Thread(target=b.run, args=([2],))
    queued.start()
    while len(b._queue) < 1:
        threading.Event().wait(0.001)
    with pytest.raises(Busy) as refused:
        b.run([3])
    assert refused.value.status_code == 503
    release.set()
    holder.join(5)
    queued.join(5)
    b.close()


TEXTS = [
    "Please forward the invoice to Jane Doe at jane.doe@example.com before Friday.",
    "Call Dr. Martin Schmidt on +49 30 1234567 about the Berlin office lease.",
    "The travel policy caps hotel rates at 180 EUR per night in Paris.",
    "what does clause 4 say about per diems?",
    "Maria Garcia lives at 12 Main Street, Springfield; her IBAN is DE89 3704 0044 0532 0130 00.",
    "No personal data here, only the quarterly figures and a link to the wiki.",
    "   ",
    "Ask Tom about it.",
]


@pytest.fixture(scope="module")
def pii() -> PiiEngine:
    return PiiEngine(PiiPolicy.from_file(POLICY))


def test_batched_spacy_passes_find_exactly_what_the_engine_finds_alone(pii: PiiEngine) -> None:
    nlp: MicroBatcher[str, object] = MicroBatcher(
        pii.nlp_artifacts_many, name="pii", window_seconds=0.05, max_batch=32, max_queue=64, busy=Busy
    )  # fmt: skip
    batched = pii.with_nlp(lambda text: nlp.run([text])[0])
    alone = [[(r.entity_type, r.start, r.end, round(r.score, 6)) for r in pii.analyze(t)] for t in TEXTS]
    got = together(
        lambda i: [(r.entity_type, r.start, r.end, round(r.score, 6)) for r in batched.analyze(TEXTS[i])], len(TEXTS)
    )
    assert got == alone
    assert any(alone)  # the table holds PII the engine finds
    assert nlp.batches < len(TEXTS) - 1  # shared passes (the blank text needs none)
    assert batched.redact(TEXTS[0]).text == pii.redact(TEXTS[0]).text
    nlp.close()
