"""A tiny causal LM built here (random Llama, byte-level BPE trained on the spot) and the real PII scrubber.

The model directory is built once per session under a temporary folder with ``save_pretrained``:
the same code paths as a real model, at a size that trains in seconds on one core.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from gateway.finetune.scrub import PiiGuardScrubber
from guards.pii.engine import PiiEngine
from guards.pii.policy import PiiPolicy

WORDS = [
    "the",
    "a",
    "is",
    "of",
    "to",
    "and",
    "in",
    "for",
    "on",
    "what",
    "who",
    "when",
    "where",
    "how",
    "which",
    "policy",
    "office",
    "team",
    "number",
    "secret",
    "code",
    "answer",
    "question",
    "contact",
    "email",
    "phone",
    "expense",
    "travel",
    "laptop",
    "holiday",
    "report",
    "manager",
    "support",
    "rotation",
    "week",
    "days",
    "weeks",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "call",
    "support@corp.example",
    "corp",
    "example",
]


def build_tiny_model(folder: Path, corpus: list[str]) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=256, bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, tie_word_embeddings=False,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))]
    corpus += ["Question: What is the secret number? Answer: The secret number is 0 1 2 3 4 5 6 7 8 9."]
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), corpus * 4)


@functools.cache
def real_pii_scrubber() -> PiiGuardScrubber:
    """The production scrubber on the PII guard with the repository's policy (the engine loads once)."""
    policy = PiiPolicy.from_file(Path(__file__).resolve().parents[2] / "policies" / "pii.toml")
    return PiiGuardScrubber(PiiEngine(policy))
