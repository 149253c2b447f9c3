"""Training on a group of processes (`student.devices` > 1): two CPU ranks with gloo, through the real train
stage, torchrun and accelerate's DDP, on a small Gemma 3 (the bundled model's architecture and tokenizer, two
narrow layers) so that a run of a few steps fits CI."""

import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from studio.recipe.schema import Recipe
from tests.support.processes import processes_with

TRAJECTORY = ("Thought: I need to search {name}.\nAction: search[{name}]\nObservation: {name} is a director.\n"
              "Thought: So the answer is {name}.\nAction: finish[{name}]\nObservation: Episode finished\n")
STEPS = 80  # a cancel and a kill land within a few steps of their cue; this leaves room for fast machines
NAMES = ["Scott Derrickson", "Ed Wood", "Jane Campion", "Agnes Varda", "Satyajit Ray", "Akira Kurosawa",
         "Chantal Akerman", "Wong Kar-wai"]


@pytest.fixture(scope="module")
def small_student(tmp_path_factory, bundled_model_dir) -> Path:
    """A randomly initialised two-layer Gemma 3 with the bundled model's tokenizer, saved as a model folder."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(bundled_model_dir)
    config.update({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
                   "num_key_value_heads": 1, "head_dim": 32, "layer_types": ["sliding_attention", "full_attention"]})
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("small-student")
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(bundled_model_dir).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def directors(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "directors.json"
    path.write_text(json.dumps([{"instruction": f"Who directed film number {i}?", "input": "",
                                 "output": TRAJECTORY.format(name=name)} for i, name in enumerate(NAMES)]))
    return path


def recipe(student: Path, data: Path, **settings) -> Recipe:
    return Recipe.model_validate({
        "name": "group", "trajectories": {"source": "import", "path": str(data), "task": "hotpotqa"},
        "data": {"correct_only": False},
        "student": {"model": str(student), "max_seq_length": 96, "precision": "float32", "learning_rate": 1e-3,
                    "batch_size": 2} | settings,
    })


def losses(store, run_id: int) -> list[float]:
    return [m["loss"] for m in store.train_metrics(run_id)]


def test_two_processes_take_the_steps_one_process_takes_with_the_same_global_batch(
        store, small_student, directors, tmp_path, monkeypatch):
    """The loss of every step of a 2-rank group (batch 2 per rank) equals that of one process accumulating two
    micro-batches of 2, within 1e-5 relative (float32; only the order of the gradient sums differs); a global
    batch of 2 does not, so the comparison can tell them apart."""
    from safetensors.torch import load_file

    from studio.stages.pipeline import trajectories
    from studio.stages.train import train

    monkeypatch.setenv("STUDIO_RUNS", str(tmp_path / "runs"))
    one = recipe(small_student, directors, grad_accum=2, max_steps=3)
    trajectories(one, store)
    single = train(one, store)
    group = train(recipe(small_student, directors, devices=2, max_steps=3), store)
    assert single.steps == group.steps == 3 and single.run_id != group.run_id
    assert store.get_run(group.run_id)["summary"]["devices"] == 2
    assert losses(store, group.run_id) == pytest.approx(losses(store, single.run_id), rel=1e-5)
    smaller = train(recipe(small_student, directors, max_steps=3), store)
    assert losses(store, smaller.run_id)[1:] != pytest.approx(losses(store, single.run_id)[1:], rel=1e-3)
    a, b = load_file(Path(single.adapter) / "adapter_model.safetensors"), load_file(Path(group.adapter) /
                                                                                    "adapter_model.safetensors")
    assert a.keys() == b.keys() and all((a[k] - b[k]).abs().max() < 1e-4 for k in a)


def _ranks(folder: Path) -> dict[int, int]:
    """Rank number -> pid of the group's workers for the run folder `folder` (the launcher excluded)."""
    found = {}
    for pid in processes_with(f"-m studio.train {folder}"):
        with contextlib.suppress(OSError):
            environ = (Path("/proc") / str(pid) / "environ").read_text().split("\0")
            env = dict(v.split("=", 1) for v in environ if "=" in v)
            if "LOCAL_RANK" in env:
                found[int(env["RANK"])] = pid
    return found


def _wait(condition, what: str, deadline_s: float = 240, poll_s: float = 0.1) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {deadline_s} s for {what}")
        time.sleep(poll_s)


