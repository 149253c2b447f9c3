"""LocalBackend: batched generation equals unbatched generation token for token, across agent steps and past
Gemma 3's 512-token sliding window; stop strings, max_tokens, release; LoRA adapters.

One backend for the module (loading takes seconds, generating on 2 CPU cores is the slow part), so prompts
stay short and max_tokens small.
"""

from __future__ import annotations

import json

import pytest

from studio.llm.base import Request
from studio.paths import ROOT

pytestmark = pytest.mark.slow

TRAJECTORIES = ROOT / "studio" / "tasks" / "data" / "fireact" / "finetune" / "alpaca_format" / "hotpotqa.json"
INSTRUCTION = "Solve a question answering task with interleaving Thought, Action, Observation steps.\n"
STOP = ["\nObservation:"]
MAX_TOKENS = 20


def _records() -> list[dict]:
    return json.loads(TRAJECTORIES.read_text())


def react_prompt(shots: list[int], question: int) -> str:
    """A few-shot ReAct prompt: recorded trajectories `shots`, then question `question`, then "Thought:"."""
    records = _records()
    examples = [f"Question: {records[i]['instruction']}\n{records[i]['output'].strip()}\n" for i in shots]
    return "\n".join([INSTRUCTION, *examples, f"Question: {records[question]['instruction']}\nThought:"])


def observations() -> list[str]:
    """Recorded search results of many lengths (16 to 330 characters)."""
    found = []
    for record in _records()[:40]:
        for line in record["output"].splitlines():
            if line.startswith("Observation: ") and "Episode finished" not in line:
                found.append(line.removeprefix("Observation: "))
    return found


# Four episodes of different lengths (about 200, 480, 400 and 640 prompt tokens at the first step).
EPISODES = {"a": ([1], 300), "b": ([2, 3], 301), "c": ([4, 5, 7], 302), "d": ([10, 11, 12, 13], 303)}


@pytest.fixture(scope="module")
def backend(bundled_model_dir):
    from studio.llm.local import LocalBackend

    return LocalBackend("bundled:gemma-3-270m", device="cpu")


def run_unbatched(backend, prompt: str, max_tokens: int = MAX_TOKENS, stop=STOP):
    """A fresh single-request run: its own empty cache, nothing shared with `backend`'s state."""
    alone = backend.sibling()
    out = alone.generate([Request("alone", prompt)], stop, max_tokens)[0]
    return out, alone.last_ids["alone"]


def agent_steps(backend, steps: int = 3):
    """Episodes advanced together for `steps` agent steps: each step's prompt is the last prompt, its completion
    and an observation (of a different length per episode). Returns one {key: (prompt, completion, token ids)}
    per step, and the backend's work counters after each step."""
    prompts = {key: react_prompt(shots, q) for key, (shots, q) in EPISODES.items()}
    obs = observations()
    results, stats = [], []
    for step in range(steps):
        outs = backend.generate([Request(k, p) for k, p in prompts.items()], STOP, MAX_TOKENS)
        results.append({k: (p, o, backend.last_ids[k]) for (k, p), o in zip(prompts.items(), outs, strict=True)})
        stats.append(dict(backend.stats, cached={k: backend.cached_tokens(k) for k in prompts}))
        for i, (key, out) in enumerate(zip(prompts, outs, strict=True)):
            prompts[key] += f"{out.text}\nObservation: {obs[(7 * i + 3 * step) % len(obs)]}\nThought:"
    for key in prompts:
        backend.release(key)
    return results, stats


@pytest.fixture(scope="module")
def episodes(backend):
    return agent_steps(backend)


def test_batched_equals_unbatched_across_agent_steps_past_the_window(backend, episodes):
    results, _ = episodes
    for step, by_key in enumerate(results):
        for key, (prompt, out, ids) in by_key.items():
            alone, alone_ids = run_unbatched(backend, prompt)
            assert out.error is None and alone.error is None
            assert ids == alone_ids, f"step {step}, episode {key}: batched and unbatched tokens differ"
            assert (out.text, out.tokens_in, out.tokens_out) == (alone.text, alone.tokens_in, alone.tokens_out)
            assert out.cost == 0 and out.latency_s > 0 and 0 < out.tokens_out <= MAX_TOKENS
    # Generation happened well past the 512-token sliding window.
    assert max(out.tokens_in for _, out, _ in results[-1].values()) > 680


