"""Flood bursts: near-copies of one planted page from one source within minutes."""

from __future__ import annotations

import random

from bench.poisoning.payloads import CLAIMS
from bench.poisoning.samples import Sample


def flood_bursts(carriers: list[str], bursts: int = 30, size: int = 8, seed: int = 9) -> list[list[Sample]]:
    """``bursts`` lists of ``size`` near-copies; each copy differs by a few words and a reference number."""
    rng = random.Random(seed)
    out = []
    for b in range(bursts):
        base = " ".join([*rng.sample(carriers, 2), rng.choice(CLAIMS)]).split()
        burst = []
        for n in range(size):
            words = list(base)
            for _ in range(3):
                words[rng.randrange(len(words))] = rng.choice(["note", "update", "see", "info", "new"])
            text = " ".join(words) + f" Ref {rng.randint(1000, 9999)}."
            burst.append(Sample(f"flood-{b}-{n}", "flood", "near_copy", f"flood:{b}", text, source=f"uploader-{b}"))
        out.append(burst)
    return out
