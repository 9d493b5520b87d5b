"""``gateway generation eval``: the engine comparison table (gateway/generation/eval.py)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"


@click.group()
def generation() -> None:
    """Model-backed answer generation."""


@generation.command("eval")
@click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="a local causal-LM directory; without it only the extractive engine runs")  # fmt: skip
@click.option("--adapter", "adapter_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="a peft LoRA adapter directory for the adapter-only and hybrid engines")  # fmt: skip
@click.option("--qa", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=SAMPLE / "qa.json")
@click.option("--limit", type=int, default=None, help="only the first N questions of each kind")
@click.option("--max-new-tokens", type=int, default=48, show_default=True)
@click.option("--embedder", type=click.Choice(["transformers", "hashing"]), default="transformers", show_default=True)
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the table and every engine's answers here")  # fmt: skip
@click.option("--refusal-margin", type=float, default=None,
              help="also run hybrid with the calibrated refusal at this margin (tuned on an eval split)")  # fmt: skip
@click.option("--engines", "only", default=None,
              help="comma-separated subset of extractive,rag,closed,adapter,hybrid,hybrid-calibrated; the "
                   "ablations rag-no-note,hybrid-no-note (no evidence note), rag-ungrounded,hybrid-ungrounded "
                   "(no grounding gate) run only when named")  # fmt: skip
def eval_command(
    model_dir: Path | None, adapter_dir: Path | None, qa: Path, limit: int | None, max_new_tokens: int, embedder: str,
    json_out: Path | None, refusal_margin: float | None, only: str | None,
) -> None:  # fmt: skip
    """RAG-only, model-only and hybrid on the sample corpus's QA set: EM, F1, citations, faithfulness,
    refusal correctness, latency (a fresh data dir with the sample corpus; nothing else is touched)."""
    from gateway.auth.principal import Principal  # noqa: PLC0415 - heavy imports only when run
    from gateway.deps import POLICY_DIR, build_services  # noqa: PLC0415
    from gateway.generation.eval import as_json, engines, load_qa, render, run  # noqa: PLC0415
    from gateway.generation.extractive import ExtractiveGenerator  # noqa: PLC0415
    from gateway.generation.local import LocalTextModel  # noqa: PLC0415
    from gateway.generation.model import AdapterRef  # noqa: PLC0415
    from gateway.ingest.loader import iter_submissions  # noqa: PLC0415
    from gateway.ingest.trail import Context  # noqa: PLC0415
    from gateway.settings import Settings  # noqa: PLC0415

    tenant = json.loads((SAMPLE / "personas.json").read_text())["tenant"]
    items = load_qa(qa)
    if limit is not None:
        kinds = ("answerable", "unanswerable", "forbidden")
        items = [x for kind in kinds for x in [y for y in items if y.kind == kind][:limit]]
    answers: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="gateway-eval-") as tmp:
        settings = Settings(data_dir=Path(tmp), embedding={"provider": embedder})
        services = build_services(settings)
        try:
            services.start()
            services.policy.reload_seed(POLICY_DIR, actor="eval", extra_files=[SAMPLE / "policy.csv"])
            ctx = Context(Principal("cli:eval", tenant), "eval-load")
            services.documents.put_many(ctx, list(iter_submissions(SAMPLE)), checked=False)
            model = LocalTextModel(model_dir, timeout_seconds=600) if model_dir else None
            if model is not None:
                model.load()
            adapter = (
                AdapterRef(adapter_dir.name, 1, adapter_dir, base=model_dir.name if model_dir else "")
                if adapter_dir
                else None
            )
            chosen = [x.strip() for x in only.split(",") if x.strip()] if only else None
            generators = engines(model, adapter, max_new_tokens, ExtractiveGenerator(), refusal_margin, chosen)
            table = run(services.pipeline, items, generators, tenant, answers=answers)
        finally:
            services.close()
    counts = {k: sum(x.kind == k for x in items) for k in ("answerable", "unanswerable", "forbidden")}
    click.echo(f"QA set: {qa.name}, {counts}; model: {model_dir.name if model_dir else '-'}; adapter: "
               f"{adapter_dir.name if adapter_dir else '-'}; max new tokens {max_new_tokens}")  # fmt: skip
    click.echo(render(table))
    if json_out is not None:
        json_out.write_text(json.dumps({"counts": counts, "table": as_json(table), "answers": answers}, indent=2))
