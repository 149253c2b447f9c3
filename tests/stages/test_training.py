"""Training on CPU: loss masks, packing, the selective loss, and the worker's cancel / resume / adapter."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from studio.paths import ROOT
from studio.recipe.schema import Recipe
from studio.train.batches import collate
from studio.train.loss import full_loss, selective_loss
from studio.train.masking import IGNORE, Example, tokenize_example
from tests.support.processes import processes_with
from tests.support.training import QUESTION, TRAJECTORY, trained_text


def test_default_mask_trains_only_the_agents_words(tokenizer):
    example = tokenize_example(tokenizer, QUESTION, TRAJECTORY, 512)
    trained = trained_text(tokenizer, example)
    assert "Thought: I need to search Scott Derrickson." in trained and "Action: finish[yes]" in trained
    assert "Derrickson and Ed Wood of the same" not in trained  # the question
    assert "American director" not in trained and "reward" not in trained  # the observations
    assert trained.count("Observation:") == 2  # the hand-back marker is learned, its text is not


def test_loss_on_all_trains_every_token(tokenizer):
    example = tokenize_example(tokenizer, QUESTION, TRAJECTORY, 512, loss_on="all")
    assert example.labels == example.input_ids and not example.truncated
    cut = tokenize_example(tokenizer, QUESTION, TRAJECTORY, 20)
    assert cut.truncated and len(cut.input_ids) == len(cut.labels) == 20


def test_packed_batch_restarts_positions_and_never_crosses_examples():
    a, b = Example([2, 5, 6, 7], [IGNORE, IGNORE, 6, 7], False), Example([2, 8, 9], [2, 8, 9], False)
    batch = collate([a, b], pad_id=0, packing=True)
    assert batch.position_ids.tolist() == [[0, 1, 2, 3, 0, 1, 2]]
    assert batch.labels.tolist() == [[IGNORE, IGNORE, 6, 7, IGNORE, 8, 9]]
    assert batch.tokens == 7 and batch.loss_tokens == 4
    padded = collate([a, b], pad_id=0, packing=False)
    assert padded.input_ids.tolist() == [[2, 5, 6, 7], [2, 8, 9, 0]]
    assert padded.attention_mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]


def test_selective_loss_on_packed_batch_equals_full_loss_on_padded_batch():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, pad_token_id=0))
    model.eval()
    gen = torch.Generator().manual_seed(1)
    examples = []
    for n in (9, 23, 14):
        ids = torch.randint(3, 300, (n,), generator=gen).tolist()
        labels = [t if i % 3 else IGNORE for i, t in enumerate(ids)]
        examples.append(Example(ids, labels, False))
    with torch.no_grad():
        packed = selective_loss(model, collate(examples, 0, packing=True))
        padded = full_loss(model, collate(examples, 0, packing=False))
        one_by_one = [full_loss(model, collate([e], 0, packing=False)) for e in examples]
    assert packed.item() == pytest.approx(padded.item(), abs=1e-5)
    assert not any(x.item() == pytest.approx(packed.item(), abs=1e-3) for x in one_by_one)


def test_loss_falls_on_a_repeated_batch(tokenizer):
    from studio.recipe.schema import Student
    from studio.train.model import load_student

    loaded = load_student(Student(learning_rate=1e-3))
    assert loaded.backend == "peft" and loaded.device == "cpu"
    batch = collate([tokenize_example(loaded.tokenizer, QUESTION, TRAJECTORY, 256)], 0, packing=True)
    optimizer = torch.optim.AdamW([p for p in loaded.model.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(4):
        loss = selective_loss(loaded.model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.8, losses


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "four.json"
    records = [{"instruction": f"{QUESTION} ({i})", "input": "", "output": TRAJECTORY} for i in range(4)]
    path.write_text(json.dumps(records))
    return path


def test_resume_skips_a_checkpoint_still_being_written(tmp_path):
    """Rank 0 saves into step-N.tmp then renames; another rank looking for the newest checkpoint meanwhile must not
    take the half-written folder (nor fail on its name), and step-10 is newer than step-9."""
    from studio.train.loop import latest_checkpoint

    assert latest_checkpoint(tmp_path) is None
    for name in ("step-2", "step-9", "step-10", "step-11.tmp"):
        (tmp_path / "checkpoints" / name).mkdir(parents=True)
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoints" / "step-10"


def test_train_stage_cancels_resumes_and_saves_an_adapter(store, tiny_source, tmp_path, monkeypatch):
    from studio.stages.pipeline import trajectories
    from studio.stages.train import run_dir_for, train

    monkeypatch.setenv("STUDIO_RUNS", str(tmp_path / "runs"))
    recipe = Recipe.model_validate({
        "name": "tiny", "trajectories": {"source": "import", "path": str(tiny_source), "task": "hotpotqa"},
        "data": {"correct_only": False},
        "student": {"max_steps": 4, "checkpoint_every": 2, "batch_size": 2, "max_seq_length": 128,
                    "learning_rate": 0.005, "save_merged": True},
    })
    trajectories(recipe, store)
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p.done)
        if p.done >= 2 and (run_dir_for(store, p.run_id) / "checkpoints" / "step-2").exists():
            cancel.set()

    first = train(recipe, store, progress, cancel)
    assert first.status == "cancelled"
    run = store.get_run(first.run_id)
    assert run["status"] == "cancelled" and "resume" in run["error"]
    assert 2 <= len(store.train_metrics(first.run_id)) < 4
    second = train(recipe, store)
    assert second.status == "done" and second.run_id == first.run_id and second.steps == 4
    assert [m["step"] for m in store.train_metrics(first.run_id)] == [1, 2, 3, 4]
    events = [json.loads(line)["event"] for line in (run_dir_for(store, first.run_id) / "metrics.jsonl").open()]
    assert "resumed" in events and events[-1] == "done"
    adapter = run_dir_for(store, first.run_id) / "adapter"
    assert (adapter / "adapter_model.safetensors").exists() and (adapter / "adapter_config.json").exists()
    assert "name: tiny" in (adapter / "recipe.yaml").read_text()
    assert store.get_run(first.run_id)["status"] == "done"
    assert train(recipe, store).status == "skipped"

    from studio.llm.local import LocalBackend

    prompt = "Question: Were Scott Derrickson and Ed Wood of the same nationality? (9)\nThought:"
    base = LocalBackend("bundled:gemma-3-270m").generate_one(prompt, max_tokens=16)
    tuned = LocalBackend("bundled:gemma-3-270m", adapter=str(adapter)).generate_one(prompt, max_tokens=16)
    assert tuned.error is None and tuned.text != base.text
    merged = run_dir_for(store, first.run_id) / "merged"
    assert "name: tiny" in (merged / "recipe.yaml").read_text()
    assert LocalBackend(str(merged)).generate_one(prompt, max_tokens=16).text == tuned.text


def test_auto_precision_is_bfloat16_only_where_the_cpu_computes_it(tmp_path):
    from studio.recipe.schema import Student
    from studio.train.model import compute_dtype, native_cpu_bf16

    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n")
    old = tmp_path / "old"
    old.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    assert native_cpu_bf16(x86) and native_cpu_bf16(arm)
    assert not native_cpu_bf16(old) and not native_cpu_bf16(tmp_path / "missing")
    assert compute_dtype(Student(), "cuda") == torch.bfloat16
    assert compute_dtype(Student(precision="float32"), "cuda") == torch.float32
    assert compute_dtype(Student(precision="bfloat16"), "cpu") == torch.bfloat16
    assert compute_dtype(Student(), "cpu") == (torch.bfloat16 if native_cpu_bf16() else torch.float32)


def _training_worker(runs: Path, stepped: bool = True, deadline_s: float = 300) -> int:
    """The pid of the `studio.train` worker under `runs`: once its run has taken a step, or (`stepped` False)
    as soon as the process exists."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for pid in processes_with(f"-m studio.train {runs}/"):
            if not stepped or any('"event": "step"' in m.read_text() for m in runs.glob("*/run-*/metrics.jsonl")):
                return pid
        time.sleep(0.05)
    waited_for = "took a step" if stepped else "started"
    raise AssertionError(f"no training worker under {runs} {waited_for} within {deadline_s} s")


