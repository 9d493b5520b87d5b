"""The model card written beside every adapter: base, dataset lineage, hyper-parameters, metrics, gates."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.finetune.models import AdapterRow, DatasetRow


def write_card(adapter: AdapterRow, dataset: DatasetRow) -> Path:
    """``model_card.md`` (for people) and ``model_card.json`` (for tools) in the adapter directory."""
    folder = Path(adapter.path)
    card = {
        "name": adapter.name, "version": adapter.version, "tenant": adapter.tenant, "base": adapter.base,
        "status": adapter.status, "params": adapter.params, "metrics": adapter.metrics, "gates": adapter.gates,
        "dataset": {"id": dataset.id, "sources": dataset.sources, "split": dataset.split,
                    "scrub_report": dataset.scrub_report, "screen_report": dataset.screen_report},
    }  # fmt: skip
    (folder / "model_card.json").write_text(json.dumps(card, indent=2, sort_keys=True, default=str))
    sources = "\n".join(f"- {s['kind']} `{s['id']}` sha256 `{s['sha256'][:16]}…`: {s['examples']} examples"
                        for s in dataset.sources)  # fmt: skip
    gates = "\n".join(
        f"- **{name}**: {'passed' if g.get('passed') else 'FAILED'}"
        for name, g in adapter.gates.items() if isinstance(g, dict)
    ) or "- not run yet (`gateway finetune gate`)"  # fmt: skip
    metrics = "\n".join(
        f"- {k}: {v:.4f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in adapter.metrics.items()
    )
    text = f"""# {adapter.name} v{adapter.version}

LoRA adapter for `{adapter.base}` (tenant `{adapter.tenant}`), status **{adapter.status}**.

## Dataset `{dataset.id}`
{sources}

Split: {dataset.split}. Scrubbed by `{dataset.scrub_report.get("scrubber")}`
({dataset.scrub_report.get("replaced_values", 0)} distinct values replaced); poisoning screen dropped
{dataset.screen_report.get("dropped", 0)} of {dataset.screen_report.get("screened", 0)}; duplicates removed:
{dataset.screen_report.get("duplicates", 0)}.

## Training
```
{json.dumps(adapter.params, indent=2, sort_keys=True)}
```

## Metrics
{metrics}

## Safety gates
{gates}
"""
    path = folder / "model_card.md"
    path.write_text(text)
    return path
