"""The fine-tuning engine: scrubbed and screened datasets, LoRA training, safety gates, an adapter registry.

Layout: ``models.py`` (SQL tables), ``registry.py`` (datasets, adapters, activations per tenant),
``scrub.py`` (the ``Scrubber`` seam to the PII guard), ``dataset.py`` (building a dataset),
``train.py`` (LoRA with peft), ``gates.py`` (canary exposure, PII emission, no regression),
``install.py`` (the SmolLM2 model directory). Generation for ``/v1/ask`` lives in ``gateway/generation``.
"""