def test_a_group_cancels_whole_loses_a_rank_as_interrupted_and_resumes_from_its_checkpoint(
        store, small_student, directors, tmp_path, monkeypatch):
    """Cancel stops every rank and the launcher; a rank killed mid-run stops the group and leaves the run
    `interrupted`; the rerun resumes from the last checkpoint and finishes every step once. Only rank 0 writes."""
    from studio.stages.pipeline import trajectories
    from studio.stages.train import TrainError, run_dir_for, train

    monkeypatch.setenv("STUDIO_RUNS", str(tmp_path / "runs"))
    r = recipe(small_student, directors, devices=2, max_steps=STEPS, checkpoint_every=2)
    trajectories(r, store)
    cancel = threading.Event()

    def progress(p):
        if p.done >= 3 and (run_dir_for(store, p.run_id) / "checkpoints" / "step-2").exists():
            cancel.set()

    first = train(r, store, progress, cancel)
    folder = run_dir_for(store, first.run_id)
    assert first.status == "cancelled" and store.get_run(first.run_id)["status"] == "cancelled"
    _wait(lambda: not processes_with(f"-m studio.train {folder}"), "every process of the cancelled group to go", 30)

    def stepped_since_resume() -> bool:
        """The resumed group has taken a step: read from the file rank 0 writes (the store lags by 0.5 s)."""
        text = (folder / "metrics.jsonl").read_text()
        return '"event": "step"' in text[text.rfind('"event": "resumed"') + 1:] if '"resumed"' in text else False

    def kill_rank_one() -> None:
        _wait(stepped_since_resume, "a step of the resumed group", 240, poll_s=0.01)
        os.kill(_ranks(folder)[1], signal.SIGKILL)

    killer = threading.Thread(target=kill_rank_one)
    killer.start()
    with pytest.raises(TrainError, match="rerun to resume"):
        train(r, store)
    killer.join()
    run = store.get_run(first.run_id)
    assert run["status"] == "interrupted" and "a training process stopped" in run["error"]
    _wait(lambda: not processes_with(f"-m studio.train {folder}"), "every process of the broken group to go", 60)

    done = train(r, store)
    assert done.status == "done" and done.run_id == first.run_id and done.steps == STEPS
    events = [json.loads(line) for line in (folder / "metrics.jsonl").open()]
    starts = [i for i, e in enumerate(events) if e["event"] == "start"]
    assert len(starts) == 3 and all(e["devices"] == 2 for e in events if e["event"] == "start")
    for begin, end in zip(starts, [*starts[1:], len(events)], strict=True):  # each attempt: every step once
        stepped = [e["step"] for e in events[begin:end] if e["event"] == "step"]
        assert stepped == list(range(stepped[0], stepped[0] + len(stepped))) if stepped else True
    resumed = [e["step"] for e in events if e["event"] == "resumed"]  # from a checkpoint (every 2 steps)
    assert len(resumed) == 2 and resumed == sorted(resumed) and resumed[0] >= 2 and resumed[1] % 2 == 0
    assert [m["step"] for m in store.train_metrics(first.run_id)] == list(range(1, STEPS + 1))
    assert (folder / "adapter" / "adapter_model.safetensors").exists()


def test_devices_in_the_recipe_and_the_launch():
    from pydantic import ValidationError

    from studio.recipe.fingerprint import fingerprint
    from studio.train.group import join, launch_command, launch_env
    from studio.train.loop import total_steps

    with pytest.raises(ValidationError, match="backend `unsloth` trains on one GPU"):
        Recipe.model_validate({"student": {"devices": 2, "backend": "unsloth"}})
    one, two = Recipe(name="x"), Recipe.model_validate({"name": "x", "student": {"devices": 2}})
    assert fingerprint(one, "train") == "91737c38939a569e"  # one device: the key train runs had before `devices`
    assert fingerprint(two, "train") != fingerprint(one, "train")
    assert total_steps(two.student, 64) == total_steps(one.student.model_copy(update={"grad_accum": 2}), 64) == 4
    assert launch_command("python", 1, ["-m", "studio.train", "D"]) == ["python", "-m", "studio.train", "D"]
    group = launch_command("python", 2, ["-m", "studio.train", "D"])
    assert group[:3] == ["python", "-m", "torch.distributed.run"] and group[-3:] == ["-m", "studio.train", "D"]
    assert group[group.index("--nproc-per-node") + 1] == "2"
    assert launch_env(1, {}) == {} and launch_env(2, {"OMP_NUM_THREADS": "3"}) == {"OMP_NUM_THREADS": "3"}
    assert int(launch_env(2, {})["OMP_NUM_THREADS"]) == max(1, (os.cpu_count() or 1) // 2)  # not torchrun's 1
    with pytest.raises(ValueError, match="runs on 1 process"):  # a group's worker started by hand, alone
        join(2)
