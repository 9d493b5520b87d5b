"""The ``local`` generator's calibrated refusal (``refusal_margin``) on a tiny Llama built in the test."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from gateway.generation.base import NO_ANSWER, AskContext
from gateway.generation.eval import engines
from gateway.generation.extractive import ExtractiveGenerator
from gateway.generation.local import CalibratedRefusal, LocalTextModel, RefusalScore, tune_margin
from gateway.generation.model import AdapterRef, ModelGenerator
from gateway.generation.render import completion_ids, prompt_ids
from gateway.retrieval.base import Hit

MESSAGES = (
    {"role": "system", "content": "Answer briefly. If you cannot, say: " + NO_ANSWER},
    {"role": "user", "content": "When are expense reports due?"},
)
PASSAGES = [
    Hit(chunk_id="c1", document_id="d1", tenant="t", collection="wiki", version=1, title="Expenses",
        text="Expense reports are due within 30 days of travel.", score=1.0),
]  # fmt: skip


@pytest.fixture(scope="module")
def model(tiny_dir: Path) -> LocalTextModel:
    loaded = LocalTextModel(tiny_dir, max_concurrency=1, timeout_seconds=60)
    loaded.load()
    return loaded


def _mean_logprob(model_dir: Path, adapter: AdapterRef | None, prompt: list[int], completion: list[int]) -> float:
    """Teacher-forced mean log-probability of ``completion`` after ``prompt``, computed independently."""
    import torch
    from transformers import AutoModelForCausalLM

    net: Any = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    if adapter is not None:
        from peft import PeftModel

        net = PeftModel.from_pretrained(net, str(adapter.path))
    net.eval()
    with torch.inference_mode():
        logits = net(input_ids=torch.tensor([prompt + completion])).logits[0].float()
    logprobs = torch.log_softmax(logits, -1)
    return statistics.fmean(float(logprobs[len(prompt) - 1 + i, t]) for i, t in enumerate(completion))


@pytest.mark.parametrize("use_adapter", [False, True])
def test_both_replies_are_scored_by_the_model_s_own_likelihood(
    model: LocalTextModel, tiny_dir: Path, tiny_adapters: dict[str, AdapterRef], use_adapter: bool
) -> None:
    adapter = tiny_adapters["acme"] if use_adapter else None
    score = model.refusal_score(MESSAGES, adapter, 8)
    tokenizer = model._tokenizer
    prompt = prompt_ids(tokenizer, MESSAGES)
    refusal = completion_ids(tokenizer, list(MESSAGES), NO_ANSWER)
    assert score.refusal_logprob == pytest.approx(_mean_logprob(tiny_dir, adapter, prompt, refusal), abs=1e-4)
    # The answer is scored under the unmodified distribution (not the one with the refusal's first token barred).
    answer_ids = list(tokenizer(score.answer, add_special_tokens=False)["input_ids"])
    assert answer_ids and answer_ids[0] != refusal[0]
    assert math.isfinite(score.answer_logprob) and score.answer_logprob < 0


def test_the_margin_decides_between_the_answer_and_the_refusal(model: LocalTextModel) -> None:
    score = model.refusal_score(MESSAGES, None, 8)
    assert score.answer  # the tiny model always says something when the refusal is barred
    assert "".join(model.stream_with(MESSAGES, None, 8, score.margin + 1.0)) == score.answer
    assert "".join(model.stream_with(MESSAGES, None, 8, score.margin - 1.0)) == NO_ANSWER


def test_the_setting_turns_it_on_for_served_answers(tiny_dir: Path) -> None:
    """``refusal_margin`` on the model (``GATEWAY_GENERATOR_REFUSAL_MARGIN``) reaches ``/v1/ask``'s generator."""
    eager = LocalTextModel(tiny_dir, max_concurrency=1, timeout_seconds=60, refusal_margin=-1e9)
    refused = ModelGenerator(eager, max_new_tokens=8).generate("When are they due?", PASSAGES, AskContext(tenant="t"))
    assert (refused.text, refused.answered) == (NO_ANSWER, False)
    reluctant = LocalTextModel(tiny_dir, max_concurrency=1, timeout_seconds=60, refusal_margin=1e9)
    # the tiny random model's "answer" cites nothing: let it through to see the decision, not the grounding
    answered = ModelGenerator(reluctant, max_new_tokens=8, grounded=False).generate(
        "When are they due?", PASSAGES, AskContext("t")
    )
    assert answered.answered and answered.text != NO_ANSWER


def test_a_calibrated_view_shares_the_loaded_model(model: LocalTextModel) -> None:
    score = model.refusal_score(MESSAGES, None, 8)
    view = CalibratedRefusal(model, score.margin + 1.0)
    assert (view.kind, view.base_model) == (model.kind, model.base_model)
    assert "".join(view.stream(MESSAGES, None, 8)) == score.answer
    assert model.refusal_margin is None  # the plain model still streams greedily
    assert "".join(model.stream(MESSAGES, None, 8))


