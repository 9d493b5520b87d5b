"""A tiny causal LM and LoRA adapters built inside the tests (nothing is downloaded).

A 2-layer random Llama with a byte-level BPE tokenizer trained here; its answers are noise, but
greedy decoding is deterministic, so tests can compare outputs: an adapter with a non-zero LoRA
init visibly changes them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

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


# -- an OpenAI-compatible server over the tiny model (real HTTP, real SSE) ----------------------


class Upstream:
    """What the test server does; tests change it to play a slow, failing or scripted upstream."""

    def __init__(self, model: Any, adapters: dict[str, Any]) -> None:
        self.model = model
        self.adapters = adapters
        """Served adapter name → adapter (vLLM's ``--lora-modules name=path``)."""
        self.script: list[str] | None = None
        """Pieces to stream instead of the model's output (a model that invents citations ...)."""
        self.delay = 0.0
        self.fail_next = 0
        self.requests: list[dict[str, Any]] = []

    def reset(self) -> None:
        self.script, self.delay, self.fail_next, self.requests = None, 0.0, 0, []


def _handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            upstream.requests.append(body)
            if upstream.fail_next > 0:
                upstream.fail_next -= 1
                self.send_response(503)
                self.end_headers()
                return
            adapter = None if body["model"] == "tiny" else upstream.adapters.get(body["model"])
            if body["model"] != "tiny" and adapter is None:
                self.send_response(404)
                self.end_headers()
                return
            time.sleep(upstream.delay)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            pieces = upstream.script or upstream.model.stream(body["messages"], adapter, body["max_tokens"])
            try:
                for piece in pieces:
                    event = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

    return Handler


@contextmanager
def serve_openai(upstream: Upstream) -> Iterator[str]:
    """Serve ``upstream`` on a free loopback port; yields the base URL (``.../v1``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream))
    # Handler threads are joined on close: one still running the model (a deliberately slow answer)
    # when the interpreter finalises would abort the whole test process (torch's thread pool is gone).
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_adapters(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from gateway.generation.model import AdapterRef

    root = tmp_path_factory.mktemp("adapters")
    return {
        "acme": AdapterRef("acme-tone", 1, build_adapter(tiny_dir, root / "acme", seed=1), base=tiny_dir.name),
        "globex": AdapterRef("globex-tone", 3, build_adapter(tiny_dir, root / "globex", seed=2), base=tiny_dir.name),
    }


@pytest.fixture(scope="session")
def openai_upstream(tiny_dir: Path, tiny_adapters: dict[str, Any]) -> Iterator[tuple[Upstream, str]]:
    from gateway.generation.local import LocalTextModel

    model = LocalTextModel(tiny_dir, max_concurrency=4, timeout_seconds=60)
    upstream = Upstream(model, {a.name: a for a in tiny_adapters.values()})
    with serve_openai(upstream) as url:
        yield upstream, url


@pytest.fixture
def upstream(openai_upstream: tuple[Upstream, str]) -> Iterator[Upstream]:
    openai_upstream[0].reset()
    yield openai_upstream[0]
    openai_upstream[0].reset()
