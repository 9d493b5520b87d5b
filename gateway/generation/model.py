"""What every model-backed generator shares: prompt, adapter choice, citation check, streaming.

A ``TextModel`` (``local``: transformers + peft in process; ``openai``: an OpenAI-compatible
endpoint) turns chat messages into text pieces with an optional LoRA adapter. ``ModelGenerator``
builds the prompt (``prompt.py``), asks the tenant's ``AdapterResolver`` which adapter to use,
streams the model's pieces through the citation filter and returns a ``Completion`` that names the
base model and adapter for the audit row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from gateway.errors import GatewayError, GeneratorUnavailable
from gateway.generation.base import NO_ANSWER, NO_CONTEXT, AskContext, Completion, Delta
from gateway.generation.grounding import GroundingGate
from gateway.generation.prompt import CitationFilter, build_prompt, citations_in
from gateway.generation.stream import HoldbackScrubber
from gateway.retrieval.base import Hit


class AdapterInfo(Protocol):
    """A LoRA adapter as the registry describes it (``gateway.finetune``'s ``AdapterRef`` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def path(self) -> Path | str: ...
    @property
    def base(self) -> str: ...
    @property
    def digest(self) -> str | None:
        """What the weight files must hash to before loading (registry adapters); ``None``: a directory
        the operator named on the command line, not checked."""


@dataclass(frozen=True, slots=True)
class AdapterRef:
    """A plain ``AdapterInfo`` (tests, static configuration)."""

    name: str
    version: int
    path: Path | str
    base: str = ""
    digest: str | None = None


class AdapterResolver(Protocol):
    """Tenant → the adapter its answers use, or None for the base model."""

    def active_adapter(self, tenant: str) -> AdapterInfo | None: ...


class NoAdapters:
    """The default resolver: every tenant gets the base model."""

    def active_adapter(self, tenant: str) -> AdapterInfo | None:
        del tenant
        return None


class TextModel(Protocol):
    """Chat messages in, text pieces out. Raises ``GeneratorUnavailable`` when it cannot answer."""

    @property
    def kind(self) -> str: ...

    @property
    def base_model(self) -> str: ...

    def stream(
        self, messages: Sequence[dict[str, str]], adapter: AdapterInfo | None, max_new_tokens: int
    ) -> Iterator[str]: ...


class ModelGenerator:
    """A ``Generator`` (and ``StreamingGenerator``) over any ``TextModel``."""

    def __init__(
        self, model: TextModel, resolver: AdapterResolver | None = None, *, max_new_tokens: int = 256,
        evidence_note: bool = True, grounded: bool = True,
    ) -> None:  # fmt: skip
        self.model = model
        self.resolver: AdapterResolver = resolver or NoAdapters()
        self.max_new_tokens = max_new_tokens
        self.evidence_note = evidence_note
        """The prompt's note on where the evidence is (``prompt.evidence_note``); off only for ablations."""
        self.grounded = grounded
        """Withhold sentences their citations do not support (``generation.grounding``)."""

    @property
    def name(self) -> str:
        return f"{self.model.kind}-v1"

    def generate(self, question: str, passages: Sequence[Hit], context: AskContext = NO_CONTEXT) -> Completion:
        for item in self.stream(question, passages, context):
            if isinstance(item, Completion):
                return item
        raise GeneratorUnavailable()  # pragma: no cover - stream always ends with a Completion

    def stream(
        self, question: str, passages: Sequence[Hit], context: AskContext = NO_CONTEXT
    ) -> Iterator[Delta | Completion]:
        adapter = self._adapter(context.tenant)
        prompt = build_prompt(question, passages, context, evidence=self.evidence_note)
        done = Completion(
            text=NO_ANSWER, citations=(), answered=False, generator=self.name, base_model=self.model.base_model,
            adapter=adapter.name if adapter else None, adapter_version=adapter.version if adapter else None,
            adapter_id=getattr(adapter, "id", None),
            conflicts=prompt.conflicts,
        )  # fmt: skip
        if not passages:  # nothing permitted to answer from: the model is not asked to guess
            yield Delta(NO_ANSWER)
            yield done
            return
        scrubber = HoldbackScrubber([CitationFilter(prompt.sources)])
        gate = GroundingGate(prompt.sources) if self.grounded else None
        parts: list[str] = []
        for piece in self.model.stream(prompt.messages, adapter, self.max_new_tokens):
            out = scrubber.feed(piece)
            if gate is not None:
                out = gate.feed(out)
            if not parts:
                out = out.lstrip()
            if out:
                parts.append(out)
                yield Delta(out)
        tail = scrubber.flush()
        if gate is not None:
            tail = gate.feed(tail) + gate.flush()
        tail = tail.rstrip() if parts else tail.strip()
        if tail:
            parts.append(tail)
            yield Delta(tail)
        text = "".join(parts)
        if not text:
            text = NO_ANSWER
            yield Delta(text)
        answered = NO_ANSWER.rstrip(".") not in text
        citations = citations_in(text, prompt.sources)
        invented = scrubber.labels.get("invented", 0)
        markers = {c.marker for c in citations}
        conflicts = tuple({**c, "answer_cites_newest": int(c["newest"][1:]) in markers} for c in prompt.conflicts)
        yield replace(
            done, text=text, citations=citations, answered=answered, invented_citations=invented, conflicts=conflicts,
            ungrounded_sentences=gate.dropped if gate is not None else 0,
        )  # fmt: skip

    def _adapter(self, tenant: str) -> AdapterInfo | None:
        if not tenant:
            return None
        try:
            return self.resolver.active_adapter(tenant)
        except GatewayError:
            raise
        except Exception:  # the registry is down: do not silently answer with another model
            raise GeneratorUnavailable("the adapter registry is unavailable") from None
