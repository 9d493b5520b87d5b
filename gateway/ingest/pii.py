"""The PII guard as an ingest screening step: each document gets PII labels (types and counts).

The labels are stored with the document (``documents.screening["pii"]``) and in its ingest audit row;
no raw value is kept. A document carrying any of the policy's ``[ingest] sensitive`` types is marked
``bearing``. The step never quarantines: PII is not poisoning.
"""

from __future__ import annotations

from collections import Counter

from gateway.ingest.prepare import PreparedDocument
from gateway.ingest.screen import Screened
from guards.base import Verdict
from guards.pii.engine import PiiEngine


class PiiLabelStep:
    """Counts PII per type over a document's chunks (batched through spaCy)."""

    name = "pii"

    def __init__(self, engine: PiiEngine) -> None:
        self.engine = engine

    def screen(self, document: PreparedDocument, *, tenant: str) -> Screened:
        texts = [document.doc.title, *(span.text for span in document.spans)]
        counts: Counter[str] = Counter()
        for results in self.engine.analyze_many(texts):
            counts.update(r.entity_type for r in results)
        types = dict(sorted(counts.items()))
        bearing = bool(set(types) & self.engine.policy.ingest.sensitive)
        summary = Verdict(self.engine.name, self.engine.version).summary() | {"counts": types}
        return Screened(labels={"types": types, "bearing": bearing}, verdicts=(summary,))
