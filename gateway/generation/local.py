"""The ``local`` text model: a transformers causal LM in this process, LoRA adapters via peft.

One base model is loaded once (lazily, on the first request, so the gateway starts without it);
each tenant's adapter is loaded into the same ``PeftModel`` under its own name the first time it
is needed and selected with ``set_adapter`` per request, so swapping adapters never reloads the
base. ``set_adapter`` changes shared state, so a lock makes select-and-generate atomic; a
semaphore bounds how many requests may wait for the model at all (the rest get 503 at once), and a
deadline stops generation that runs too long (503: a truncated answer is not returned as an answer).

**Calibrated refusal** (``refusal_margin``, off by default): a small model says the refusal
sentence too often or too rarely, and greedy decoding decides that on the first token alone. With a
margin set, the model is scored instead of trusted: its best non-refusal answer (greedy, with the
refusal's opening token barred at the first step) and the refusal sentence, each by its mean token
log-probability under the same prompt (one teacher-forced pass for the refusal; the answer's from
its own decoding logits), and it refuses when ``refusal - answer > margin``. The margin is tuned on
a held-out split of the behaviour dataset (``tune_margin``; ``python -m bench.behaviour_dataset
--calibrate``), never on the QA set. The answer is then sent in one piece (no token streaming).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from gateway.errors import GeneratorUnavailable
from gateway.finetune.integrity import AdapterIntegrityError, verify_adapter
from gateway.generation.base import NO_ANSWER
from gateway.generation.model import AdapterInfo
from gateway.generation.render import completion_ids, prompt_ids

log = logging.getLogger("gateway.generation.local")


class _Deadline:
    """A ``StoppingCriteria``: stops at the deadline (``expired``) or when the reader went away."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.cancelled = False

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
        if time.monotonic() > self.deadline:
            self.expired = True
        return self.expired or self.cancelled


@dataclass(frozen=True, slots=True)
class RefusalScore:
    """The two candidate replies to one prompt, each with its mean token log-probability."""

    answer: str
    """The best non-refusal reply: greedy, with the refusal's opening token barred at the first step."""
    answer_logprob: float
    refusal_logprob: float
    """Of the refusal sentence (``NO_ANSWER``), end of turn included, as the adapter was trained on it."""
    greedy_refuses: bool
    """Whether plain greedy decoding would open with the refusal (its first token is the most likely)."""

    @property
    def margin(self) -> float:
        """How much more likely, per token, the refusal is than the answer (log-probability difference)."""
        return self.refusal_logprob - self.answer_logprob

    def refuses(self, margin: float) -> bool:
        return self.margin > margin or not self.answer or NO_ANSWER.rstrip(".") in self.answer


def tune_margin(scores: Sequence[RefusalScore], should_refuse: Sequence[bool]) -> tuple[float, float]:
    """The margin that decides refusals best on a labelled (held-out) set, and its balanced accuracy there.

    Balanced accuracy (the mean of the refusal and the answer recall): a held-out split's share of
    refusals is an accident of the split, not the share served, so neither class may buy accuracy
    by outnumbering the other. Candidates are zero (the uncalibrated comparison), the midpoints
    between consecutive observed margins and one beyond each end; ties go to the one closest to zero.
    """
    if not scores or len(scores) != len(should_refuse):
        raise ValueError("tune_margin needs one label per score")
    observed = sorted({s.margin for s in scores})
    candidates = [observed[0] - 1.0, *((a + b) / 2 for a, b in pairwise(observed)), observed[-1] + 1.0, 0.0]

    def recall(m: float, label: bool) -> float:
        pairs = [(s, y) for s, y in zip(scores, should_refuse, strict=True) if y == label]
        return sum(s.refuses(m) == y for s, y in pairs) / len(pairs) if pairs else 1.0

    def balanced(m: float) -> float:
        return (recall(m, True) + recall(m, False)) / 2

    best = max(candidates, key=lambda m: (balanced(m), -abs(m)))
    return best, balanced(best)


class _BarFirst:
    """A ``LogitsProcessor``: the given token cannot be the first generated one."""

    def __init__(self, token: int, prompt_length: int) -> None:
        self.token, self.prompt_length = token, prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if input_ids.shape[1] == self.prompt_length:
            scores[:, self.token] = float("-inf")
        return scores


