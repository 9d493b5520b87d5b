"""The learned instruction head: a linear score over passage embeddings, used only for its own model."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.deps import provide_instruction_head
from gateway.retrieval.embed import _PACKAGED_MODEL_ID, HashingEmbedder
from gateway.settings import Settings
from guards.poisoning.base import Passage, ScreenDocument
from guards.poisoning.learned import LearnedInstructionDetector, LinearHead
from guards.poisoning.screen import default_screen

HEAD = LinearHead(np.array([4.0, 0.0, 0.0], dtype=np.float32), -1.0, "m", "t1")


def _doc(*vectors: list[float] | None) -> ScreenDocument:
    passages = tuple(
        Passage(f"passage {i}", None if v is None else np.array(v, np.float32)) for i, v in enumerate(vectors)
    )
    return ScreenDocument(text="text", passages=passages)


@pytest.mark.parametrize(
    ("vectors", "expected"),
    [
        ([[1.0, 0.0, 0.0]], 0.9526),  # sigmoid(4 - 1)
        ([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], 0.9526),  # the worst passage counts
        ([[0.0, 1.0, 0.0]], None),  # sigmoid(-1) is under the reporting floor
        ([None], None),  # no embedding (plain text at query time): nothing to say
        ([], None),
    ],
)
def test_the_head_reports_its_most_suspicious_embedded_passage(
    vectors: list[list[float] | None], expected: float | None
) -> None:
    verdict = LearnedInstructionDetector(HEAD).inspect_document(_doc(*vectors))
    scores = [f.score for f in verdict.findings]
    assert scores == ([] if expected is None else [expected])


def test_evidence_names_the_passage() -> None:
    verdict = LearnedInstructionDetector(HEAD).inspect_document(_doc([0.0, 1.0, 0.0], [1.0, 0.0, 0.0]))
    assert verdict.findings[0].evidence.startswith("passage 2 of 2: passage 1")


def test_the_packaged_head_is_for_minilm_and_loads_without_downloads() -> None:
    head = LinearHead.packaged()
    assert head.fits(_PACKAGED_MODEL_ID, 384) and not head.fits("hashing", 384)
    assert head.scores(np.zeros((2, 384), dtype=np.float32)).shape == (2,)


def test_the_head_is_opt_in_and_then_used_for_the_model_it_was_trained_on() -> None:
    minilm_shaped = HashingEmbedder()
    minilm_shaped.model_id = _PACKAGED_MODEL_ID
    assert provide_instruction_head(Settings(), minilm_shaped) is None  # off by default
    opted_in = Settings(screening={"learned_head": True})
    assert provide_instruction_head(opted_in, minilm_shaped) is not None


def test_the_gateway_leaves_the_head_out_for_an_embedder_it_was_not_trained_on() -> None:
    settings = Settings(screening={"learned_head": True})
    assert provide_instruction_head(settings, HashingEmbedder()) is None
    assert provide_instruction_head(settings, None) is None


def test_the_policy_thresholds_the_head_like_any_detector() -> None:
    head = LinearHead(np.ones(3, dtype=np.float32), 0.0, "m", "t1")
    screen = default_screen(head=head)
    threshold = screen.policy.threshold("learned_instructions", "", "standard")
    over = np.array([1.0, 1.0, 1.0], np.float32) * 2.0  # sigmoid(6) ≈ 0.998
    under = np.array([-0.1, 0.0, 0.0], np.float32)  # sigmoid(-0.1) ≈ 0.48
    assert screen.screen(_doc(list(over)), trust="standard").quarantined
    assert not screen.screen(_doc(list(under)), trust="standard").quarantined
    assert 0.48 < threshold < 0.998
