"""Fixtures for the model-backed generators: the tiny model, its adapters, the OpenAI-compatible
test server (tests/tinylm.py) and the app over the sample corpus (tests/e2e/conftest.py)."""

from tests.e2e.conftest import auth, data_dir, sample_template, token_for  # noqa: F401 - fixtures
from tests.tinylm import openai_upstream, tiny_adapters, tiny_dir, upstream  # noqa: F401 - fixtures
