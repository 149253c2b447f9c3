"""The `judge` scorer: an OpenAI-compatible model grades an answer by the recipe's rubric.

It talks through the teacher's client (`OpenAIBackend`), so it retries, fails over and prices its tokens the
same way. Grades are cached in the store's tool cache under backend `judge:<model>`, keyed by a hash of the
rubric, question, answer and gold, so a rerun (or the same answer twice) asks the model once and costs nothing
the second time. The cost of each request is returned on the Score for the loop to add to the episode's.
It needs a model client (`studio.llm`), the recipe's Scorer spec and the store: that is why `studio.scoring` sits
above the models and the store, below the agents that score with it.
"""

from __future__ import annotations

import hashlib
import json

from storage import Store
from studio.llm.base import Request
from studio.llm.openai_compat import OpenAIBackend
from studio.recipe.schema import Scorer, Teacher
from studio.scoring.exact import Score
from studio.scoring.kinds import failed, graded, parse_number
from studio.tasks.loaders import Question

MAX_TOKENS = 32  # "0.8", or a sentence around it: a reply longer than this is not following the rubric
NO_TOP_K = 0  # the tool cache's top_k column: a grade has none


def judge_value(reply: str) -> float | None:
    """The grade in a judge's reply: its first number ("0.8", "Score: 1", "80%", "4/5"), or None when there is
    none or it is not from 0 to 1."""
    number = parse_number(reply)
    if number is None or not 0 <= number.value <= 1:
        return None
    return number.value


class Judge:
    """Grades answers with the model a `judge` Scorer names; `store` (optional) caches its grades."""

    def __init__(self, spec: Scorer, store: Store | None = None, *, backoff_s: float = 1.0) -> None:
        self.spec = spec
        self.store = store
        self.cache_backend = f"judge:{spec.model}"
        teacher = Teacher(model=spec.model, base_url=spec.base_url, api_key_env=spec.api_key_env, api="chat",
                          temperature=0.0, max_tokens=MAX_TOKENS, concurrency=1, timeout_s=spec.timeout_s,
                          price_input_per_m=spec.price_input_per_m, price_output_per_m=spec.price_output_per_m)
        self.backend = OpenAIBackend(teacher, backoff_s=backoff_s, role="scorer")

    def __call__(self, prediction: str, question: Question) -> Score:
        spec = self.spec
        key = hashlib.sha256(json.dumps([spec.rubric, question.question, prediction, question.answer]).encode())
        query = key.hexdigest()
        cached = self.store.cache_get(self.cache_backend, query, NO_TOP_K) if self.store is not None else None
        if cached:
            return graded(float(cached[0]), spec.passing)
        prompt = spec.rubric.format(question=question.question, prediction=prediction, gold=question.answer)
        completion = self.backend.generate([Request(key=question.id, prompt=prompt)], [], MAX_TOKENS)[0]
        if completion.error:
            return failed(f"judge {spec.model} failed: {completion.error}", completion.cost)
        value = judge_value(completion.text)
        if value is None:
            reply = " ".join(completion.text.split())[:80]
            return failed(f"judge {spec.model} replied {reply!r}, not a score from 0 to 1", completion.cost)
        if self.store is not None:
            self.store.cache_put(self.cache_backend, query, NO_TOP_K, [repr(value)])
        return graded(value, spec.passing, completion.cost)

    def close(self) -> None:
        self.backend.close()
