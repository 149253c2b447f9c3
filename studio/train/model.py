"""The student model with a fresh LoRA adapter: Unsloth on a CUDA GPU, transformers + PEFT elsewhere.

`auto` takes PEFT on CPU although Unsloth imports there (its CPU fallback is stock transformers + PEFT with
the full-vocabulary loss): `benchmarks/train_throughput.py` measures it against the project's CPU path,
which applies the output layer only where the loss is taken, and the project's path is faster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.recipe.schema import Student

LLAMA_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class Loaded:
    model: object
    tokenizer: object
    backend: str  # "unsloth" or "peft"
    device: str
    dtype: object  # compute dtype

    @property
    def precision(self) -> str:
        """The compute dtype's name, as `Student.precision` spells it."""
        return str(self.dtype).removeprefix("torch.")

    @property
    def autocast(self):
        """The dtype the training loop autocasts to, or None (float32 runs as it is)."""
        return None if self.precision == "float32" else self.dtype


def choose_backend(student: Student) -> str:
    import torch

    if student.backend != "auto":
        return student.backend
    return "unsloth" if torch.cuda.is_available() and student.devices == 1 else "peft"


def native_cpu_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU computes bfloat16 in hardware (x86 AVX512-BF16 or AMX, Arm BF16), read from the
    CPU flags Linux reports; elsewhere False (float32 is the safe choice)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = {f for line in text.splitlines() if line.lower().startswith(("flags", "features"))
             for f in line.split(":", 1)[-1].split()}
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def compute_dtype(student: Student, device: str):
    """The recipe's precision on this device (see `Student.precision`)."""
    import torch

    if student.precision == "auto":
        return torch.bfloat16 if device == "cuda" or native_cpu_bf16() else torch.float32
    return getattr(torch, student.precision)


def load_student(student: Student) -> Loaded:
    """Base model + LoRA per the recipe (import order matters: Unsloth patches transformers on import)."""
    from studio.llm.bundled import resolve_model

    backend = choose_backend(student)
    path = resolve_model(student.model)
    targets = student.lora.target_modules
    if backend == "unsloth":
        import torch
        import unsloth  # noqa: F401  (must come before transformers and peft)
        from unsloth import FastLanguageModel

        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = compute_dtype(student, device)
        model, tokenizer = FastLanguageModel.from_pretrained(
            path, max_seq_length=student.max_seq_length, dtype=dtype, load_in_4bit=student.load_in_4bit,
            trust_remote_code=False,
        )
        model = FastLanguageModel.get_peft_model(
            model, r=student.lora.r, lora_alpha=student.lora.alpha, lora_dropout=student.lora.dropout,
            target_modules=LLAMA_LINEAR if targets == "all-linear" else targets, bias="none",
            use_gradient_checkpointing=False, random_state=student.seed,
        )
        return Loaded(model, tokenizer, "unsloth", device, dtype)

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(student.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = compute_dtype(student, device)
    if student.load_in_4bit and device != "cuda":
        raise ValueError("student.load_in_4bit needs a CUDA GPU")
    # On CPU the weights stay float32 and bfloat16 comes from autocast (mixed precision).
    weights = dtype if device == "cuda" else torch.float32
    base = AutoModelForCausalLM.from_pretrained(path, dtype=weights, attn_implementation="sdpa",
                                                trust_remote_code=False).to(device)
    config = LoraConfig(r=student.lora.r, lora_alpha=student.lora.alpha, lora_dropout=student.lora.dropout,
                        target_modules=targets, task_type="CAUSAL_LM")
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    return Loaded(get_peft_model(base, config), tokenizer, "peft", device, dtype)
