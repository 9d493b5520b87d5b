"""Screening cost alone: processor and wall milliseconds per 1,000 words on clean documents.

``python -m bench.poisoning --speed``: the rule detectors (no embeddings, so the planted-answer
check is not included; its cost is measured by the full run) over the clean documents of 200+
words (every ``step``-th), after a warm-up pass, with the keyword filter in the same process and
the load average before and after, since on a shared machine wall time also counts others' work.
"""

from __future__ import annotations

import os
import time
from statistics import median
from typing import Any

from bench.poisoning.keyword import keyword_flags
from bench.poisoning.samples import Sample
from bench.poisoning.screening import document
from guards.poisoning.screen import default_screen

MIN_WORDS = 200


def speed(clean: list[Sample], step: int = 3, rounds: int = 3) -> dict[str, Any]:
    """Median over ``rounds`` passes of the whole screen, each detector, and the keyword filter."""
    parsed = (document(s) for s in clean[::step])  # HTML pages are parsed first: their words are known after
    docs = [d for d in parsed if len(d.text.split()) >= MIN_WORDS]
    words = sum(len(d.text.split()) for d in docs)
    screen = default_screen()
    load_before = os.getloadavg()
    for doc in docs:  # warm-up: compiled patterns, anchor caches
        screen.screen(doc, trust="standard")

    def per_1000(run: Any) -> dict[str, float]:
        passes = []
        for _ in range(rounds):
            start, cpu = time.perf_counter(), time.process_time()
            for doc in docs:
                run(doc)
            passes.append((time.perf_counter() - start, time.process_time() - cpu))
        return {"wall": round(median(w for w, _ in passes) * 1e6 / words, 3),
                "cpu": round(median(c for _, c in passes) * 1e6 / words, 3)}  # fmt: skip

    out: dict[str, Any] = {"documents": len(docs), "words": words}
    out["screen"] = per_1000(lambda d: screen.screen(d, trust="standard"))
    out["keyword"] = per_1000(
        lambda d: keyword_flags(d.text) or keyword_flags((d.raw or b"").decode("utf-8", "replace"))
    )
    out["per_detector"] = {det.name: per_1000(det.inspect_document) for det in screen.detectors}
    out["load_average"] = {
        "before": [round(x, 2) for x in load_before],
        "after": [round(x, 2) for x in os.getloadavg()],
    }
    return out
