"""Trained tokens per second and peak memory: the project's trainer against a naive PEFT loop.

    python benchmarks/train_throughput.py                 # CPU: bundled Gemma 3 270M, real trajectories
    python benchmarks/train_throughput.py --device cuda   # GPU: Unsloth vs naive, Llama shape ~1.1B, random weights

Each trainer runs in its own process (so peak memory is its own), on the same model and data, in the
same run; the script prints both and the ratio.

- CPU: the project's trainer (packed padding-free batches, output layer applied only where the loss is
  taken, the recipe's default precision: bfloat16 autocast where the CPU computes bf16 natively, else
  float32) against the naive loop (float32, padded batches, logits over the full 262k vocabulary
  everywhere). Also shown: the project's trainer in float32 (what the output-layer saving alone gives),
  and Unsloth's CPU fallback (`FastLanguageModel` without a GPU, same precision and packed batches, its
  own loss), the alternative the `auto` backend was chosen against.
- CUDA: the project's trainer on its CUDA path (Unsloth FastLanguageModel, its fused loss) against the
  naive loop (transformers + PEFT, bf16, SDPA), both on padded batches of 8 sequences of 150-700 tokens,
  LoRA r 16 on all linear layers, as in shared/gpu/README.md. Needs no network: the model is random
  and written to a temporary folder with a word-level tokenizer.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cpu_examples(n: int, max_len: int):
    """Real training examples: the paper's GPT-4 HotpotQA trajectories, agent-token masks."""
    from transformers import AutoTokenizer

    from studio.llm.bundled import bundled_model_dir
    from studio.train.masking import tokenize_example
    from studio.trajectories.files import read_records

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir())
    path = ROOT / "studio/tasks/data/fireact/finetune/alpaca_format/hotpotqa.json"
    records = read_records(path, "alpaca")[:n]
    return [tokenize_example(tokenizer, r.question, r.text, max_len) for r in records]


def random_examples(n: int, vocab: int, seed: int = 0):
    from studio.train.masking import Example

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ids = [rng.randrange(3, vocab) for _ in range(rng.randint(150, 700))]
        out.append(Example(ids, list(ids), False))
    return out


def llama_1b_folder() -> str:
    """A TinyLlama-shaped (1.1B) model with random weights and a word-level tokenizer, saved locally."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(tempfile.mkdtemp(prefix="llama1b-"))
    config = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                         num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, **{f"w{i}": i for i in range(3, 32000)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                            unk_token="<pad>").save_pretrained(folder)
    return str(folder)


def worker(trainer: str, device: str, model: str, steps: int, warmup: int, batch_size: int, data: str) -> dict:
    """Train `warmup + steps` steps with one trainer; tokens per second over the timed steps."""
    from studio.recipe.schema import Lora, Student

    use_unsloth = trainer == "unsloth" or (trainer == "project" and device == "cuda")
    exact = device == "cpu" and trainer in ("naive", "project-fp32")
    student = Student(model=model, backend="unsloth" if use_unsloth else "peft", batch_size=batch_size,
                      max_seq_length=1024, lora=Lora(r=16, alpha=32), packing=trainer != "naive" and device == "cpu",
                      precision="float32" if exact else "auto")
    if use_unsloth:
        import unsloth  # noqa: F401  (first, so it patches transformers)
    import torch

    from studio.train.batches import collate
    from studio.train.loss import full_loss, model_loss, selective_loss
    from studio.train.model import load_student

    loaded = load_student(student)
    model_ = loaded.model
    examples = json.loads(Path(data).read_text())
    from studio.train.masking import Example

    examples = [Example(**e) for e in examples]
    project_loss = model_loss if device == "cuda" else selective_loss
    loss_fn = {"naive": full_loss, "unsloth": model_loss}.get(trainer, project_loss)
    params = [p for p in model_.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    model_.train()
    times, tokens = [], []
    batches = [examples[i:i + batch_size] for i in range(0, len(examples), batch_size)]
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(warmup + steps):
        batch = collate(batches[step % len(batches)], pad_id=0, packing=student.packing, device=loaded.device)
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.autocast(device_type=device, dtype=loaded.autocast, enabled=loaded.autocast is not None):
            loss = loss_fn(model_, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - started)
            tokens.append(batch.tokens)
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"trainer": trainer, "backend": loaded.backend, "precision": loaded.precision,
            "tokens_per_s": sum(tokens) / sum(times), "median_step_s": statistics.median(times), "peak_gib": peak,
            "final_loss": loss.item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: cpu 6, cuda 15)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: cpu 1, cuda 3)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: cpu 4, cuda 8")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    cpu = args.device == "cpu"
    steps = args.steps or (6 if cpu else 15)
    warmup = args.warmup if args.warmup is not None else (1 if cpu else 3)
    batch_size = args.batch_size or (4 if cpu else 8)
    if args.worker:
        print(json.dumps(worker(args.worker, args.device, args.model, steps, warmup, batch_size, args.data)))
        return

    if cpu:
        model = "bundled:gemma-3-270m"
        examples = cpu_examples((steps + warmup) * batch_size, 1024)
        shape = "Gemma 3 270M (bundled), FireAct HotpotQA trajectories, agent-token loss"
    else:
        model = llama_1b_folder()
        examples = random_examples((steps + warmup) * batch_size, 32000)
        shape = "Llama 1.1B shape, random weights, 150-700 tokens, loss on all tokens"
    data = Path(tempfile.mkdtemp()) / "examples.json"
    data.write_text(json.dumps([e.__dict__ for e in examples]))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    results = {}
    for trainer in ("naive", "project", "project-fp32", "unsloth") if cpu else ("naive", "project"):
        out = subprocess.run([sys.executable, __file__, "--worker", trainer, "--device", args.device, "--model", model,
                              "--data", str(data), "--steps", str(steps), "--warmup", str(warmup),
                              "--batch-size", str(batch_size)], capture_output=True, text=True, env=env, cwd=ROOT)
        if out.returncode != 0:
            sys.exit(f"{trainer} trainer failed:\n{out.stderr[-4000:]}")
        results[trainer] = json.loads(out.stdout.strip().splitlines()[-1])
    naive = results["naive"]
    device = "CPU" if cpu else __import__("torch").cuda.get_device_name(0)
    print(f"# train throughput on {device}: {shape}; batch {batch_size}, {steps} timed steps (tokens / time)")
    print("| trainer | backend | precision | tokens/s | peak memory (GiB) | final loss |")
    print("| --- | --- | --- | --- | --- | --- |")
    names = {"naive": "naive PEFT loop", "project": "project trainer", "project-fp32": "project trainer, float32",
             "unsloth": "Unsloth CPU fallback"}
    for trainer, r in results.items():
        print(f"| {names[trainer]} | {r['backend']} | {r['precision']} | {r['tokens_per_s']:.0f} | "
              f"{r['peak_gib']:.2f} | {r['final_loss']:.4f} |")
    for trainer, r in results.items():
        if trainer != "naive":
            print(f"speed ratio ({trainer} / naive): {r['tokens_per_s'] / naive['tokens_per_s']:.2f}x; "
                  f"memory ratio: {r['peak_gib'] / naive['peak_gib']:.2f}")


if __name__ == "__main__":
    main()
