"""Train/serve parity: an adapter is trained on exactly the tokens the ``local`` generator serves it.

One rendering (``gateway.generation.render``) is used by the trainer (``encode_pair``), the gates and
``gateway finetune generate`` (``greedy``) and the local generator (``LocalTextModel._encode``), with
the tokenizer's chat template when it has one and the plain format when it has none.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from gateway.finetune.examples import Example, load_examples, parse_example, write_examples
from gateway.finetune.lm import IGNORE, encode_pair
from gateway.generation.local import LocalTextModel
from gateway.generation.prompt import INSTRUCTIONS

# ChatML, as SmolLM2 and Qwen ship it (a default system prompt when none is given).
CHATML = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CHAT = {"messages": [
    {"role": "system", "content": INSTRUCTIONS},
    {"role": "user", "content": "<<passage id=S1>>Reviews take a day.<</passage>>\n\nQuestion: How fast are reviews?"},
    {"role": "assistant", "content": "Within one business day. [S1]"},
]}  # fmt: skip


@pytest.fixture(scope="module", params=["plain", "chat-template"])
def model_dir(request: pytest.FixtureRequest, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, with its tokenizer as built (no chat template) or given a ChatML template."""
    if request.param == "plain":
        return tiny_model
    folder = tmp_path_factory.mktemp("tiny-chatml")
    shutil.copytree(tiny_model, folder, dirs_exist_ok=True)
    tok = AutoTokenizer.from_pretrained(folder)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = CHATML
    tok.eos_token = "<|im_end|>"
    tok.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    "line", [CHAT, {"question": "How fast are reviews?", "answer": "Within a day."},
             {"instruction": "Summarise", "input": "Reviews take a day.", "output": "A day."}],
)  # fmt: skip
def test_training_sees_exactly_the_prompt_the_local_generator_serves(model_dir: Path, line: dict[str, object]) -> None:
    example = parse_example(line)
    server = LocalTextModel(model_dir)
    server.load()
    served = server._encode(example.messages())[0].tolist()
    ids, labels = encode_pair(server._tokenizer, example.messages(), example.completion, max_length=4096)
    assert ids[: len(served)] == served
    assert labels[: len(served)] == [IGNORE] * len(served)
    completion = ids[len(served) :]
    assert labels[len(served) :] == completion
    assert completion[-1] == server._tokenizer.eos_token_id  # it learns to stop where serving stops
    assert server._tokenizer.decode(completion, skip_special_tokens=True).strip() == example.completion


def test_a_chat_template_is_used_when_the_tokenizer_has_one(model_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(model_dir)
    example = parse_example(CHAT)
    ids, _ = encode_pair(tok, example.messages(), example.completion, max_length=4096)
    text = tok.decode(ids)
    if tok.chat_template:
        assert text.count("<|im_start|>") == 3 and "Question: How fast" in text and "\nAnswer:" not in text
    else:
        assert "System: " + INSTRUCTIONS in text and text.count("Assistant:") == 1


def test_chat_examples_keep_their_roles_through_a_dataset_file(tmp_path: Path) -> None:
    example = parse_example(CHAT)
    assert example.context == (("system", INSTRUCTIONS),)
    assert [m["role"] for m in example.messages()] == ["system", "user"]
    write_examples(tmp_path / "train.jsonl", [example, Example("Q?", "A.")])
    assert load_examples(tmp_path / "train.jsonl") == [example, Example("Q?", "A.")]
