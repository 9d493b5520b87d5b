"""The benchmark's documents, built once and cached, and their embedded passages.

Passages are what the gateway embeds at ingest: the first ``PASSAGES`` chunks of the product's
chunker (200 tokens, 30 overlap), embedded with the product's MiniLM (cached by text hash).
"""

from __future__ import annotations

import pickle
from pathlib import Path

from bench.poisoning.attacks import attack_samples
from bench.poisoning.clean import carriers, clean_samples
from bench.poisoning.embeddings import embed_all
from bench.poisoning.samples import Sample
from gateway.retrieval.chunking import chunk_text
from guards.poisoning.base import Passage

OUT = Path(__file__).resolve().parents[1] / "out"
PASSAGES = 2
"""The gateway embeds 4 by default (``GATEWAY_SCREENING_PLANTED_PASSAGES``); the benchmark embeds the
first 2 of each document, because embedding ~17,000 passages on this shared 2-core machine takes
over an hour. Attack documents rarely have more than 2; clean documents' later passages are not
scored here, so the learned head's false-positive rate on long documents is measured on their
first ~300 words only."""
CORPUS_VERSION = 2
"""Bumped when the document set changes (2: python3-doc replaced by other Debian documentation)."""


def corpus() -> tuple[list[Sample], list[Sample]]:
    """(clean, attacks), cached under ``bench/out``."""
    cache = OUT / f"poisoning_samples_v{CORPUS_VERSION}.pkl"
    if cache.exists():
        loaded: tuple[list[Sample], list[Sample]] = pickle.loads(cache.read_bytes())  # noqa: S301 - our own cache
        return loaded
    clean = clean_samples()
    attacks = attack_samples(carriers(clean))
    OUT.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps((clean, attacks)))
    return clean, attacks


def passage_texts(text: str, max_chunks: int = PASSAGES) -> list[str]:
    return [s.text for s in chunk_text(text, max_tokens=200, overlap_tokens=30)[:max_chunks]] or [text]


def embedded_passages(texts: dict[str, str]) -> dict[str, tuple[Passage, ...]]:
    """Document id → its first passages with their MiniLM vectors."""
    pieces = {key: passage_texts(text) for key, text in texts.items()}
    flat = [p for ps in pieces.values() for p in ps]
    vectors = embed_all(flat)
    out, offset = {}, 0
    for key, ps in pieces.items():
        out[key] = tuple(Passage(p, vectors[offset + j]) for j, p in enumerate(ps))
        offset += len(ps)
    return out
