"""The recipes of the agents the tests run: the quickstart's tiny fine-tune, the `tools`-format agent (both trained
once per session by conftest.py's fixtures), and a small generate recipe for a teacher server."""

from __future__ import annotations

from studio.recipe.schema import Recipe

TINY_AGENT = {
    "name": "tiny-agent",
    "description": "64 recorded GPT-4 HotpotQA trajectories, 16 LoRA steps: the quickstart's fine-tune, for tests.",
    "trajectories": {"source": "import", "path": "studio/tasks/data/fireact/finetune/alpaca_format/hotpotqa.json",
                     "format": "alpaca", "task": "hotpotqa"},
    "data": {"max_examples": 64},
    "student": {"max_seq_length": 768, "max_steps": 16, "batch_size": 4, "learning_rate": 3e-4},
    "evaluation": {"sets": [{"task": "hotpotqa", "split": "eval250", "n": 20}], "agents": ["finetuned"],
                   "engine": "transformers"},
}

TOOLS_AGENT = TINY_AGENT | {
    "name": "tools-agent",
    "description": "16 recorded HotpotQA trajectories as search calls, 8 LoRA steps (about 45 s): a `tools`-format "
                   "agent that has learned to end its turn after a call, for tests.",
    "format": "tools",
    "data": {"max_examples": 16},
    "student": {"max_seq_length": 768, "max_steps": 8, "batch_size": 2, "learning_rate": 1e-3},
}


def recipe_for(base_url: str, n: int = 3, **teacher) -> Recipe:
    """A small generate recipe whose teacher is the OpenAI-compatible server at `base_url` (llama.cpp's, in tests)."""
    return Recipe.model_validate({
        "name": "gen-test",
        "tasks": [{"task": "hotpotqa", "split": "dev", "n": n, "seed": 7}],
        "methods": ["react", "cot"],
        "teacher": {"model": "gemma-3-270m", "base_url": base_url, "api": "completions", "few_shot_k": 1,
                    "max_steps": 2, "max_tokens": 40, "concurrency": 4, "price_input_per_m": 1.0,
                    "price_output_per_m": 2.0, "api_key_env": "STUDIO_TEST_LLAMA_KEY", **teacher},
        "evaluation": {"sets": [{"task": "hotpotqa", "split": "eval250", "n": 5}]},
    })
