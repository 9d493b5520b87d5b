"""An application factory for a real server process whose model backend is slow (test helper).

``uvicorn tests.e2e.slow_model_app:create --factory`` serves the real app, built from the
``GATEWAY_*`` environment like ``gateway serve``, with the extractive generator slowed down by
``SLOW_MODEL_SECONDS``: long enough for a SIGTERM to land while answers are being generated.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from litestar import Litestar

from gateway.app import create_app
from gateway.deps import build_services
from gateway.generation.base import NO_CONTEXT, AskContext, Completion
from gateway.generation.extractive import ExtractiveGenerator
from gateway.retrieval.base import Hit
from gateway.settings import Settings


class SlowGenerator(ExtractiveGenerator):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def generate(self, question: str, passages: Sequence[Hit], context: AskContext = NO_CONTEXT) -> Completion:
        time.sleep(self.delay)
        return super().generate(question, passages, context)


def create() -> Litestar:
    settings = Settings()
    services = build_services(settings)
    services.pipeline.generator = SlowGenerator(float(os.environ.get("SLOW_MODEL_SECONDS", "1.5")))
    app = create_app(services=services)
    app.on_shutdown.append(services.close)
    return app
