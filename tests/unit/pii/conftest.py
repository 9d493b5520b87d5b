from __future__ import annotations

from pathlib import Path

import pytest

from guards.pii.engine import PiiEngine
from guards.pii.policy import PiiPolicy

POLICY = Path(__file__).resolve().parents[3] / "policies" / "pii.toml"


@pytest.fixture(scope="session")
def policy() -> PiiPolicy:
    return PiiPolicy.from_file(POLICY)


@pytest.fixture(scope="session")
def patterns_engine(policy: PiiPolicy) -> PiiEngine:
    """Pattern recognizers only (what each recognizer does, without the NER model)."""
    return PiiEngine(policy, ner=False)


@pytest.fixture(scope="session")
def engine(policy: PiiPolicy) -> PiiEngine:
    """The production engine: NER on."""
    return PiiEngine(policy)