def _score(margin: float, answer: str = "It is due in 30 days. [S1]") -> RefusalScore:
    return RefusalScore(answer=answer, answer_logprob=-1.0, refusal_logprob=-1.0 + margin, greedy_refuses=False)


def test_the_margin_is_tuned_to_separate_the_labelled_examples() -> None:
    scores = [_score(m) for m in (-2.0, -1.5, -0.2, 0.4, 0.9, 1.3)]
    labels = [False, False, False, True, True, True]
    margin, accuracy = tune_margin(scores, labels)
    assert (margin, accuracy) == (0.0, 1.0)  # zero separates them too, and is preferred
    shifted, _ = tune_margin(scores, [False, False, False, False, True, True])
    assert shifted == pytest.approx(0.65)


def test_the_margin_balances_the_two_classes_whatever_their_shares() -> None:
    """Four refusals at margins 0.1-0.4 and one answer at 0.3: refusing everything is 80 % accurate,
    but it never answers; balanced accuracy prefers the margin that gets both classes mostly right."""
    scores = [_score(m) for m in (0.1, 0.2, 0.35, 0.4, 0.3)]
    margin, balanced = tune_margin(scores, [True, True, True, True, False])
    assert margin == pytest.approx(0.325) and balanced == pytest.approx((2 / 4 + 1) / 2)


def test_ties_prefer_the_margin_closest_to_zero_and_labels_must_match() -> None:
    scores = [_score(-3.0), _score(3.0)]
    margin, accuracy = tune_margin(scores, [True, True])  # any margin below -3 fits; the nearest to zero wins
    assert (margin, accuracy) == (-4.0, 1.0)
    with pytest.raises(ValueError):
        tune_margin(scores, [True])


def test_an_empty_or_refusing_answer_is_always_a_refusal() -> None:
    assert _score(-5.0, answer="").refuses(0.0)
    assert _score(-5.0, answer=NO_ANSWER).refuses(0.0)
    assert not _score(-5.0).refuses(0.0)


def test_the_eval_adds_a_calibrated_hybrid_row_only_when_a_margin_is_given(
    model: LocalTextModel, tiny_adapters: dict[str, AdapterRef]
) -> None:
    plain = [name for name, _ in engines(model, tiny_adapters["acme"], 8, ExtractiveGenerator())]
    assert not any("calibrated" in name for name in plain)
    rows = dict(engines(model, tiny_adapters["acme"], 8, ExtractiveGenerator(), refusal_margin=0.5))
    assert [n for n in rows if "calibrated" in n] == ["hybrid + calibrated refusal (margin 0.5)"]
    hybrid = rows["hybrid + calibrated refusal (margin 0.5)"]
    assert isinstance(hybrid, ModelGenerator) and isinstance(hybrid.model, CalibratedRefusal)
    assert hybrid.resolver.active_adapter("any") == tiny_adapters["acme"]
    with pytest.raises(ValueError):  # tuned for an adapter: no adapter, no calibrated row
        list(engines(model, None, 8, ExtractiveGenerator(), refusal_margin=0.5))


def test_the_eval_runs_only_the_engines_asked(model: LocalTextModel, tiny_adapters: dict[str, AdapterRef]) -> None:
    acme = tiny_adapters["acme"]
    chosen = [n for n, _ in engines(model, acme, 8, ExtractiveGenerator(), 0.5, only=["hybrid-calibrated"])]
    assert chosen == ["hybrid + calibrated refusal (margin 0.5)"]
    every = [n for n, _ in engines(model, acme, 8, ExtractiveGenerator(), 0.5)]
    assert len(every) == 6 and every[0].startswith("extractive") and every[-1].startswith("hybrid + calibrated")
    with pytest.raises(ValueError):
        list(engines(model, acme, 8, ExtractiveGenerator(), only=["hybird"]))


def test_the_note_ablations_run_only_when_named_and_leave_the_note_out(
    model: LocalTextModel, tiny_adapters: dict[str, AdapterRef]
) -> None:
    acme = tiny_adapters["acme"]
    default = dict(engines(model, acme, 8, ExtractiveGenerator()))
    assert not any("without the evidence note" in n for n in default)
    assert all(g.evidence_note for g in default.values() if isinstance(g, ModelGenerator))
    named = dict(engines(model, acme, 8, ExtractiveGenerator(), only=["rag-no-note", "hybrid-no-note"]))
    rag, hybrid = named["rag without the evidence note"], named["hybrid without the evidence note"]
    assert isinstance(rag, ModelGenerator) and isinstance(hybrid, ModelGenerator)
    assert not rag.evidence_note and not hybrid.evidence_note
    assert rag.resolver.active_adapter("any") is None and hybrid.resolver.active_adapter("any") == acme