class LocalTextModel:
    """A ``TextModel`` over a local model directory (``save_pretrained`` layout).

    Args:
        model_dir: the base model directory (weights and tokenizer); nothing is downloaded.
        max_concurrency: requests that may hold or wait for the model; more get 503 at once.
        timeout_seconds: the most one answer may take, waiting included.
        threads: torch intra-op threads (None: torch's default).
        refusal_margin: decide refusals by likelihood with this margin (module docstring); None: greedy.
    """

    kind = "local"

    def __init__(
        self, model_dir: Path, *, max_concurrency: int = 2, timeout_seconds: float = 60.0, threads: int | None = None,
        refusal_margin: float | None = None,
    ) -> None:  # fmt: skip
        self.model_dir = Path(model_dir)
        self.timeout_seconds = timeout_seconds
        self.threads = threads
        self.refusal_margin = refusal_margin
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._model_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._base: Any = None
        self._peft: Any = None
        self._tokenizer: Any = None
        self._adapters: set[str] = set()

    @property
    def base_model(self) -> str:
        return self.model_dir.name

    def load(self) -> None:
        """Load the base model and tokenizer now (else on first use); ``GeneratorUnavailable`` if it cannot."""
        with self._load_lock:
            if self._base is not None:
                return
            try:
                import torch  # noqa: PLC0415 - heavy, only when a local model is configured
                from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

                if self.threads:
                    torch.set_num_threads(self.threads)
                tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(self.model_dir, local_files_only=True)
            except Exception as exc:
                log.error(
                    "local model could not be loaded",
                    extra={"model_dir": str(self.model_dir), "exc_type": type(exc).__name__},
                )
                raise GeneratorUnavailable() from None
            model.eval()  # type: ignore[no-untyped-call]
            self._tokenizer, self._base = tokenizer, model

    def stream(
        self, messages: Sequence[dict[str, str]], adapter: AdapterInfo | None, max_new_tokens: int
    ) -> Iterator[str]:
        return self.stream_with(messages, adapter, max_new_tokens, self.refusal_margin)

    def stream_with(
        self, messages: Sequence[dict[str, str]], adapter: AdapterInfo | None, max_new_tokens: int,
        refusal_margin: float | None,
    ) -> Iterator[str]:  # fmt: skip
        """``stream`` with an explicit refusal margin (None: plain greedy, token by token)."""
        deadline = time.monotonic() + self.timeout_seconds
        if not self._slots.acquire(blocking=False):
            raise GeneratorUnavailable("the answer model is busy", code="generator_busy")
        try:
            self.load()
            if not self._model_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise GeneratorUnavailable("the answer model is busy", code="generator_busy")
            try:
                if refusal_margin is None:
                    yield from self._generate(messages, adapter, max_new_tokens, deadline)
                else:
                    score = self._score(messages, adapter, max_new_tokens, deadline)
                    yield NO_ANSWER if score.refuses(refusal_margin) else score.answer
            finally:
                self._model_lock.release()
        finally:
            self._slots.release()

    def refusal_score(
        self, messages: Sequence[dict[str, str]], adapter: AdapterInfo | None, max_new_tokens: int
    ) -> RefusalScore:
        """Both candidate replies and their likelihoods (what a margin is tuned on)."""
        deadline = time.monotonic() + self.timeout_seconds
        self.load()
        with self._model_lock:
            return self._score(messages, adapter, max_new_tokens, deadline)

    def _score(
        self, messages: Sequence[dict[str, str]], adapter: AdapterInfo | None, max_new_tokens: int, deadline: float
    ) -> RefusalScore:
        import torch  # noqa: PLC0415
        from transformers import LogitsProcessorList, StoppingCriteriaList  # noqa: PLC0415

        model = self._select(adapter)
        ids = self._encode(messages)
        refusal = completion_ids(self._tokenizer, list(messages), NO_ANSWER)
        stop = _Deadline(deadline)
        try:
            with torch.inference_mode():
                out = model.generate(
                    input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                    do_sample=False, stopping_criteria=StoppingCriteriaList([stop]),
                    logits_processor=LogitsProcessorList([_BarFirst(refusal[0], ids.shape[1])]),
                    return_dict_in_generate=True, output_logits=True,
                    pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
                )  # fmt: skip
                new = out.sequences[0, ids.shape[1] :]
                logits = torch.stack(out.logits, dim=1)[0].float()  # raw: the model's own distribution
                answer_lp = torch.log_softmax(logits, -1).gather(1, new[:, None]).mean().item()
                greedy_refuses = int(logits[0].argmax()) == refusal[0]
                full = torch.cat([ids, torch.tensor([refusal])], dim=1)
                forced = model(input_ids=full, attention_mask=torch.ones_like(full)).logits[0].float()
                forced = torch.log_softmax(forced[ids.shape[1] - 1 : -1], -1)
                refusal_lp = forced.gather(1, torch.tensor(refusal)[:, None]).mean().item()
        except GeneratorUnavailable:
            raise
        except Exception as exc:
            log.error("local generation failed", extra={"exc_type": type(exc).__name__})
            raise GeneratorUnavailable() from None
        if stop.expired or time.monotonic() > deadline:
            raise GeneratorUnavailable("the answer model did not answer in time")
        answer = str(self._tokenizer.decode(new, skip_special_tokens=True)).strip()
        return RefusalScore(answer, float(answer_lp), float(refusal_lp), greedy_refuses)

    def _generate(
        self, messages: Sequence[dict[str, str]], adapter: AdapterInfo | None, max_new_tokens: int, deadline: float
    ) -> Iterator[str]:
        import torch  # noqa: PLC0415
        from transformers import StoppingCriteriaList, TextIteratorStreamer  # noqa: PLC0415

        model = self._select(adapter)
        ids = self._encode(messages)
        stop = _Deadline(deadline)
        streamer = TextIteratorStreamer(
            self._tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=self.timeout_seconds
        )
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    model.generate(
                        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                        do_sample=False, streamer=streamer, stopping_criteria=StoppingCriteriaList([stop]),
                        pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
                    )  # fmt: skip
            except BaseException as exc:  # reported to the reader below; never lost in the thread
                failure.append(exc)
                streamer.end()  # type: ignore[no-untyped-call]

        worker = threading.Thread(target=run, name="local-generate", daemon=True)
        worker.start()
        try:
            for piece in streamer:
                if stop.expired:
                    break
                yield piece
        except Exception:  # the streamer's queue timed out: the model stalled
            stop.expired = True
        finally:
            stop.cancelled = True
            worker.join()
        if failure or stop.expired:
            if failure:
                log.error("local generation failed", extra={"exc_type": type(failure[0]).__name__})
            raise GeneratorUnavailable("the answer model did not answer in time" if stop.expired else None)

    def _select(self, adapter: AdapterInfo | None) -> Any:
        """The model to run: the base with the tenant's adapter active, or with adapters disabled."""
        if adapter is None:
            if self._peft is None:
                return self._base
            return _WithoutAdapters(self._peft)
        key = adapter_key(adapter)
        if key not in self._adapters and adapter.digest is not None:  # checked at each first load
            try:
                verify_adapter(adapter.path, adapter.digest)
            except AdapterIntegrityError as exc:
                log.error(
                    "adapter refused: integrity check failed",
                    extra={"adapter": adapter.name, "version": adapter.version, "reason": str(exc)},
                )
                raise GeneratorUnavailable() from None
        try:
            if self._peft is None:
                from peft import PeftModel  # noqa: PLC0415

                self._peft = PeftModel.from_pretrained(
                    self._base, str(adapter.path), adapter_name=key, is_trainable=False
                )
            elif key not in self._adapters:
                self._peft.load_adapter(str(adapter.path), adapter_name=key, is_trainable=False)
        except Exception as exc:
            log.error("adapter could not be loaded", extra={"adapter": adapter.name, "exc_type": type(exc).__name__})
            raise GeneratorUnavailable() from None
        self._adapters.add(key)
        self._peft.set_adapter(key)
        return self._peft

    def _encode(self, messages: Sequence[dict[str, str]]) -> Any:
        """The prompt's ids, rendered exactly as adapters are trained (``gateway.generation.render``)."""
        import torch  # noqa: PLC0415

        return torch.tensor([prompt_ids(self._tokenizer, messages)])


class _WithoutAdapters:
    """Runs ``generate`` on a ``PeftModel`` with every adapter disabled (the plain base)."""

    def __init__(self, peft: Any) -> None:
        self._peft = peft

    def generate(self, **kwargs: Any) -> Any:
        with self._peft.disable_adapter():
            return self._peft.generate(**kwargs)

    def __call__(self, **kwargs: Any) -> Any:
        with self._peft.disable_adapter():
            return self._peft(**kwargs)


class CalibratedRefusal:
    """A ``TextModel``: a loaded ``LocalTextModel`` that decides refusals with ``margin`` (shares its weights)."""

    def __init__(self, model: LocalTextModel, margin: float) -> None:
        self.model, self.margin = model, margin

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def base_model(self) -> str:
        return self.model.base_model

    def stream(
        self, messages: Sequence[dict[str, str]], adapter: AdapterInfo | None, max_new_tokens: int
    ) -> Iterator[str]:
        return self.model.stream_with(messages, adapter, max_new_tokens, self.margin)


def adapter_key(adapter: AdapterInfo) -> str:
    """A peft adapter name for (name, version): peft names become module keys, so no dots."""
    return re.sub(r"\W", "_", f"{adapter.name}_v{adapter.version}")
