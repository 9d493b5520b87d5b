"""Training examples: the accepted JSONL formats, reading and writing dataset files.

How an example's messages become tokens is not decided here: ``gateway.generation.render`` renders
them for training, the gates, ``gateway finetune generate`` and the ``local`` generator alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import InvalidRequest

_CONTEXT_FIELD = "context.{index}.{role}"


@dataclass(frozen=True)
class Example:
    """One prompt (a user message, after any earlier messages) and the completion the adapter should learn."""

    prompt: str
    """The last user message before the completion."""
    completion: str
    document_ids: tuple[str, ...] = ()
    """Documents the example was drawn from (their readers bound who may see the adapter's output)."""
    context: tuple[tuple[str, str], ...] = ()
    """(role, content) of the messages before the prompt in a chat example: system prompt, earlier turns."""

    def messages(self) -> list[dict[str, str]]:
        """The chat messages the model is given, roles kept."""
        return [{"role": r, "content": c} for r, c in self.context] + [{"role": "user", "content": self.prompt}]

    @property
    def prompt_key(self) -> str:
        """The whole prompt as one text (roles included): what duplicates, hashes and splits compare."""
        return "".join(f"{r}: {c}\n" for r, c in self.context) + self.prompt

    def record(self) -> dict[str, Any]:
        """The JSONL object of a dataset file (chat form when there are earlier messages)."""
        if not self.context:
            return {"prompt": self.prompt, "completion": self.completion}
        return {"messages": [*self.messages(), {"role": "assistant", "content": self.completion}]}

    def texts(self) -> dict[str, str]:
        """Every text of the example by field name (what the scrubber sees); :meth:`with_texts` inverts it."""
        fields = {_CONTEXT_FIELD.format(index=i, role=r): c for i, (r, c) in enumerate(self.context)}
        return {**fields, "prompt": self.prompt, "completion": self.completion}

    def with_texts(self, texts: Mapping[str, str]) -> Example:
        """This example with its texts replaced (e.g. scrubbed), same roles and documents."""
        context = tuple((r, texts[_CONTEXT_FIELD.format(index=i, role=r)]) for i, (r, _) in enumerate(self.context))
        return Example(texts["prompt"], texts["completion"], self.document_ids, context)


def parse_example(obj: Mapping[str, Any]) -> Example:
    """An example from one JSONL object: chat (``messages``) or instruction formats.

    Accepted: ``{"messages": [{"role", "content"}...]}`` (the last assistant message is the
    completion, the user message before it the prompt, earlier messages its context, roles kept),
    ``{"instruction", "input"?, "output"}``,
    ``{"prompt", "completion"}`` and ``{"question", "answer"}``. ``source`` or ``document_ids``
    name the documents the example comes from.
    """
    docs = obj.get("document_ids") or ([obj["source"]] if obj.get("source") else [])
    if not isinstance(docs, list) or not all(isinstance(d, str) for d in docs):
        raise InvalidRequest("document_ids must be a list of document ids")
    context: tuple[tuple[str, str], ...] = ()
    if "messages" in obj:
        context, prompt, completion = _chat(obj["messages"])
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
    return Example(prompt.strip(), completion.strip(), tuple(docs), context)


def _chat(messages: Any) -> tuple[tuple[tuple[str, str], ...], str, str]:
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise InvalidRequest("messages must be a list of {role, content}")
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    if last < 1:
        raise InvalidRequest("a chat example needs an assistant message after the prompt")
    if messages[last - 1].get("role") != "user":
        raise InvalidRequest("a chat example needs a user message right before the answer")
    context = tuple((str(m.get("role", "user")), str(m.get("content", ""))) for m in messages[: last - 1])
    return context, str(messages[last - 1].get("content", "")), str(messages[last].get("content", ""))


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
