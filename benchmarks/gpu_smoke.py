"""The CUDA path of the train worker, end to end, on a GPU machine with no network.

    python benchmarks/gpu_smoke.py

Writes a run folder (resolved recipe + 16 FireAct trajectories) for a small random Llama-shaped model,
runs `python -m studio.train RUN_DIR` with backend `auto` (so Unsloth on CUDA), stops it after its
first checkpoint, runs it again, and checks it resumed, finished and saved a PEFT adapter with the
recipe beside it. Prints the metrics it streamed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def small_llama(folder: Path) -> None:
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    config = LlamaConfig(vocab_size=260, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                         num_attention_heads=8, num_key_value_heads=4, bos_token_id=1, eos_token_id=2,
                         pad_token_id=0)
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, **{chr(c): c for c in range(32, 256) if c > 3}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.normalizer = normalizers.NFKC()
    core.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                            unk_token="<unk>").save_pretrained(folder)


def write_run(run_dir: Path, name: str, student: dict, examples: int = 16) -> None:
    """A run folder as the train stage writes it: the resolved recipe and FireAct HotpotQA trajectories."""
    from studio.recipe.schema import Recipe
    from studio.trajectories.files import read_records

    run_dir.mkdir(parents=True)
    recipe = Recipe.model_validate({"name": name, "student": student})
    (run_dir / "recipe.json").write_text(recipe.model_dump_json())
    path = ROOT / "studio/tasks/data/fireact/finetune/alpaca_format/hotpotqa.json"
    records = read_records(path, "alpaca")[:examples]
    (run_dir / "train.jsonl").write_text("".join(json.dumps({"question": r.question, "text": r.text}) + "\n"
                                                 for r in records))


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="gpu-smoke-"))
    small_llama(work / "model")
    run_dir = work / "run"
    write_run(run_dir, "gpu-smoke", {"model": str(work / "model"), "backend": "auto", "max_steps": 6,
                                     "checkpoint_every": 3, "batch_size": 4, "max_seq_length": 512})
    command = [sys.executable, "-m", "studio.train", str(run_dir)]
    first = subprocess.Popen(command, cwd=ROOT)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + 400
    while time.time() < deadline and first.poll() is None:
        if metrics.exists() and '"event": "checkpoint"' in metrics.read_text():
            first.kill()
            break
        time.sleep(0.5)
    first.wait()
    second = subprocess.run(command, cwd=ROOT)
    events = [json.loads(line) for line in metrics.read_text().splitlines()]
    for e in events:
        print({k: v for k, v in e.items() if k != "traceback"})
    kinds = [e["event"] for e in events]
    adapter = run_dir / "adapter"
    ok = (second.returncode == 0 and "resumed" in kinds and kinds[-1] == "done"
          and (adapter / "adapter_model.safetensors").exists() and (adapter / "recipe.yaml").exists()
          and next(e for e in events if e["event"] == "start")["backend"] == "unsloth")
    print("GPU SMOKE", "PASSED" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
