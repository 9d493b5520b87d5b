"""A tiny causal LM and LoRA adapters built inside the tests (nothing is downloaded).

A 2-layer random Llama with a byte-level BPE tokenizer trained here; its answers are noise, but
greedy decoding is deterministic, so tests can compare outputs: an adapter with a non-zero LoRA
init visibly changes them.
"""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "Expense reports are due within 30 days of travel. Cite sources like [S1] and [S2].",
    "The API rate limit is 100 requests per minute per key. Contact jane.doe@example.com.",
    "Question: Answer: System: User: Assistant: the policy says that employees must",
] * 20


def build_tiny_model(target: Path) -> Path:
    """Save a tiny random Llama and its tokenizer under ``target``; return the directory."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="</s>"
    )
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(target)
    fast.save_pretrained(target)
    return target


def build_adapter(base_dir: Path, target: Path, seed: int) -> Path:
    """A LoRA adapter on q/v with random (non-zero) B matrices, so it changes the outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(base_dir, local_files_only=True)
    config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(target)
    return target