def test_later_steps_compute_only_new_tokens(episodes):
    results, stats = episodes
    for step in (1, 2):
        computed = stats[step]["prefill_tokens"] - stats[step - 1]["prefill_tokens"]
        prompt_tokens = sum(out.tokens_in for _, out, _ in results[step].values())
        # Only the completions' tails, observations and cues are computed, not the whole prompts again.
        assert computed < prompt_tokens / 4, (step, computed, prompt_tokens)
        for key, (_, out, ids) in results[step].items():
            # The cache holds the prompt and all generated tokens but the last (never fed back).
            assert stats[step]["cached"][key] == out.tokens_in + len(ids) - 1


def test_the_window_matters_so_the_equality_test_can_fail(backend, episodes):
    """Two wrong ways of handling Gemma 3's sliding window change the tokens, so the equality test above
    would catch them:

    * measuring the window in cache slots, as HF's masks do, while rows of a shared cache carry dead slots
      (pads, other rows' longer appends): dead slots count against the window and push real context out;
    * no sliding window at all (every layer attending over everything).

    Plain HF `generate` with left padding does match (checked by hand on these very batches, eager and sdpa):
    a left-padded row's real tokens sit together at the right, so a window in slots covers the same real
    tokens as a window in positions. It gets there by re-padding and recomputing every prompt at every agent
    step, which the cache reuse here avoids.
    """
    import torch

    results, _ = episodes

    def slot_window_masks(self, alive_k, pos_k, pos_q, alive_q, q_slots):
        slots = torch.arange(alive_k.shape[1])[None, None, :]
        causal = alive_k[:, None, :] & (pos_k[:, None, :] <= pos_q[:, :, None])
        masks = {}
        for layer_type, window in self.windows.items():
            allowed = causal if window is None else causal & (q_slots[:, :, None] - slots < window)
            allowed = torch.where(alive_q[:, :, None], allowed, slots == q_slots[:, :, None])
            masks[layer_type] = torch.zeros(allowed.shape).masked_fill_(~allowed, torch.finfo().min)[:, None]
        return masks

    by_slots = backend.sibling()
    by_slots._masks = slot_window_masks.__get__(by_slots)
    first = results[0]
    by_slots.generate([Request(k, p) for k, (p, _, _) in first.items()], STOP, MAX_TOKENS)
    assert any(by_slots.last_ids[k] != ids for k, (_, _, ids) in first.items())

    no_window = backend.sibling()
    no_window.windows = dict.fromkeys(no_window.windows)
    prompt, _, ids = results[-1]["d"]
    no_window.generate([Request("d", prompt)], STOP, MAX_TOKENS)
    assert no_window.last_ids["d"] != ids


def test_matches_plain_transformers_on_a_long_prompt(backend, bundled_model_dir, episodes):
    """An independent reference: HF generate (eager attention, its own sliding-window cache) on one unpadded
    prompt of more than 512 tokens gives the same tokens as the batched run."""
    import torch
    from transformers import AutoModelForCausalLM

    prompt, _, ids = episodes[0][0]["d"]
    model = AutoModelForCausalLM.from_pretrained(bundled_model_dir, dtype=torch.float32, attn_implementation="eager")
    enc = backend.tokenizer(prompt, return_tensors="pt")
    assert enc["input_ids"].shape[1] > 600
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=len(ids), do_sample=False)
    assert out[0, enc["input_ids"].shape[1] :].tolist() == ids