def _gone(pid: int, deadline_s: float = 60) -> bool:
    """Whether `pid` exits (or is a zombie waiting to be reaped) within `deadline_s`."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.2)
    return False


def test_stopping_launch_run_stops_its_training_worker(tiny_source, tmp_path):
    """`kill` of `launch.py run` marks the run interrupted and stops the worker; an owner SIGKILLed even before
    its worker has started up leaves no orphan training either (the worker notices it has lost its owner)."""
    from storage import Store

    recipe = tmp_path / "long.yaml"
    recipe.write_text(
        f"name: long\ntrajectories: {{source: import, path: '{tiny_source}', task: hotpotqa}}\n"
        "data: {correct_only: false}\nstudent: {max_steps: 100000, batch_size: 2, max_seq_length: 128}\n")
    db, runs, log = tmp_path / "studio.duckdb", tmp_path / "runs", tmp_path / "owner.log"
    env = {**os.environ, "STUDIO_RUNS": str(runs)}

    def start() -> subprocess.Popen:
        # Output to a file, not a pipe: nobody reads a pipe while the owner runs, and a full one would block it.
        with log.open("a") as out:
            return subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "--db", str(db), "run", str(recipe)],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    workers: list[int] = []
    try:
        owner = start()
        workers.append(_training_worker(runs))
        owner.send_signal(signal.SIGTERM)
        assert owner.wait(timeout=60) == 130, log.read_text()[-2000:]
        assert _gone(workers[-1])
        with Store(db) as store:
            run = next(r for r in store.list_runs() if r["stage"] == "train")
            assert run["status"] == "interrupted" and "resume" in run["error"]
            assert store.train_metrics(run["id"])

        owner = start()
        workers.append(_training_worker(runs, stepped=False))
        owner.kill()
        owner.wait(timeout=60)
        assert _gone(workers[-1]), "the worker outlived its SIGKILLed owner"
        with Store(db) as store:  # the run its SIGKILLed owner left `running` is shown interrupted
            run = next(r for r in store.list_runs() if r["stage"] == "train")
            assert run["status"] == "interrupted" and f"process {owner.pid} ended" in run["error"]
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
