"""The student model with a fresh LoRA adapter: Unsloth on a CUDA GPU, transformers + PEFT elsewhere."""

from __future__ import annotations

from dataclasses import dataclass

from studio.recipe import Student

LLAMA_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class Loaded:
    model: object
    tokenizer: object
    backend: str  # "unsloth" or "peft"
    device: str
    dtype: object


def choose_backend(student: Student) -> str:
    import torch

    if student.backend != "auto":
        return student.backend
    return "unsloth" if torch.cuda.is_available() else "peft"


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

        model, tokenizer = FastLanguageModel.from_pretrained(
            path, max_seq_length=student.max_seq_length, dtype=torch.bfloat16, load_in_4bit=student.load_in_4bit,
        )
        model = FastLanguageModel.get_peft_model(
            model, r=student.lora.r, lora_alpha=student.lora.alpha, lora_dropout=student.lora.dropout,
            target_modules=LLAMA_LINEAR if targets == "all-linear" else targets, bias="none",
            use_gradient_checkpointing=False, random_state=student.seed,
        )
        return Loaded(model, tokenizer, "unsloth", "cuda", torch.bfloat16)

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(student.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if student.load_in_4bit and device != "cuda":
        raise ValueError("student.load_in_4bit needs a CUDA GPU")
    base = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="sdpa").to(device)
    config = LoraConfig(r=student.lora.r, lora_alpha=student.lora.alpha, lora_dropout=student.lora.dropout,
                        target_modules=targets, task_type="CAUSAL_LM")
    return Loaded(get_peft_model(base, config), AutoTokenizer.from_pretrained(path), "peft", device, dtype)
