"""The ``local`` text model: a transformers causal LM in this process, LoRA adapters via peft.

One base model is loaded once (lazily, on the first request, so the gateway starts without it);
each tenant's adapter is loaded into the same ``PeftModel`` under its own name the first time it
is needed and selected with ``set_adapter`` per request, so swapping adapters never reloads the
base. ``set_adapter`` changes shared state, so a lock makes select-and-generate atomic; a
semaphore bounds how many requests may wait for the model at all (the rest get 503 at once), and a
deadline stops generation that runs too long (503: a truncated answer is not returned as an answer).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from gateway.errors import GeneratorUnavailable
from gateway.finetune.integrity import AdapterIntegrityError, verify_adapter
from gateway.generation.model import AdapterInfo
from gateway.generation.render import prompt_ids

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


class LocalTextModel:
    """A ``TextModel`` over a local model directory (``save_pretrained`` layout).

    Args:
        model_dir: the base model directory (weights and tokenizer); nothing is downloaded.
        max_concurrency: requests that may hold or wait for the model; more get 503 at once.
        timeout_seconds: the most one answer may take, waiting included.
        threads: torch intra-op threads (None: torch's default).
    """

    kind = "local"

    def __init__(
        self, model_dir: Path, *, max_concurrency: int = 2, timeout_seconds: float = 60.0, threads: int | None = None
    ) -> None:
        self.model_dir = Path(model_dir)
        self.timeout_seconds = timeout_seconds
        self.threads = threads
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
        deadline = time.monotonic() + self.timeout_seconds
        if not self._slots.acquire(blocking=False):
            raise GeneratorUnavailable("the answer model is busy", code="generator_busy")
        try:
            self.load()
            if not self._model_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise GeneratorUnavailable("the answer model is busy", code="generator_busy")
            try:
                yield from self._generate(messages, adapter, max_new_tokens, deadline)
            finally:
                self._model_lock.release()
        finally:
            self._slots.release()

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


def adapter_key(adapter: AdapterInfo) -> str:
    """A peft adapter name for (name, version): peft names become module keys, so no dots."""
    return re.sub(r"\W", "_", f"{adapter.name}_v{adapter.version}")