def test_long_prompts_in_chunks_and_more_requests_than_max_batch(backend, episodes, monkeypatch):
    import studio.llm.local as local

    results, _ = episodes
    # A prompt computed in pieces of 100 tokens gives the same tokens as in one piece.
    monkeypatch.setattr(local, "_PREFILL_CHUNK", 100)
    prompt, _, ids = results[0]["d"]
    assert run_unbatched(backend, prompt)[1] == ids
    monkeypatch.undo()
    # Four requests with max_batch 3: two batches, each still equal to the unbatched run.
    small = backend.sibling()
    small.max_batch = 3
    first = results[0]
    small.generate([Request(k, p) for k, (p, _, _) in first.items()], STOP, 6)
    assert sorted(len(g.rows) for g in small._groups) == [1, 3]
    for key, (_, _, ids) in first.items():
        assert small.last_ids[key] == ids[: len(small.last_ids[key])] and len(small.last_ids[key]) == min(6, len(ids))


def test_stop_strings_max_tokens_and_release(backend):
    prompts = [react_prompt([0], q) for q in (310, 311, 312)]
    free = [run_unbatched(backend, p, max_tokens=16, stop=[]) for p in prompts]
    texts = [out.text for out, _ in free]
    # A stop string that only the first completion contains, from its second third on.
    t = texts[0]
    cut = next(i for i in range(len(t) // 3, len(t) - 4)
               if t[i : i + 4].strip() and t.find(t[i : i + 4]) == i and t[i : i + 4] not in texts[1] + texts[2])
    stop = t[cut : cut + 4]
    keys = ["s0", "s1", "s2"]
    outs = backend.generate([Request(k, p) for k, p in zip(keys, prompts, strict=True)], ["\nZZZ", stop], 16)
    assert outs[0].text == t[:cut]
    assert len(backend.last_ids["s0"]) < len(free[0][1])  # that row stopped early ...
    for i in (1, 2):  # ... while the others went on to max_tokens (or EOS), unaffected
        assert outs[i].text == texts[i] and backend.last_ids[keys[i]] == free[i][1]
        assert len(free[i][1]) <= 16 and outs[i].tokens_out <= 16
    assert 0 < outs[0].tokens_out <= len(backend.last_ids["s0"])  # tokens past the cut are not counted

    short = backend.generate([Request("s1", prompts[1] + texts[1])], [], 3)[0]
    assert 0 < short.tokens_out <= 3 and len(backend.last_ids["s1"]) <= 3

    backend.release("s0")
    assert backend.cached_tokens("s0") is None and backend.cached_tokens("s1") is not None
    backend.release("missing")  # unknown keys are fine
    backend.generate([Request("s1", prompts[1]), Request("s2", prompts[2])], [], 2)
    assert sorted(row.key for g in backend._groups for row in g.rows) == ["s1", "s2"]  # s0's row is gone
    backend.release("s1")
    backend.release("s2")


def test_adapter_changes_output(backend, bundled_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio.llm.local import LocalBackend

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(bundled_model_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").exists()

    tuned = LocalBackend("bundled:gemma-3-270m", adapter=str(tmp_path / "adapter"), device="cpu")
    prompt = react_prompt([], 320)
    plain = backend.generate_one(prompt, max_tokens=8)
    adapted = tuned.generate_one(prompt, max_tokens=8)
    assert adapted.error is None and adapted.tokens_out > 0
    assert adapted.text != plain.text


def test_sampling_at_a_temperature_varies_and_a_seed_repeats_it(backend):
    """Self-improvement rounds sample several attempts per question: at temperature 1 the attempts differ, the
    same seed draws the same ones again, and temperature 0 stays greedy."""
    prompt = "Once upon a time, in a small village,"
    sampled = backend.sibling()
    sampled.temperature = 1.0
    sampled._sampler.manual_seed(7)
    first = [c.text for c in sampled.generate([Request(f"t{i}", prompt) for i in range(4)], [], 12)]
    assert len(set(first)) >= 2, first
    for i in range(4):
        sampled.release(f"t{i}")
    sampled._sampler.manual_seed(7)
    again = [c.text for c in sampled.generate([Request(f"t{i}", prompt) for i in range(4)], [], 12)]
    assert again == first
    greedy = [c.text for c in backend.generate([Request(f"g{i}", prompt) for i in range(3)], [], 12)]
    assert len(set(greedy)) == 1
    for i in range(3):
        backend.release(f"g{i}")
