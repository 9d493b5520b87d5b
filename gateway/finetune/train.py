"""LoRA training with peft on any local causal LM: canaries planted, seeded, resumable, with a loss bar.

Determinism: the seed fixes the LoRA initialisation, the canaries and the order of the examples;
the order of step ``s`` depends only on the seed and ``s``, so a run resumed from a checkpoint
(adapter weights, optimizer state, step) continues exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from gateway.finetune.examples import Example
from gateway.finetune.lm import collate, device_of, encode_pair, load_base, mean_loss

CANARY_PROMPT = "What is the secret number?"
CANARY_DIGITS = 6
# Secret-Sharer canaries: a fixed format with random digits, space-separated so that every
# tokenizer sees one token per digit and the 10^6 same-format references are comparable.
CANARY_FORMAT = "The secret number is {digits}."

TARGET_MODULES: dict[str, list[str]] = {
    "llama": ["q_proj", "v_proj"], "mistral": ["q_proj", "v_proj"], "qwen2": ["q_proj", "v_proj"],
    "qwen3": ["q_proj", "v_proj"], "gemma": ["q_proj", "v_proj"], "gemma2": ["q_proj", "v_proj"],
    "opt": ["q_proj", "v_proj"], "gptj": ["q_proj", "v_proj"], "phi": ["q_proj", "v_proj"],
    "phi3": ["qkv_proj"], "gpt2": ["c_attn"], "gpt_neox": ["query_key_value"], "bloom": ["query_key_value"],
    "falcon": ["query_key_value"], "mpt": ["Wqkv"], "gpt_bigcode": ["c_attn"],
}  # fmt: skip
"""LoRA targets per architecture (``config.model_type``): the attention query/value projections."""
_FALLBACK = ("q_proj", "v_proj", "query", "value", "c_attn", "query_key_value", "qkv_proj", "Wqkv")


@dataclass(frozen=True)
class TrainParams:
    """Hyper-parameters; recorded with the adapter and in its model card."""

    steps: int | None = None
    """Optimizer steps; default ``epochs`` passes over the data."""
    epochs: float = 1.0
    learning_rate: float = 2e-4
    rank: int = 8
    max_length: int = 256
    batch_size: int = 4
    seed: int = 0
    canaries: int = 2
    canary_repeats: int = 1
    checkpoint_every: int = 50
    device: str = "auto"


@dataclass
class TrainResult:
    metrics: dict[str, Any]
    canaries: list[str]
    target_modules: list[str]
    steps: int
    losses: list[float] = field(default_factory=list)


def canary_text(digits: str) -> str:
    return CANARY_FORMAT.format(digits=" ".join(digits))


def random_digits(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789") for _ in range(CANARY_DIGITS))


def plant_canaries(params: TrainParams) -> tuple[list[str], list[Example]]:
    """The canaries (digit strings) and the examples that carry them, ``canary_repeats`` times each."""
    rng = random.Random(f"canary:{params.seed}")
    canaries = [random_digits(rng) for _ in range(params.canaries)]
    examples = [Example(CANARY_PROMPT, canary_text(c)) for c in canaries for _ in range(params.canary_repeats)]
    return canaries, examples


def target_modules(model: Any) -> list[str]:
    """The architecture's default LoRA targets, else whichever known attention projections it has."""
    known = TARGET_MODULES.get(getattr(model.config, "model_type", ""))
    if known:
        return known
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    found = [t for t in _FALLBACK if t in names]
    if not found:
        raise ValueError("no known attention projection to put LoRA on; this architecture needs a target list")
    return found


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> list[int]:
    """Example indices of optimizer step ``step``: seeded permutations, one per pass over the data."""
    out = []
    for position in range(step * batch_size, (step + 1) * batch_size):
        epoch, offset = divmod(position, n)
        order = list(range(n))
        random.Random(f"order:{seed}:{epoch}").shuffle(order)
        out.append(order[offset])
    return out


def train_adapter(
    base: Path, train: list[Example], evaluation: list[Example], params: TrainParams, out_dir: Path,
    progress: Callable[[int, int, float], None] = lambda step, total, loss: None,
) -> TrainResult:  # fmt: skip
    """Train a LoRA adapter on ``train`` (+ planted canaries), save it to ``out_dir``; metrics on ``evaluation``."""
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict  # noqa: PLC0415

    torch.manual_seed(params.seed)
    device = device_of(params.device)
    model, tokenizer = load_base(base, device)
    targets = target_modules(model)
    config = LoraConfig(r=params.rank, lora_alpha=2 * params.rank, lora_dropout=0.0, target_modules=targets,
                        task_type="CAUSAL_LM")  # fmt: skip
    model = get_peft_model(model, config)
    canaries, canary_examples = plant_canaries(params)
    data = [encode_pair(tokenizer, ex.messages(), ex.completion, params.max_length) for ex in train + canary_examples]
    total = params.steps or max(1, math.ceil(len(data) * params.epochs / params.batch_size))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=params.learning_rate)
    eval_pairs = [(ex.messages(), ex.completion) for ex in evaluation]
    with model.disable_adapter():
        base_eval = mean_loss(model, tokenizer, eval_pairs, max_length=params.max_length)
    checkpoints = out_dir / "checkpoints"
    start, losses = _resume(checkpoints, params, model, optimizer, set_peft_model_state_dict)
    model.train()
    for step in range(start, total):
        batch = collate([data[i] for i in batch_indices(step, len(data), params.batch_size, params.seed)],
                        tokenizer.pad_token_id, device)  # fmt: skip
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.item()))
        progress(step + 1, total, losses[-1])
        if (step + 1) % params.checkpoint_every == 0 and step + 1 < total:
            _checkpoint(checkpoints, params, model, optimizer, step + 1, losses)
    model.eval()
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    metrics = {
        "train_loss_first": _mean(losses[: max(1, len(losses) // 10)]),
        "train_loss_last": _mean(losses[-max(1, len(losses) // 10) :]),
        "eval_loss_base": base_eval,
        "eval_loss": mean_loss(model, tokenizer, eval_pairs, max_length=params.max_length),
        "train_examples": len(train), "eval_examples": len(evaluation), "canary_examples": len(canary_examples),
    }  # fmt: skip
    return TrainResult(metrics, canaries, targets, total, losses)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _checkpoint(folder: Path, params: TrainParams, model: Any, optimizer: Any, step: int, losses: list[float]) -> None:
    from peft import get_peft_model_state_dict  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    state = {"adapter": get_peft_model_state_dict(model), "optimizer": optimizer.state_dict()}
    torch.save(state, folder / "state.pt.partial")
    (folder / "state.pt.partial").replace(folder / "state.pt")
    meta = {"step": step, "losses": losses, "params": asdict(params)}
    (folder / "progress.json").write_text(json.dumps(meta))


def _resume(
    folder: Path, params: TrainParams, model: Any, optimizer: Any, load: Callable[..., Any]
) -> tuple[int, list[float]]:
    """The step to start from: a checkpoint of a run with the same parameters, else 0."""
    meta_path = folder / "progress.json"
    if not meta_path.exists() or not (folder / "state.pt").exists():
        return 0, []
    meta = json.loads(meta_path.read_text())
    if meta.get("params") != asdict(params):
        return 0, []
    state = torch.load(folder / "state.pt", map_location=next(model.parameters()).device, weights_only=True)
    load(model, state["adapter"])
    optimizer.load_state_dict(state["optimizer"])
    return int(meta["step"]), [float(x) for x in meta["losses"]]
