"""A tiny causal LM built here (random Llama, byte-level BPE trained on the spot) and a test scrubber.

The model directory is built once per session under a temporary folder with ``save_pretrained``:
the same code paths as a real model, at a size that trains in seconds on one core.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from gateway.finetune.scrub import Record

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


class RegexTestScrubber:
    """TEST FAKE of the PII guard's dataset scrubber: emails, US phone numbers and SSNs by regex,
    replaced by consistent pseudonyms (the same value always gets the same pseudonym)."""

    name = "test-regex-scrubber"
    PATTERNS = (
        ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
        ("SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
        ("PHONE", re.compile(r"\b\d{3}-\d{3}-\d{4}\b")),
    )

    def __init__(self) -> None:
        self.calls = 0

    def scrub_records(self, records: Sequence[Record], *, seed: int) -> tuple[list[Record], dict[str, Any]]:
        self.calls += 1
        mapping: dict[str, str] = {}
        counts: dict[str, int] = {}

        def pseudonym(kind: str, value: str) -> str:
            if value not in mapping:
                n = len(mapping) + 1
                mapping[value] = f"person{n}@example.invalid" if kind == "EMAIL" else f"<{kind}_{n}>"
            counts[kind] = counts.get(kind, 0) + 1
            return mapping[value]

        out = []
        for record in records:
            scrubbed = {}
            for key, original in record.items():
                text = original
                for kind, pattern in self.PATTERNS:
                    text = pattern.sub(lambda m, k=kind: pseudonym(k, m.group(0)), text)
                scrubbed[key] = text
            out.append(scrubbed)
        return out, {"entities": counts}


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
