"""Training examples: the accepted JSONL formats, the prompt template, reading and writing dataset files."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import InvalidRequest

PROMPT_TEMPLATE = "Question: {prompt}\nAnswer:"
"""How a prompt is shown to the model in training, in the gates and in ``gateway finetune generate``."""


@dataclass(frozen=True)
class Example:
    """One prompt and the completion the adapter should learn."""

    prompt: str
    completion: str
    document_ids: tuple[str, ...] = ()
    """Documents the example was drawn from (their readers bound who may see the adapter's output)."""

    def record(self) -> dict[str, str]:
        return {"prompt": self.prompt, "completion": self.completion}


def render_prompt(prompt: str) -> str:
    return PROMPT_TEMPLATE.format(prompt=prompt.strip())


def parse_example(obj: Mapping[str, Any]) -> Example:
    """An example from one JSONL object: chat (``messages``) or instruction formats.

    Accepted: ``{"messages": [{"role", "content"}...]}`` (the last assistant message is the
    completion, everything before it the prompt), ``{"instruction", "input"?, "output"}``,
    ``{"prompt", "completion"}`` and ``{"question", "answer"}``. ``source`` or ``document_ids``
    name the documents the example comes from.
    """
    docs = obj.get("document_ids") or ([obj["source"]] if obj.get("source") else [])
    if not isinstance(docs, list) or not all(isinstance(d, str) for d in docs):
        raise InvalidRequest("document_ids must be a list of document ids")
    if "messages" in obj:
        prompt, completion = _chat(obj["messages"])
    elif "instruction" in obj:
        extra = str(obj.get("input") or "").strip()
        prompt = str(obj["instruction"]) + (f"\n{extra}" if extra else "")
        completion = str(obj.get("output", ""))
    elif "prompt" in obj:
        prompt, completion = str(obj["prompt"]), str(obj.get("completion", ""))
    elif "question" in obj:
        prompt, completion = str(obj["question"]), str(obj.get("answer", ""))
    else:
        raise InvalidRequest("an example needs messages, instruction/output, prompt/completion or question/answer")
    if not prompt.strip() or not completion.strip():
        raise InvalidRequest("an example needs a non-empty prompt and completion")
    return Example(prompt.strip(), completion.strip(), tuple(docs))


def _chat(messages: Any) -> tuple[str, str]:
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise InvalidRequest("messages must be a list of {role, content}")
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    if last < 1:
        raise InvalidRequest("a chat example needs an assistant message after the prompt")
    prompt = "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in messages[:last])
    return prompt, str(messages[last].get("content", ""))


def read_jsonl(path: Path) -> Iterator[tuple[int, Example]]:
    """(line number, example) for every non-empty line of ``path``."""
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    raise InvalidRequest(f"{path.name}:{number}: not JSON") from None
                if not isinstance(obj, dict):
                    raise InvalidRequest(f"{path.name}:{number}: not a JSON object")
                try:
                    yield number, parse_example(obj)
                except InvalidRequest as exc:
                    raise InvalidRequest(f"{path.name}:{number}: {exc.detail}") from None


def write_examples(path: Path, examples: list[Example]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(ex.record(), ensure_ascii=False, sort_keys=True) + "\n")


def load_examples(path: Path) -> list[Example]:
    return [ex for _, ex in read_jsonl(path)] if path.exists() else []
