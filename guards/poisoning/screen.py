"""The document screen: every detector over a submitted document, then the policy's decision."""

from __future__ import annotations

from collections.abc import Sequence

from guards.poisoning.base import DocumentDetector, ScreenDocument
from guards.poisoning.encoded import EncodedPayloadDetector
from guards.poisoning.exfiltration import ExfiltrationDetector
from guards.poisoning.flood_store import FloodStore
from guards.poisoning.floods import FloodDetector
from guards.poisoning.hidden_content import HiddenContentDetector
from guards.poisoning.hidden_text import HiddenCharacterDetector
from guards.poisoning.instructions import InstructionDetector
from guards.poisoning.learned import LearnedInstructionDetector, LinearHead
from guards.poisoning.neighbours import TrustedNeighbours
from guards.poisoning.planted import PlantedAnswerDetector
from guards.poisoning.policy import ScreeningDecision, ScreeningPolicy


class PoisonScreen:
    """Runs the detectors a document's trust level calls for and asks the policy what it means."""

    def __init__(self, detectors: Sequence[DocumentDetector], policy: ScreeningPolicy) -> None:
        self.detectors = tuple(detectors)
        self.policy = policy

    @property
    def versions(self) -> dict[str, str]:
        """Detector name → version: recorded with every decision, compared by a rescan."""
        return {d.name: d.version for d in self.detectors}

    def screen(self, doc: ScreenDocument, *, trust: str | None = None) -> ScreeningDecision:
        """Screen ``doc``; ``trust`` overrides the level the policy gives its source."""
        level = trust or self.policy.trust_of(doc.source)
        verdicts = tuple(d.inspect_document(doc) for d in self.detectors if not self.policy.skips(d.name, level))
        return self.policy.decide(verdicts, collection=doc.collection, trust=level)


def default_screen(
    policy: ScreeningPolicy | None = None,
    *,
    flood_store: FloodStore | None = None,
    neighbours: TrustedNeighbours | None = None,
    head: LinearHead | None = None,
) -> PoisonScreen:
    """Every detector: floods only with a store, planted answers use neighbours when given, the
    learned instruction head only when given (it reads the passage embeddings the caller supplies)."""
    policy = policy or ScreeningPolicy.default()
    detectors: list[DocumentDetector] = [
        InstructionDetector(),
        EncodedPayloadDetector(),
        HiddenCharacterDetector(),
        HiddenContentDetector(),
        ExfiltrationDetector(policy.allowed_domains()),
        PlantedAnswerDetector(neighbours),
    ]
    if head is not None:
        detectors.append(LearnedInstructionDetector(head))
    if flood_store is not None:
        detectors.append(FloodDetector(flood_store))
    return PoisonScreen(detectors, policy)
