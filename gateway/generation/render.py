"""How chat messages become a model's tokens: the one rendering shared by training and serving.

An adapter only works as well as the prompts it is served resemble the ones it was trained on, so
the trainer, the gates, ``gateway finetune generate`` and the ``local`` generator all go through
these functions: a tokenizer with a chat template renders the messages with it (generation prompt
included, exactly as ``apply_chat_template(..., tokenize=True)`` would); a tokenizer without one
gets :data:`PLAIN_FORMAT`. The completion's tokens are what the template puts after the
generation prompt for an assistant message (its end-of-turn token included), so training teaches
the model to stop where serving stops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Messages = Sequence[Mapping[str, str]]
PromptLike = str | Messages
"""A prompt: chat messages, or a plain string that is one user message."""

PLAIN_FORMAT = "{role}: {content}\n"
"""One message for tokenizers without a chat template; the prompt ends with ``Assistant:``."""
PLAIN_GENERATION_PROMPT = "Assistant:"


def as_messages(prompt: PromptLike) -> list[dict[str, str]]:
    """``prompt`` as a list of ``{role, content}`` messages (a string is one user message)."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def prompt_text(tokenizer: Any, prompt: PromptLike) -> str:
    """The text the model continues: the rendered messages followed by the assistant's turn opening."""
    messages = as_messages(prompt)
    if has_chat_template(tokenizer):
        return str(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
    body = "".join(PLAIN_FORMAT.format(role=m["role"].capitalize(), content=m["content"]) for m in messages)
    return body + PLAIN_GENERATION_PROMPT


def prompt_ids(tokenizer: Any, prompt: PromptLike) -> list[int]:
    """The token ids the model is given; chat templates carry their own special tokens."""
    special = not has_chat_template(tokenizer)
    return list(tokenizer(prompt_text(tokenizer, prompt), add_special_tokens=special)["input_ids"])


def completion_ids(tokenizer: Any, prompt: PromptLike, completion: str) -> list[int]:
    """The ids that follow :func:`prompt_ids` for this answer, ending with the end of the turn.

    With a chat template: what the template renders after the generation prompt for an assistant
    message (``answer<|im_end|>`` for ChatML), trailing whitespace dropped; EOS is appended when
    the template's end-of-turn is not the tokenizer's EOS, since generation stops at EOS.
    """
    text = " " + completion.strip()
    if has_chat_template(tokenizer):
        messages = as_messages(prompt)
        head = prompt_text(tokenizer, messages)
        full = str(tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": completion.strip()}], tokenize=False
        ))  # fmt: skip
        # A template that renders history differently from the open turn (none we know) falls back to the text.
        text = full[len(head) :].rstrip() if full.startswith(head) else completion.strip()
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    eos = tokenizer.eos_token_id
    if eos is not None and (not ids or ids[-1] != eos):
        ids.append(eos)
    return ids
