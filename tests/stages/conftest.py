"""Fixtures of the stage tests: what runs a stage, the pipeline or a server end to end through Python.

May import tests.support, `studio` and `storage` (inside fixtures where heavy), never a test module."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def tokenizer(bundled_model_dir):
    """The bundled model's tokenizer (loaded once per module that trains on it)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(bundled_model_dir)
