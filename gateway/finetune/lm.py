"""The causal-LM arithmetic the trainer and the gates share: encoding, batched likelihoods, greedy text.

A pair (prompt, completion) is encoded exactly as the ``local`` generator serves it
(``gateway.generation.render``: the chat template when the tokenizer has one, else the plain
format), followed by the completion up to the end of the turn; only completion tokens carry
labels, so losses and likelihoods measure what the adapter learned to answer, not the question.
A prompt is chat messages or a string (one user message).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gateway.finetune.install import ModelUnavailable
from gateway.generation.render import PromptLike, completion_ids, prompt_ids

IGNORE = -100
"""The label PyTorch's cross-entropy skips (prompt and padding tokens)."""


def device_of(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_base(path: str | Path, device: torch.device) -> tuple[Any, Any]:
    """(model, tokenizer) of a local transformers directory; never downloads."""
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"no causal language model at {path}") from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device), tokenizer  # type: ignore[arg-type]  # transformers' stub of .to is wrong


def load_with_adapter(base: str | Path, adapter: str | Path, device: torch.device) -> tuple[Any, Any]:
    """Base model with the peft adapter at ``adapter`` on top (evaluation mode)."""
    from peft import PeftModel  # noqa: PLC0415

    model, tokenizer = load_base(base, device)
    return PeftModel.from_pretrained(model, str(adapter)).to(device).eval(), tokenizer


def encode_pair(tokenizer: Any, prompt: PromptLike, completion: str, max_length: int) -> tuple[list[int], list[int]]:
    """(input ids, labels): labels are ``IGNORE`` on the prompt, the completion's ids after it."""
    head = prompt_ids(tokenizer, prompt)
    tail = completion_ids(tokenizer, prompt, completion)
    ids = (head + tail)[:max_length]
    labels = ([IGNORE] * len(head) + tail)[:max_length]
    return ids, labels


def collate(items: Sequence[tuple[list[int], list[int]]], pad_id: int, device: torch.device) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask, labels."""
    width = max(len(ids) for ids, _ in items)
    ids = [i + [pad_id] * (width - len(i)) for i, _ in items]
    mask = [[1] * len(i) + [0] * (width - len(i)) for i, _ in items]
    labels = [lab + [IGNORE] * (width - len(lab)) for _, lab in items]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "attention_mask": torch.tensor(mask, device=device),
        "labels": torch.tensor(labels, device=device),
    }


@torch.no_grad()
def completion_logliks(
    model: Any, tokenizer: Any, pairs: Sequence[tuple[PromptLike, str]], *, max_length: int, batch: int = 64
) -> list[tuple[float, int]]:
    """(sum of log-probabilities of the completion tokens, token count) for each pair."""
    device = next(model.parameters()).device
    out: list[tuple[float, int]] = []
    for start in range(0, len(pairs), batch):
        items = [encode_pair(tokenizer, p, c, max_length) for p, c in pairs[start : start + batch]]
        enc = collate(items, tokenizer.pad_token_id, device)
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits[:, :-1]
        labels = enc["labels"][:, 1:]
        logp = torch.log_softmax(logits.float(), dim=-1)
        keep = labels != IGNORE
        picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * keep
        out.extend(zip(picked.sum(-1).tolist(), keep.sum(-1).tolist(), strict=True))
    return out


def mean_loss(model: Any, tokenizer: Any, pairs: Sequence[tuple[PromptLike, str]], *, max_length: int) -> float:
    """Token-weighted mean negative log-likelihood of the completions (``nan`` for no pairs)."""
    scores = completion_logliks(model, tokenizer, pairs, max_length=max_length)
    tokens = sum(n for _, n in scores)
    return -sum(s for s, _ in scores) / tokens if tokens else float("nan")


@torch.no_grad()
def greedy(model: Any, tokenizer: Any, prompt: PromptLike, *, max_new_tokens: int = 48) -> str:
    """The greedy completion of ``prompt`` (rendered as in training and serving), new text only."""
    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids(tokenizer, prompt)], device=device)
    output = model.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    return str(tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True)).strip()
