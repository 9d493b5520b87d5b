"""The ``local`` generator on a tiny Llama built in the test, with peft LoRA adapters swapped per tenant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.errors import GeneratorUnavailable
from gateway.generation.base import AskContext, Completion
from gateway.generation.local import LocalTextModel
from gateway.generation.model import AdapterInfo, AdapterRef, ModelGenerator
from gateway.retrieval.base import Hit

PASSAGES = [
    Hit(chunk_id="c1", document_id="d1", tenant="t", collection="wiki", version=1, title="Expenses",
        text="Expense reports are due within 30 days of travel.", score=1.0),
]  # fmt: skip
QUESTION = "When are expense reports due?"


class TableResolver:
    """The registry as a table (the coordinator wires the SQL registry behind the same protocol)."""

    def __init__(self, table: dict[str, AdapterRef]) -> None:
        self.table = table

    def active_adapter(self, tenant: str) -> AdapterInfo | None:
        return self.table.get(tenant)


@pytest.fixture(scope="session")
def local_model(tiny_dir: Path) -> LocalTextModel:
    model = LocalTextModel(tiny_dir, max_concurrency=1, timeout_seconds=30)
    model.load()
    return model


def _ask(generator: ModelGenerator, tenant: str) -> Completion:
    return generator.generate(QUESTION, PASSAGES, AskContext(tenant=tenant))


def test_the_local_generator_answers_and_names_its_model(local_model: LocalTextModel, tiny_dir: Path) -> None:
    completion = _ask(ModelGenerator(local_model, max_new_tokens=12), "initech")
    assert completion.text and completion.generator == "local-v1"
    assert (completion.base_model, completion.adapter, completion.adapter_version) == (tiny_dir.name, None, None)


MESSAGES = ({"role": "system", "content": "Answer briefly."}, {"role": "user", "content": QUESTION})


def _complete(model: LocalTextModel, adapter: AdapterInfo | None) -> str:
    return "".join(model.stream(MESSAGES, adapter, 12))  # fixed messages: the prompt nonce is not in play


def test_an_adapter_swap_takes_effect_without_reloading_the_base(
    local_model: LocalTextModel, tiny_adapters: dict[str, AdapterRef]
) -> None:
    base_before = _complete(local_model, None)
    base_object = local_model._base
    acme, globex = _complete(local_model, tiny_adapters["acme"]), _complete(local_model, tiny_adapters["globex"])
    assert len({base_before, acme, globex}) == 3  # each adapter changes the answer
    assert _complete(local_model, None) == base_before  # the adapters do not leak into the base
    assert _complete(local_model, tiny_adapters["acme"]) == acme  # swapping back gives the same answer
    assert local_model._base is base_object  # the base was never reloaded


def test_each_tenant_gets_its_own_adapter_named_in_the_completion(
    local_model: LocalTextModel, tiny_adapters: dict[str, AdapterRef]
) -> None:
    generator = ModelGenerator(local_model, TableResolver(tiny_adapters), max_new_tokens=4)
    named = {t: (c.adapter, c.adapter_version) for t in ("acme", "globex", "initech") for c in [_ask(generator, t)]}
    assert named == {"acme": ("acme-tone", 1), "globex": ("globex-tone", 3), "initech": (None, None)}


def test_a_missing_model_directory_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    generator = ModelGenerator(LocalTextModel(tmp_path / "absent"))
    with pytest.raises(GeneratorUnavailable):
        _ask(generator, "t")


def test_a_too_slow_answer_is_unavailable_not_truncated(tiny_dir: Path, local_model: LocalTextModel) -> None:
    slow = LocalTextModel(tiny_dir, timeout_seconds=1e-4)
    slow._base, slow._tokenizer = local_model._base, local_model._tokenizer  # share the loaded weights
    with pytest.raises(GeneratorUnavailable) as caught:
        _ask(ModelGenerator(slow, max_new_tokens=50), "t")
    assert "in time" in caught.value.detail


def test_requests_beyond_the_concurrency_bound_get_busy_at_once(local_model: LocalTextModel) -> None:
    generator = ModelGenerator(local_model, max_new_tokens=200, grounded=False)  # pieces as they come
    holding: Iterator[object] = iter(generator.stream(QUESTION, PASSAGES, AskContext("t")))
    next(holding)  # the first piece: this request now holds the only slot
    try:
        with pytest.raises(GeneratorUnavailable) as caught:
            _ask(generator, "t")
        assert caught.value.code == "generator_busy"
    finally:
        holding.close()  # type: ignore[attr-defined]
    assert _ask(ModelGenerator(local_model, max_new_tokens=4), "t").generator == "local-v1"  # slot released


def test_an_unanswerable_question_does_not_reach_the_model(local_model: LocalTextModel) -> None:
    completion = ModelGenerator(local_model).generate(QUESTION, [], AskContext("t"))
    assert not completion.answered and completion.citations == ()


def test_a_registry_adapter_whose_weights_changed_is_refused_before_loading(
    tiny_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the registry's adapter path was loaded as found; swapped weights were served."""
    from gateway.finetune.integrity import adapter_digest
    from tests.tinylm import build_adapter

    folder = build_adapter(tiny_dir, tmp_path / "tone", seed=5)
    registered = AdapterRef("tone", 1, folder, base=tiny_dir.name, digest=adapter_digest(folder))
    weights = folder / "adapter_model.safetensors"
    model = LocalTextModel(tiny_dir, max_concurrency=1, timeout_seconds=30)
    model.load()
    generator = ModelGenerator(model, TableResolver({"acme": registered}), max_new_tokens=4)
    swapped = build_adapter(tiny_dir, tmp_path / "other", seed=6) / "adapter_model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(swapped.read_bytes())  # someone with write access to the data dir
    with pytest.raises(GeneratorUnavailable):
        _ask(generator, "acme")
    assert "integrity check failed" in caplog.text
    weights.write_bytes(original)  # the registered weights again: served
    assert _ask(generator, "acme").adapter == "tone"
